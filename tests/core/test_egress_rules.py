"""The egress gate's rules that need no listener: allow-list entries, timeouts, origins and what a user reads."""

import ipaddress
import socket
import ssl

import pytest
import requests
from urllib3.exceptions import NameResolutionError

from apps.core.egress import (
    EgressPolicy,
    EgressRefused,
    ResponseTooLarge,
    egress_session,
    failure_text,
    http_status_text,
    url_origin,
    url_refusal,
)
from tests.listeners import resolver_offline

CLOSED = EgressPolicy.build()


@pytest.fixture(autouse=True)
def _no_dns_queries(monkeypatch):
    resolver_offline(monkeypatch, {"metrics.example.com": "93.184.216.34", "prometheus.internal": "10.20.0.7"})


def test_an_operator_allows_a_host_by_name_or_name_and_port_and_an_ipv6_host_in_brackets():
    policy = EgressPolicy.build(
        allow_hosts=[" Prometheus.Internal.:9090 ", "db.local.", "[fd00::5]:8443", "[fd00::6]", "[fd00::7]:8", "  "],
        allow_networks=[" 10.30.0.0/16 "],
    )
    assert policy.allow_hosts == frozenset(
        {("prometheus.internal", 9090), ("db.local", None), ("fd00::5", 8443), ("fd00::6", None), ("fd00::7", 8)}
    )
    assert EgressPolicy.build(allow_hosts=["[fd00::8]:"]).allow_hosts == frozenset({("fd00::8", None)})
    assert policy.allow_networks == (ipaddress.ip_network("10.30.0.0/16"),)
    assert policy.host_allowed("[FD00::5]", 8443) and not policy.host_allowed("fd00::5", 443)
    assert policy.host_allowed("fd00::6", 1) and policy.host_allowed("db.local.", 1)
    assert EgressPolicy.build(allow_networks=["10.30.1.1/16"]).allow_networks == (ipaddress.ip_network("10.30.0.0/16"),)


def test_an_allowed_host_is_reached_whatever_it_resolves_to_and_others_are_checked():
    policy = EgressPolicy.build(allow_hosts=["prometheus.internal:9090"])
    assert policy.checked_addresses("prometheus.internal", 9090) == ["10.20.0.7"]
    with pytest.raises(Exception) as refused:
        policy.checked_addresses("prometheus.internal", 9091)
    assert refused.value.reason == "private address"
    assert CLOSED.checked_addresses("metrics.example.com", 443) == ["93.184.216.34"]
    assert url_refusal("https://prometheus.internal:9090/api", policy) is None
    assert url_refusal("https://prometheus.internal/api", policy) == "Refused by egress policy: private address."
    # "localhost" names are loopback and ".invalid" names never resolve, whatever a resolver would say.
    for name in ("localhost", "LOCALHOST.", "grafana.localhost"):
        with pytest.raises(Exception) as loopback:
            CLOSED.checked_addresses(name, 80)
        assert loopback.value.reason == "loopback address"
    for name in ("invalid", "hooks.example.invalid", "hooks.example.INVALID."):
        with pytest.raises(socket.gaierror):
            CLOSED.checked_addresses(name, 80)
    assert EgressPolicy.build(allow_hosts=["localhost"]).checked_addresses("localhost", 80)[0] in ("127.0.0.1", "::1")


def test_a_callers_timeout_is_bounded_by_the_policy():
    policy = EgressPolicy.build(connect_timeout=5, read_timeout=10, max_timeout=60)
    assert policy.timeouts(None) == (5.0, 10.0)
    assert policy.timeouts(2) == (2.0, 2.0)
    assert policy.timeouts(300) == (5.0, 60.0)
    assert policy.timeouts((1, 30)) == (1.0, 30.0)
    assert policy.timeouts((None, None)) == (5.0, 10.0)
    assert policy.timeouts((9, 90)) == (5.0, 60.0)


