"""The egress gate: every outbound HTTP request govtrack makes on a tenant's behalf goes through `egress_session()`.

A tenant chooses the URL (a webhook receiver, a Prometheus server), so the gate decides where the request may go:

- the host name is resolved and every address it resolves to is checked: loopback, private, link-local, shared
  (CGNAT), multicast, reserved and unspecified addresses are refused, also when an IPv6 address embeds one of them
  (IPv4-mapped, 6to4, NAT64);
- the connection is made to the very address that was checked (a second lookup could answer differently), while
  TLS still checks the certificate against the name and sends it as SNI and Host;
- redirects are never followed, proxies from the environment are not used, a Host header is refused;
- TLS verification is always on; connect and read time are bounded, the body is read in chunks and cut at a size;
- `failure_text()` turns any failure into a short classified phrase for users ("connection refused", "HTTP 503"),
  never a piece of the answer.

Operators (never tenants) may let the gate reach internal hosts: settings EGRESS_ALLOW_NETWORKS (CIDRs) and
EGRESS_ALLOW_HOSTS (names, optionally name:port). See docs/security.md, "Egress".
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as urllib3_exceptions
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError, ReadTimeoutError
from urllib3.poolmanager import PoolManager
from urllib3.util import connection as urllib3_connection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Special-purpose ranges (IANA IPv4/IPv6 special-purpose address registries), most specific first.
_REFUSED_V4: list[tuple[str, str]] = [
    ("0.0.0.0/8", "unspecified address"),
    ("127.0.0.0/8", "loopback address"),
    ("10.0.0.0/8", "private address"),
    ("172.16.0.0/12", "private address"),
    ("192.168.0.0/16", "private address"),
    ("100.64.0.0/10", "shared address (CGNAT)"),
    ("169.254.0.0/16", "link-local address"),
    ("192.0.0.0/24", "reserved address"),
    ("192.0.2.0/24", "reserved address"),
    ("192.88.99.0/24", "reserved address"),
    ("198.18.0.0/15", "reserved address"),
    ("198.51.100.0/24", "reserved address"),
    ("203.0.113.0/24", "reserved address"),
    ("224.0.0.0/4", "multicast address"),
    ("240.0.0.0/4", "reserved address"),
]
_REFUSED_V6: list[tuple[str, str]] = [
    ("::/128", "unspecified address"),
    ("::1/128", "loopback address"),
    ("::/96", "reserved address"),  # IPv4-compatible, deprecated
    ("64:ff9b:1::/48", "reserved address"),  # local-use NAT64
    ("100::/64", "reserved address"),  # discard-only
    ("2001::/23", "reserved address"),  # IETF protocol assignments, Teredo among them
    ("2001:db8::/32", "reserved address"),
    ("3fff::/20", "reserved address"),
    ("5f00::/16", "reserved address"),
    ("fc00::/7", "private address"),
    ("fec0::/10", "private address"),  # site-local, deprecated
    ("fe80::/10", "link-local address"),
    ("ff00::/8", "multicast address"),
]
_V4_TABLE = [(ipaddress.ip_network(net), reason) for net, reason in _REFUSED_V4]
_V6_TABLE = [(ipaddress.ip_network(net), reason) for net, reason in _REFUSED_V6]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_MAX_TIMEOUT = 60.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_CHUNK = 64 * 1024


class EgressError(requests.exceptions.RequestException):
    """A request the gate stopped. `reason` is safe to show to the tenant."""

    def __init__(self, reason: str, **kwargs):
        super().__init__(reason, **kwargs)
        self.reason = reason


class EgressRefused(EgressError):
    """The destination is not allowed by the egress policy; nothing was sent."""


class ResponseTooLarge(EgressError):
    """The answer was longer than the gate reads; what was read is dropped."""


class _Refusal(Exception):
    # Raised inside urllib3, which wraps OSError subclasses; requests.RequestException is one, this is not.
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why a tenant's request may not go to `address` ("loopback address" ...), or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_v4(address)
        if embedded is not None:
            return address_refusal(embedded)
        table = _V6_TABLE
    else:
        table = _V4_TABLE
    for network, reason in table:
        if address in network:
            return reason
    if not address.is_global:
        return "reserved address"
    return None


def _parse_allowed_host(entry: str) -> tuple[str, int | None]:
    entry = entry.strip().lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:] else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host.rstrip("."), int(port)
    return entry.rstrip("."), None


@dataclass(frozen=True)
class EgressPolicy:
    """Where tenant requests may go and how long and how much they may take."""

    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: frozenset[tuple[str, int | None]] = field(default_factory=frozenset)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_timeout: float = DEFAULT_MAX_TIMEOUT
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    ca_bundle: str = ""

    @classmethod
    def build(cls, *, allow_networks=(), allow_hosts=(), **limits) -> EgressPolicy:
        return cls(
            allow_networks=tuple(ipaddress.ip_network(str(n).strip(), strict=False) for n in allow_networks),
            allow_hosts=frozenset(_parse_allowed_host(h) for h in allow_hosts if str(h).strip()),
            **limits,
        )

    def host_allowed(self, host: str, port: int) -> bool:
        name = host.strip("[]").lower().rstrip(".")
        return (name, None) in self.allow_hosts or (name, port) in self.allow_hosts

    def refusal(self, address: IPAddress) -> str | None:
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and _embedded_v4(address) is not None:
            candidates.append(_embedded_v4(address))
        if any(a in network for a in candidates for network in self.allow_networks if a.version == network.version):
            return None
        return address_refusal(address)

    def checked_addresses(self, host: str, port: int) -> list[str]:
        """Resolves `host` and returns its addresses when every one of them is allowed; raises _Refusal otherwise."""
        name = host.strip("[]")
        special = name.lower().rstrip(".")
        if not self.host_allowed(name, port):
            # RFC 6761: "localhost" names are loopback and ".invalid" names never resolve; no resolver is asked.
            if special == "localhost" or special.endswith(".localhost"):
                raise _Refusal("loopback address")
            if special == "invalid" or special.endswith(".invalid"):
                raise socket.gaierror(socket.EAI_NONAME, "a .invalid name")
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        addresses = list(dict.fromkeys(info[4][0].split("%")[0] for info in infos))
        if not self.host_allowed(name, port):
            for text in addresses:
                reason = self.refusal(ipaddress.ip_address(text))
                if reason is not None:
                    raise _Refusal(reason)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "no address")
        return addresses

    def timeouts(self, timeout) -> tuple[float, float]:
        """The caller's timeout, bounded: (connect, read) seconds."""
        if isinstance(timeout, tuple):
            connect, read = timeout
        elif timeout is None:
            connect, read = self.connect_timeout, self.read_timeout
        else:
            connect = read = timeout
        connect = self.connect_timeout if connect is None else float(connect)
        read = self.read_timeout if read is None else float(read)
        return min(connect, self.connect_timeout), min(read, self.max_timeout)


