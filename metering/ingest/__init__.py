"""Ingest: the one way readings enter the system, whichever collector read them.

`services` validates and stores batches (`readings_ingest`, `readings_ingest_resolved`) and keeps
what cannot become readings (`quarantine_message`); `writers` holds the COPY / SQLite writes,
`quarantine` the quarantine rows, `codes` the meter-code cache, `spool` the durable buffer
collectors keep while the database is down, `selectors` the reads of the quarantine.
Collectors import the services and the spool, never the writers (see pyproject.toml).
"""
