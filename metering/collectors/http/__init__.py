"""HTTP push ingest: the `POST /api/v1/readings/` view and gateway-token authentication."""
