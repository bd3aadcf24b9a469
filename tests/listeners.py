"""A raw TCP listener on a loopback address that counts every connection it accepts, for egress tests.

It answers each connection with bytes of the test's choosing (an HTTP answer, a slow trickle), so a test can
assert both what the client saw and that a refused request never reached the listener at all.
"""

import ipaddress
import socket
import socketserver
import threading
import time


def http_answer(status: int = 200, body: bytes = b"ok", headers: dict | None = None, length: bool = True) -> bytes:
    lines = [f"HTTP/1.1 {status} X", "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class LoopbackListener:
    def __init__(
        self, host: str = "127.0.0.1", answer: bytes | None = None, trickle: float = 0.0, trickle_head: bool = False
    ):
        self.host = host
        self.answer = answer if answer is not None else http_answer()
        self.trickle = trickle  # seconds between bytes of the answer's body (0: all at once)
        self.trickle_head = trickle_head  # the head too
        self.connections = 0
        self.requests: list[bytes] = []
        listener = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                listener.connections += 1
                self.request.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data and not data.startswith(b"\x16"):  # 0x16: a TLS hello
                        chunk = self.request.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    head, _, rest = data.partition(b"\r\n\r\n")
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            wanted = int(line.split(b":", 1)[1])
                            while len(rest) < wanted and (chunk := self.request.recv(65536)):
                                rest += chunk
                    listener.requests.append(head + b"\r\n\r\n" + rest)
                    if listener.trickle:  # the head at once (unless trickle_head), then the body byte by byte
                        head, _, body = listener.answer.partition(b"\r\n\r\n")
                        if listener.trickle_head:
                            body = listener.answer
                        else:
                            self.request.sendall(head + b"\r\n\r\n")
                        for byte in body:
                            self.request.sendall(bytes([byte]))
                            time.sleep(listener.trickle)
                    else:
                        self.request.sendall(listener.answer)
                except OSError:
                    pass

        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(socketserver.ThreadingTCPServer):
            address_family = family
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def resolver_offline(monkeypatch, answers: dict[str, str] | None = None) -> None:
    """Names resolve without a DNS server: IP literals as themselves, `answers` as given, "localhost" from the hosts
    file; any other name is unknown. Tests of the egress gate so never send a query off the machine."""
    real = socket.getaddrinfo
    answers = dict(answers or {})

    def offline(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in answers:
            return real(answers[name], *args, **kwargs)
        if not _is_literal(name) and name.lower().rstrip(".") != "localhost":
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: not resolved in tests")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", offline)


def _is_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%")[0])
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(name)  # also the short forms the C library reads as IPv4 ("127.1", "2130706433")
        return True
    except OSError:
        return False
