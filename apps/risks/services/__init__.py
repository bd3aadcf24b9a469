"""Writes of the risks app, one module per entity; import from the module, e.g.
`from apps.risks.services.risks import risk_accept`."""
