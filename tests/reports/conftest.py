from tests.dashboard.conftest import browser_for, funder, make_grant, make_investment  # noqa: F401 - shared fixtures
