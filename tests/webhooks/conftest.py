import pytest

from tests.listeners import resolver_offline


@pytest.fixture(autouse=True)
def _no_dns_queries(monkeypatch):
    """Receiver names are resolved by the egress gate; here without asking a DNS server."""
    resolver_offline(monkeypatch)
