"""Monitoring's stored figures (rollups, factor sets, ...). Tenant-owned rows reach their
enterprise through a declared path and use `portal.scoping.TenantScopedManager`."""
