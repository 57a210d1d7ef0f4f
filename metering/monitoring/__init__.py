"""Monitoring (not built yet): rollups, factor sets, indicators, alarms, boards and reports will
land here, reading readings through the storage selectors and reacting to ingest's commit."""
