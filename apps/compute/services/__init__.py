"""Writes of the compute app, one module per concern; import from the module, e.g.
`from apps.compute.services.ingest import samples_ingest`."""
