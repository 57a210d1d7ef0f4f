"""Reports and exports: the report tables of the Shanghai checklist (附表1 item 4, 附表2 item 4)
and the export of any query as CSV or Excel, long ones as background jobs with a progress bar.

A Django app of its own (label `reports`, inside `metering/`). It reads figures only through the
indicators service (metering.monitoring.indicators) and readings and rollups only through their
selectors; it never writes a reading.
"""
