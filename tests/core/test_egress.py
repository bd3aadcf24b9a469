"""The egress gate against real loopback listeners: refused destinations never see a connection."""

import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest
import requests

from apps.core.egress import (
    EgressPolicy,
    EgressRefused,
    ResponseTooLarge,
    address_refusal,
    egress_policy,
    egress_session,
    failure_text,
    url_refusal,
)
from tests.listeners import LoopbackListener, http_answer, ipv6_loopback_available, resolver_offline

CLOSED = EgressPolicy.build()  # the production default: nothing internal
LOOPBACK_ALLOWED = EgressPolicy.build(allow_networks=["127.0.0.1/32"])


@pytest.fixture(autouse=True)
def _no_dns_queries(monkeypatch):
    resolver_offline(monkeypatch)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback address"),
        ("127.8.9.10", "loopback address"),
        ("::1", "loopback address"),
        ("::ffff:127.0.0.1", "loopback address"),
        ("2002:7f00:1::", "loopback address"),  # 6to4 embedding 127.0.0.1
        ("64:ff9b::7f00:1", "loopback address"),  # NAT64 embedding 127.0.0.1
        ("10.1.2.3", "private address"),
        ("172.16.0.1", "private address"),
        ("192.168.1.1", "private address"),
        ("::ffff:10.0.0.1", "private address"),
        ("fc00::1", "private address"),
        ("fd12:3456::1", "private address"),
        ("169.254.169.254", "link-local address"),
        ("64:ff9b::a9fe:a9fe", "link-local address"),
        ("fe80::1", "link-local address"),
        ("100.64.0.1", "shared address (CGNAT)"),
        ("224.0.0.1", "multicast address"),
        ("ff02::1", "multicast address"),
        ("0.0.0.0", "unspecified address"),  # noqa: S104 - an address to refuse, not one to bind
        ("::", "unspecified address"),
        ("240.0.0.1", "reserved address"),
        ("255.255.255.255", "reserved address"),
        ("192.0.2.10", "reserved address"),
        ("198.18.0.1", "reserved address"),
        ("2001:db8::1", "reserved address"),
        ("2001::1", "reserved address"),  # Teredo
        ("::127.0.0.1", "reserved address"),  # IPv4-compatible
    ],
)
def test_internal_and_special_addresses_are_refused(address, reason):
    assert address_refusal(ipaddress.ip_address(address)) == reason
    assert CLOSED.refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::"])