def test_a_caller_may_lower_the_answer_limit_but_never_raise_it():
    policy = EgressPolicy.build(max_response_bytes=1000)
    assert egress_session(policy, max_response_bytes=10).adapters["https://"].policy.max_response_bytes == 10
    assert egress_session(policy, max_response_bytes=10**9).adapters["http://"].policy.max_response_bytes == 1000
    assert egress_session(policy).adapters["https://"].policy is policy
    session = egress_session(policy)
    assert session.trust_env is False and set(session.adapters) == {"https://", "http://"}


def test_a_url_names_its_origin_with_the_default_port():
    assert url_origin("https://Hooks.Example.com./x") == ("https", "hooks.example.com", 443)
    assert url_origin("HTTP://hooks.example.com/x") == ("http", "hooks.example.com", 80)
    assert url_origin("https://hooks.example.com:8443/") == ("https", "hooks.example.com", 8443)
    assert url_origin("ftp://files.example.com/") == ("ftp", "files.example.com", None)
    assert url_origin("https://hooks.example.com:99999/") == ("", "https://hooks.example.com:99999/", None)
    assert url_origin("") == ("", "", None)


def test_a_url_a_tenant_gives_is_absolute_http_without_credentials():
    for url in ("", "hooks.example.com/x", "https:///x", "https://hooks.example.com:99999/", "file:///etc/passwd"):
        assert url_refusal(url, CLOSED) == "Give an absolute http(s) URL.", url
    assert url_refusal("https://user@hooks.example.com/", CLOSED) == "Credentials do not belong in the URL."
    assert url_refusal("https://:pw@hooks.example.com/", CLOSED) == "Credentials do not belong in the URL."
    assert url_refusal("http://metrics.example.com/", CLOSED) is None
    assert url_refusal("http://10.0.0.1:8080/", CLOSED) == "Refused by egress policy: private address."
    assert url_refusal("http://10.0.0.1/", EgressPolicy.build(allow_networks=["10.0.0.0/8"])) is None


def _wrapped(inner: BaseException) -> requests.exceptions.ConnectionError:
    outer = requests.exceptions.ConnectionError("wrapper")
    outer.__cause__ = inner
    return outer


def test_a_failure_is_told_as_a_short_phrase_never_the_remote_words():
    refused = EgressRefused("a proxy")
    assert failure_text(refused) == "refused by egress policy: a proxy"
    assert str(refused) == "a proxy" and str(ResponseTooLarge("over 10 bytes")) == "over 10 bytes"  # as logged
    assert failure_text(_wrapped(refused)) == "refused by egress policy: a proxy"
    assert failure_text(ResponseTooLarge("over 10 bytes")) == "response too large (over 10 bytes)"
    assert failure_text(_wrapped(ssl.SSLError("SECRET banner"))) == "TLS error"
    assert failure_text(_wrapped(ConnectionRefusedError())) == "connection refused"
    assert failure_text(TimeoutError()) == "timed out"
    assert failure_text(requests.exceptions.ReadTimeout("slow")) == "timed out"
    assert failure_text(_wrapped(socket.gaierror(-2, "unknown"))) == "name not resolved"
    assert failure_text(NameResolutionError("h", None, socket.gaierror())) == "name not resolved"
    assert failure_text(_wrapped(ConnectionResetError())) == "connection reset"
    assert failure_text(_wrapped(BrokenPipeError())) == "connection reset"
    assert failure_text(requests.exceptions.ConnectionError("SECRET")) == "connection failed"
    assert failure_text(OSError("SECRET")) == "connection failed"
    assert failure_text(ValueError("SECRET")) == "request failed"
    status = ValueError("SECRET")
    status.status_code = 503
    assert failure_text(status) == "HTTP 503"
    # Found through an argument, the context or a reason, not only the cause; a loop in the chain ends.
    assert failure_text(requests.exceptions.ConnectionError(ConnectionRefusedError())) == "connection refused"
    context = ValueError("outer")
    context.__context__ = ConnectionResetError()
    assert failure_text(context) == "connection reset"
    looped = ValueError("a")
    looped.__cause__ = ValueError("b")
    looped.__cause__.__cause__ = looped
    assert failure_text(looped) == "request failed"


