"""Collectors: Modbus polling, the MQTT consumer and HTTP push, each handing readings to ingest.

A collector depends on `metering.ingest` (its services and spool) and reads its device
definitions from the models; it never writes readings itself (contracts in pyproject.toml).
"""
