"""Monitoring: what turns stored readings into the figures the programs judge.

A Django app of its own (label `monitoring`, inside `metering/`), so its tables and migrations
stand apart from the registry's. It reads readings only through the storage selectors and reacts
to ingest's commit through a signal; ingest knows nothing of it.
"""
