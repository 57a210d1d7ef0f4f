"""Registry pages under /metering/, one module per registry; the shared helpers are in `meters`."""
