"""Funding services: every write to funders, grants, investments, milestones, disbursements and KPI readings."""
