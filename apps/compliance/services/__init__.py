"""Writes of the compliance app, one module per entity; import from the module, e.g.
`from apps.compliance.services.findings import finding_resolve`."""