def egress_policy() -> EgressPolicy:
    """The policy the operator set (govtrack/settings.py, from the environment)."""
    from django.conf import settings

    return EgressPolicy.build(
        allow_networks=settings.EGRESS_ALLOW_NETWORKS,
        allow_hosts=settings.EGRESS_ALLOW_HOSTS,
        connect_timeout=settings.EGRESS_CONNECT_TIMEOUT_SECONDS,
        max_timeout=settings.EGRESS_MAX_TIMEOUT_SECONDS,
        max_response_bytes=settings.EGRESS_MAX_RESPONSE_BYTES,
        ca_bundle=settings.EGRESS_CA_BUNDLE,
    )


# --- the pinned connection --------------------------------------------------------------------------------------


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


class _PinnedConnectionMixin:
    """Resolves, checks and connects to the checked address in one step (urllib3 would resolve again).

    A timer shuts the socket at the request's deadline: a server sending its head one byte at a time, each within
    the read timeout, cannot hold a worker longer than that.
    """

    egress_policy: EgressPolicy | None = None
    egress_deadline_seconds: float | None = None
    _egress_timer: threading.Timer | None = None

    def _new_conn(self) -> socket.socket:
        policy = self.egress_policy
        if policy is None:  # a connection made outside the gate's pools: refuse rather than guess
            raise _Refusal("no egress policy")
        try:
            addresses = policy.checked_addresses(self.host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        last: Exception | None = None
        for address in addresses:
            try:
                sock = urllib3_connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                last = ConnectTimeoutError(self, f"Connection to {self.host} timed out.")
                last.__cause__ = exc
                continue
            except OSError as exc:
                last = NewConnectionError(self, f"Failed to establish a new connection: {exc}")
                last.__cause__ = exc
                continue
            if self.egress_deadline_seconds:
                self._egress_timer = threading.Timer(self.egress_deadline_seconds, _cut, (sock,))
                self._egress_timer.daemon = True
                self._egress_timer.start()
            return sock
        raise last

    def close(self) -> None:
        if self._egress_timer is not None:
            self._egress_timer.cancel()
        super().close()


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedPoolMixin:
    egress_policy: EgressPolicy | None = None
    egress_deadline_seconds: float | None = None

    def _new_conn(self):
        conn = super()._new_conn()
        conn.egress_policy = self.egress_policy
        conn.egress_deadline_seconds = self.egress_deadline_seconds
        return conn


class _PinnedHTTPPool(_PinnedPoolMixin, HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(_PinnedPoolMixin, HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedPoolManager(PoolManager):
    def __init__(self, *args, egress_policy: EgressPolicy, **kwargs):
        super().__init__(*args, **kwargs)
        self.egress_policy = egress_policy
        self.egress_deadline_seconds: float | None = None  # set by the adapter for each request
        self.pool_classes_by_scheme = {"http": _PinnedHTTPPool, "https": _PinnedHTTPSPool}

    def _new_pool(self, scheme, host, port, request_context=None):
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.egress_policy = self.egress_policy
        pool.egress_deadline_seconds = self.egress_deadline_seconds
        return pool


class EgressAdapter(HTTPAdapter):
    """A requests transport that connects only where the policy allows and reads a bounded answer.

    Each request gets a connection of its own (closed afterwards), so its deadline timer covers exactly it.
    """

    def __init__(self, policy: EgressPolicy):
        self.policy = policy
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        self.poolmanager = _PinnedPoolManager(
            num_pools=connections, maxsize=maxsize, block=block, egress_policy=self.policy, **pool_kwargs
        )

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        raise EgressRefused("a proxy")

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        if any(name.lower() == "host" for name in request.headers):
            raise EgressRefused("a Host header", request=request)
        if proxies and any(proxies.values()):
            raise EgressRefused("a proxy", request=request)
        if urlsplit(request.url).scheme not in ("http", "https"):
            raise EgressRefused("not an http(s) URL", request=request)
        connect, read = self.policy.timeouts(timeout)
        deadline = time.monotonic() + connect + read
        self.poolmanager.clear()
        self.poolmanager.egress_deadline_seconds = connect + read
        response = None
        try:
            response = super().send(
                request,
                stream=True,
                timeout=(connect, read),
                verify=self.policy.ca_bundle or True,  # the caller's verify=False is not honoured
                cert=None,
                proxies={},
            )
            response._content = self._read_bounded(response, deadline)
            response._content_consumed = True
        except _Refusal as exc:
            raise EgressRefused(exc.reason, request=request) from None
        except requests.exceptions.ConnectionError as exc:
            if time.monotonic() >= deadline:  # the deadline timer shut the socket
                raise requests.exceptions.ReadTimeout("the answer took too long", request=request) from exc
            raise
        finally:
            if response is not None:
                response.close()
            self.poolmanager.clear()  # closes the connection and cancels its timer
        return response

    def _read_bounded(self, response, deadline: float) -> bytes:
        limit = self.policy.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ResponseTooLarge(f"over {limit} bytes", response=response)
        body = bytearray()
        try:
            while chunk := response.raw.read1(_CHUNK, decode_content=True):  # read1: whatever has arrived
                body += chunk
                if len(body) > limit:
                    raise ResponseTooLarge(f"over {limit} bytes", response=response)
                if time.monotonic() > deadline:
                    raise requests.exceptions.ReadTimeout("the answer took too long", response=response)
        except ReadTimeoutError as exc:
            raise requests.exceptions.ReadTimeout("the answer took too long", response=response) from exc
        except urllib3_exceptions.HTTPError as exc:
            if time.monotonic() >= deadline:
                raise requests.exceptions.ReadTimeout("the answer took too long", response=response) from exc
            raise requests.exceptions.ConnectionError(exc, response=response) from exc
        if time.monotonic() >= deadline:  # the deadline timer ended it: what arrived may be cut short
            raise requests.exceptions.ReadTimeout("the answer took too long", response=response)
        return bytes(body)


class EgressSession(requests.Session):
    """A requests session bound to a policy: no redirects, no environment proxies, no .netrc."""

    def __init__(self, policy: EgressPolicy):
        super().__init__()
        self.trust_env = False
        adapter = EgressAdapter(policy)
        self.adapters.clear()
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def send(self, request, **kwargs):
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)


def egress_session(policy: EgressPolicy | None = None, *, max_response_bytes: int | None = None) -> EgressSession:
    """A session for requests made on a tenant's behalf, under the operator's policy unless one is given.

    `max_response_bytes` lowers the policy's answer limit for callers that need little of the answer.
    """
    policy = policy or egress_policy()
    if max_response_bytes is not None:
        policy = dataclasses.replace(policy, max_response_bytes=min(max_response_bytes, policy.max_response_bytes))
    return EgressSession(policy)


# --- checks at configuration time ------------------------------------------------------------------------------


def url_refusal(url: str, policy: EgressPolicy | None = None) -> str | None:
    """Why a tenant may not use `url`, or None. A name that does not resolve now passes: connecting checks again."""
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError:
        return "Give an absolute http(s) URL."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Give an absolute http(s) URL."
    if parts.username is not None or parts.password is not None:
        return "Credentials do not belong in the URL."
    policy = policy or egress_policy()
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        policy.checked_addresses(parts.hostname, port)
    except _Refusal as exc:
        return f"Refused by egress policy: {exc.reason}."
    except (OSError, UnicodeError):
        return None
    return None


def url_origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the default port spelt out; the unit a stored secret is bound to."""
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError:
        return ("", url or "", None)
    scheme = parts.scheme.lower()
    return (scheme, (parts.hostname or "").rstrip("."), port or {"https": 443, "http": 80}.get(scheme))


# --- what a user is told ----------------------------------------------------------------------------------------


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 20:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
    return seen


def failure_text(exc: BaseException) -> str:
    """A short classified description of a failed outbound request, with nothing the remote side wrote."""
    chain = _chain(exc)

    def has(*types) -> BaseException | None:
        return next((e for e in chain if isinstance(e, types)), None)

    if found := has(EgressRefused):
        return f"refused by egress policy: {found.reason}"
    if found := has(ResponseTooLarge):
        return f"response too large ({found.reason})"
    if has(requests.exceptions.SSLError, ssl.SSLError):
        return "TLS error"
    if has(ConnectionRefusedError):
        return "connection refused"
    if has(requests.exceptions.Timeout, TimeoutError):  # urllib3's NewConnectionError is a ConnectTimeoutError
        return "timed out"
    if has(NameResolutionError, socket.gaierror):
        return "name not resolved"
    if has(ConnectionResetError, BrokenPipeError):
        return "connection reset"
    status = next((e.status_code for e in chain if isinstance(getattr(e, "status_code", None), int)), None)
    if status is not None:
        return http_status_text(status)
    if has(requests.exceptions.ConnectionError, OSError):
        return "connection failed"
    return "request failed"


def http_status_text(status: int) -> str:
    if 300 <= status < 400:
        return f"HTTP {status} (redirects are not followed)"
    return f"HTTP {status}"
