"""A durable local buffer for readings a collector has read but could not commit.

INTERFACE (fixed; other modules code against it):

    spool = Spool(name)          # one SQLite file per collector name under settings.SPOOL_DIR
    spool.put(kind, payload)     # kind: "items" (enterprise_id + raw items) or "resolved" (ResolvedReading rows);
                                 # payload is JSON-serializable; fsync'd before put() returns
    spool.drain() -> int         # replays spooled batches through metering.ingest in order, deleting each only
                                 # after its ingest committed; stops (keeping the rest) when the DB is still down;
                                 # returns the number of batches drained
    len(spool)                   # batches waiting
"""