def test_the_cause_found_first_wins_in_order_policy_size_tls_refused_timeout_name_reset():
    both = _wrapped(ConnectionRefusedError())
    both.__context__ = EgressRefused("loopback address")
    assert failure_text(both) == "refused by egress policy: loopback address"
    tls_and_timeout = _wrapped(ssl.SSLError())
    tls_and_timeout.__context__ = TimeoutError()
    assert failure_text(tls_and_timeout) == "TLS error"
    timeout_and_name = _wrapped(TimeoutError())
    timeout_and_name.__context__ = socket.gaierror()
    assert failure_text(timeout_and_name) == "timed out"
    name_and_reset = _wrapped(socket.gaierror())
    name_and_reset.__context__ = ConnectionResetError()
    assert failure_text(name_and_reset) == "name not resolved"


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (299, "HTTP 299"),
        (300, "HTTP 300 (redirects are not followed)"),
        (302, "HTTP 302 (redirects are not followed)"),
        (399, "HTTP 399 (redirects are not followed)"),
        (400, "HTTP 400"),
        (503, "HTTP 503"),
    ],
)
def test_a_status_is_told_with_a_note_for_redirects(status, text):
    assert http_status_text(status) == text


def test_the_transport_never_builds_a_proxy_and_the_deadline_cut_of_a_closed_socket_is_silent():
    from apps.core.egress import _cut

    adapter = egress_session(CLOSED).adapters["https://"]
    with pytest.raises(EgressRefused) as refused:
        adapter.proxy_manager_for("http://proxy.example.com:3128")
    assert refused.value.reason == "a proxy"
    closed = socket.socket()
    closed.close()
    _cut(closed)  # the timer may fire after the connection ended: nothing to shut, nothing raised


def test_the_operators_settings_make_every_part_of_the_policy(settings, tmp_path):
    from apps.core.egress import egress_policy

    bundle = tmp_path / "internal-ca.pem"
    settings.EGRESS_ALLOW_NETWORKS = ["10.20.0.0/16"]
    settings.EGRESS_ALLOW_HOSTS = ["prometheus.internal:9090"]
    settings.EGRESS_CONNECT_TIMEOUT_SECONDS = 2.5
    settings.EGRESS_MAX_TIMEOUT_SECONDS = 30.0
    settings.EGRESS_MAX_RESPONSE_BYTES = 4096
    settings.EGRESS_CA_BUNDLE = str(bundle)
    assert egress_policy() == EgressPolicy(
        allow_networks=(ipaddress.ip_network("10.20.0.0/16"),),
        allow_hosts=frozenset({("prometheus.internal", 9090)}),
        connect_timeout=2.5,
        max_timeout=30.0,
        max_response_bytes=4096,
        ca_bundle=str(bundle),
    )


def test_a_url_without_a_port_is_checked_on_its_schemes_default_port():
    https_only = EgressPolicy.build(allow_hosts=["prometheus.internal:443"])
    assert url_refusal("https://prometheus.internal/api", https_only) is None
    assert url_refusal("http://prometheus.internal/api", https_only) == "Refused by egress policy: private address."
    http_only = EgressPolicy.build(allow_hosts=["prometheus.internal:80"])
    assert url_refusal("http://prometheus.internal/api", http_only) is None
    assert url_refusal("https://prometheus.internal/api", http_only) == "Refused by egress policy: private address."


def test_a_cause_deeper_than_twenty_links_is_not_looked_for():
    def chain(depth: int) -> BaseException:
        inner: BaseException = ConnectionRefusedError()
        for _ in range(depth):
            outer = ValueError("link")
            outer.__cause__ = inner
            inner = outer
        return inner

    assert failure_text(chain(19)) == "connection refused"  # the twentieth exception read
    assert failure_text(chain(20)) == "request failed"


def test_a_cause_carried_as_a_reason_and_a_tls_error_of_requests_are_classified():
    from urllib3.exceptions import MaxRetryError

    assert failure_text(MaxRetryError(None, "/", reason=ConnectionRefusedError())) == "connection refused"
    assert failure_text(requests.exceptions.SSLError("certificate verify failed")) == "TLS error"