def test_public_addresses_pass(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_operator_allow_lists():
    policy = EgressPolicy.build(allow_networks=["10.20.0.0/16"], allow_hosts=["prometheus.internal:9090", "db.local"])
    assert policy.refusal(ipaddress.ip_address("10.20.1.1")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:10.20.1.1")) is None
    assert policy.refusal(ipaddress.ip_address("10.21.1.1")) == "private address"
    assert policy.host_allowed("prometheus.internal", 9090) and policy.host_allowed("PROMETHEUS.internal.", 9090)
    assert not policy.host_allowed("prometheus.internal", 6379)
    assert policy.host_allowed("db.local", 5432)


def test_operator_settings_make_the_policy(settings):
    settings.EGRESS_ALLOW_NETWORKS = []
    settings.EGRESS_ALLOW_HOSTS = []
    assert egress_policy().refusal(ipaddress.ip_address("127.0.0.1")) == "loopback address"
    settings.EGRESS_ALLOW_NETWORKS = ["127.0.0.1/32"]
    assert egress_policy().refusal(ipaddress.ip_address("127.0.0.1")) is None


def _refused(session, url, **kwargs) -> str:
    with pytest.raises(EgressRefused) as info:
        session.get(url, timeout=2, **kwargs)
    return failure_text(info.value)


def test_internal_destinations_never_reach_the_listener(monkeypatch):
    # A public-looking name whose DNS answer is loopback.
    resolver_offline(monkeypatch, {"metrics.customer.example": "127.0.0.1"})
    session = egress_session(CLOSED)
    with LoopbackListener() as listener:
        port = listener.port
        urls = [
            f"http://127.0.0.1:{port}/",
            f"https://127.0.0.1:{port}/",
            f"http://localhost:{port}/",
            f"http://localhost.:{port}/",
            f"http://prometheus.localhost:{port}/",
            f"http://127.1:{port}/",
            f"http://2130706433:{port}/",  # 127.0.0.1 as one number
            f"http://[::ffff:127.0.0.1]:{port}/",
            f"http://metrics.customer.example:{port}/",
        ]
        for url in urls:
            assert _refused(session, url) == "refused by egress policy: loopback address", url
        assert listener.connections == 0
    if ipv6_loopback_available():
        with LoopbackListener("::1") as listener6:
            assert _refused(session, listener6.url + "/") == "refused by egress policy: loopback address"
            assert listener6.connections == 0
    # Addresses that are not loopback: refused before any packet is sent (no traffic leaves the machine).
    for url in ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.5:6379/", "https://192.168.1.1:5432/"]:
        assert _refused(session, url).startswith("refused by egress policy: ")


def test_the_checked_address_is_the_one_connected(monkeypatch):
    """A name that answers an allowed address, then (rebinding) another one: only the first is ever used."""
    real_getaddrinfo = socket.getaddrinfo
    lookups = []

    def rebinding(host, *args, **kwargs):
        if host == "rebind.example":
            lookups.append(host)
            host = "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with LoopbackListener("127.0.0.1") as allowed, LoopbackListener("127.0.0.2") as other:
        other_port_url = f"http://rebind.example:{allowed.port}/"
        response = egress_session(LOOPBACK_ALLOWED).get(other_port_url, timeout=2)
        assert response.status_code == 200 and response.content == b"ok"
        assert allowed.connections == 1 and other.connections == 0
        assert b"Host: rebind.example:" in allowed.requests[0]  # the name, not the address, goes in Host
        assert len(lookups) == 1
        # The next connection looks up again, gets 127.0.0.2, which the policy refuses: nothing reaches it.
        with pytest.raises(EgressRefused):
            egress_session(LOOPBACK_ALLOWED).get(f"http://rebind.example:{other.port}/", timeout=2)
        assert other.connections == 0


def test_redirects_are_not_followed():
    with LoopbackListener() as target:
        answer = http_answer(302, b"", {"Location": f"{target.url}/secret"})
        with LoopbackListener(answer=answer) as redirecting:
            response = egress_session(LOOPBACK_ALLOWED).get(redirecting.url + "/", timeout=2)
            assert response.status_code == 302
            response = egress_session(LOOPBACK_ALLOWED).post(redirecting.url + "/", data=b"x", allow_redirects=True)
            assert response.status_code == 302
        assert target.connections == 0


@pytest.mark.parametrize("with_length", [True, False])
def test_oversize_answers_are_cut(with_length):
    policy = EgressPolicy.build(allow_networks=["127.0.0.1/32"], max_response_bytes=100_000)
    answer = http_answer(200, b"x" * 300_000, length=with_length)
    with LoopbackListener(answer=answer) as listener, pytest.raises(ResponseTooLarge) as info:
        egress_session(policy).get(listener.url + "/", timeout=5)
    assert failure_text(info.value) == "response too large (over 100000 bytes)"
    with LoopbackListener(answer=http_answer(200, b"x" * 99_000)) as listener:
        assert len(egress_session(policy).get(listener.url + "/", timeout=5).content) == 99_000


@pytest.mark.parametrize("trickle_head", [False, True])
def test_a_trickling_answer_is_cut_at_the_deadline(trickle_head):
    """Each byte comes well within the read timeout; the whole request still ends at connect + read timeout."""
    policy = EgressPolicy.build(allow_networks=["127.0.0.1/32"], connect_timeout=1, read_timeout=1)
    answer = http_answer(200, b"y" * 100, {"X-Padding": "p" * 100})
    with LoopbackListener(answer=answer, trickle=0.05, trickle_head=trickle_head) as listener:
        started = time.monotonic()
        with pytest.raises(requests.exceptions.Timeout) as info:
            egress_session(policy).get(listener.url + "/", timeout=(1, 1))
        assert time.monotonic() - started < 4  # the whole answer would take over 5 s
    assert failure_text(info.value) == "timed out"


def test_a_session_makes_one_connection_per_request_and_reuses_nothing():
    with LoopbackListener(answer=http_answer(200, b"ok", {"Connection": "keep-alive"})) as listener:
        session = egress_session(LOOPBACK_ALLOWED)
        assert [session.get(listener.url + "/").content for _ in range(3)] == [b"ok"] * 3
        assert listener.connections == 3


def test_a_host_header_and_proxies_are_refused():
    with LoopbackListener() as listener:
        session = egress_session(LOOPBACK_ALLOWED)
        assert _refused(session, listener.url + "/", headers={"Host": "metadata.google.internal"}).endswith(
            "a Host header"
        )
        with pytest.raises(EgressRefused):
            session.get(listener.url + "/", proxies={"http": f"{listener.url}"}, timeout=2)
        assert listener.connections == 0


def test_failures_are_classified_without_the_answer():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(requests.RequestException) as info:
        egress_session(LOOPBACK_ALLOWED).get(f"http://127.0.0.1:{closed_port}/", timeout=2)
    assert failure_text(info.value) == "connection refused"

    # A plain-http service answering a TLS client: "TLS error", not what the service said.
    answer = http_answer(400, b"SECRET internal banner")
    with LoopbackListener(answer=answer) as listener, pytest.raises(requests.RequestException) as info:
        egress_session(LOOPBACK_ALLOWED).get(f"https://127.0.0.1:{listener.port}/", timeout=2)
    assert failure_text(info.value) == "TLS error"
    assert "SECRET" not in failure_text(info.value)


@pytest.fixture
def self_signed_tls(tmp_path):
    """An HTTPS server on loopback with a self-signed certificate (made with the openssl program)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl program")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))
    handshakes = []

    def serve():
        while True:
            try:
                raw, _ = server.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    tls.recv(65536)
                    handshakes.append(True)
                    tls.sendall(http_answer(200, b"tls ok"))
            except (OSError, ssl.SSLError):
                pass

    threading.Thread(target=serve, daemon=True).start()
    yield {"url": f"https://127.0.0.1:{server.getsockname()[1]}/", "cert": str(cert), "handshakes": handshakes}
    server.close()


def test_tls_is_always_verified(self_signed_tls):
    session = egress_session(LOOPBACK_ALLOWED)
    for verify in (True, False):
        with pytest.raises(requests.exceptions.SSLError) as info:
            session.get(self_signed_tls["url"], timeout=2, verify=verify)
        assert failure_text(info.value) == "TLS error"
    assert self_signed_tls["handshakes"] == []
    # The operator's CA bundle (EGRESS_CA_BUNDLE) is how an internal certificate is trusted.
    trusted = EgressPolicy.build(allow_networks=["127.0.0.1/32"], ca_bundle=self_signed_tls["cert"])
    assert egress_session(trusted).get(self_signed_tls["url"], timeout=2).content == b"tls ok"


def test_urls_are_checked_when_configured():
    assert url_refusal("http://127.0.0.1:9090", CLOSED) == "Refused by egress policy: loopback address."
    assert url_refusal("https://[::1]/", CLOSED) == "Refused by egress policy: loopback address."
    assert url_refusal("https://localhost:6379/", CLOSED) == "Refused by egress policy: loopback address."
    assert url_refusal("https://169.254.169.254/", CLOSED) == "Refused by egress policy: link-local address."
    assert url_refusal("https://10.0.0.1:5432/", CLOSED) == "Refused by egress policy: private address."
    assert url_refusal("https://user:pw@hooks.example.invalid/", CLOSED) == "Credentials do not belong in the URL."
    assert url_refusal("ftp://files.example.invalid/", CLOSED) == "Give an absolute http(s) URL."
    assert url_refusal("https://hooks.example.invalid/x", CLOSED) is None  # not resolvable now: checked at connect
    assert url_refusal("http://127.0.0.1:9090", LOOPBACK_ALLOWED) is None


@pytest.mark.parametrize("with_length", [True, False])
def test_an_answer_of_exactly_the_limit_is_read_and_one_byte_more_is_cut_keeping_its_status(with_length):
    policy = EgressPolicy.build(allow_networks=["127.0.0.1/32"], max_response_bytes=1000)
    with LoopbackListener(answer=http_answer(201, b"x" * 1000, length=with_length)) as listener:
        assert egress_session(policy).get(listener.url + "/", timeout=5).content == b"x" * 1000
    answer = http_answer(201, b"x" * 1001, length=with_length)
    with LoopbackListener(answer=answer) as listener, pytest.raises(ResponseTooLarge) as info:
        egress_session(policy).get(listener.url + "/", timeout=5)
    assert info.value.response.status_code == 201  # a webhook delivery still reads the receiver's status


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read():
    policy = EgressPolicy.build(allow_networks=["127.0.0.1/32"], max_response_bytes=1000)
    # The head promises 5000 bytes; only 10 come: the gate refuses on the promise, not on a broken read.
    answer = http_answer(200, b"x" * 10, {"Content-Length": "5000"}, length=False)
    with LoopbackListener(answer=answer) as listener, pytest.raises(ResponseTooLarge) as info:
        egress_session(policy).get(listener.url + "/", timeout=5)
    assert failure_text(info.value) == "response too large (over 1000 bytes)"


def test_a_compressed_answer_is_read_decoded_and_its_limit_counts_the_decoded_bytes():
    import gzip

    policy = EgressPolicy.build(allow_networks=["127.0.0.1/32"], max_response_bytes=1000)
    small = http_answer(200, gzip.compress(b"y" * 900), {"Content-Encoding": "gzip"})
    with LoopbackListener(answer=small) as listener:
        assert egress_session(policy).get(listener.url + "/", timeout=5).content == b"y" * 900
    bomb = http_answer(200, gzip.compress(b"y" * 100_000), {"Content-Encoding": "gzip"})
    with LoopbackListener(answer=bomb) as listener, pytest.raises(ResponseTooLarge):
        egress_session(policy).get(listener.url + "/", timeout=5)
