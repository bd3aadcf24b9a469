"""The Prometheus collector sends its queries through the session its caller gives (govtrack: the egress gate)."""

import requests

from compute_hooks import build_collector
from tests.compute_hooks.test_hooks_prometheus_errors import api  # noqa: F401 - the canned Prometheus API


class Recording(requests.Session):
    def __init__(self):
        super().__init__()
        self.sent = []

    def send(self, request, **kwargs):
        self.sent.append(request.url)
        return super().send(request, **kwargs)


def test_queries_go_through_the_session_the_caller_gives(api):  # noqa: F811
    session = Recording()
    collector = build_collector("prometheus", {"url": api.url, "mappings": "node_exporter"}, session=session)
    assert collector.client.query("scalar").series[0].points[0][1] == 42
    assert session.sent == [api.url + "/api/v1/query"]
