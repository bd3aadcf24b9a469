from tests.dashboard.conftest import browser_for  # noqa: F401 - the signed-in browser session fixture
