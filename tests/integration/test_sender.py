"""The sender against real servers on 127.0.0.1: pinned address, SNI, pooling, limits."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hookhaven.retry import FailureClass
from hookhaven.sender import RESPONSE_BODY_LIMIT, Sender
from tests.subscribers import Reply, Subscriber

HOST = "hooks.bookhaven.test"


def _certificate(tmp: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for HOST signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hookhaven test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


@pytest.fixture
def tls_server(tmp_path):
    ca, cert, key = _certificate(tmp_path)
    seen: dict[str, list[str]] = {"sni": [], "host": [], "connections": []}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            seen["connections"].append(str(self.client_address))

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            seen["host"].append(self.headers.get("host", ""))
            body = b"x" * (RESPONSE_BODY_LIMIT * 3)
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember_sni(sock, name, ctx):
        seen["sni"].append(name)

    context.sni_callback = remember_sni
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], str(ca), seen
    server.shutdown()
    server.server_close()


def loopback_dns(host: str, port: int) -> list[str]:
    if host != HOST:
        raise LookupError(host)
    return ["127.0.0.1"]


def test_https_goes_to_the_checked_address_with_the_host_name_for_tls(tls_server):
    port, ca, seen = tls_server
    sender = Sender(timeout_seconds=5, allow_loopback=True, resolver=loopback_dns, ca_certs=ca)
    result = sender.post(f"https://{HOST}:{port}/in", {"content-type": "text/plain"}, b"hello")
    assert result.error is None, result.error_detail
    assert result.status == 200
    assert result.address == "127.0.0.1"
    assert seen["sni"] == [HOST]
    assert seen["host"] == [f"{HOST}:{port}"]
    assert len(result.response_body) == RESPONSE_BODY_LIMIT


def test_a_certificate_for_another_name_fails_tls(tls_server):
    port, ca, _ = tls_server
    other = "other.bookhaven.test"
    sender = Sender(
        timeout_seconds=5,
        allow_loopback=True,
        resolver=lambda host, p: ["127.0.0.1"],
        ca_certs=ca,
    )
    result = sender.post(f"https://{other}:{port}/in", {}, b"x")
    assert result.status is None
    assert result.error in (FailureClass.TLS, FailureClass.CONNECTION)


def test_connections_are_reused_across_deliveries():
    with Subscriber() as subscriber:
        sender = Sender(timeout_seconds=5, allow_loopback=True)
        for _ in range(5):
            assert sender.post(subscriber.url, {}, b"{}").status == 200
    assert len(subscriber.received) == 5
    pool = next(iter(sender._pools.values()))
    assert pool.num_connections == 1


class _HeldTimer:
    """A ``threading.Timer`` that fires only when the test says, however late."""

    made: ClassVar[list[_HeldTimer]] = []

    def __init__(self, interval: float, function: Callable[[], None]) -> None:
        self.function = function
        self.daemon = False
        _HeldTimer.made.append(self)

    def start(self) -> None:
        pass

    def cancel(self) -> None:
        pass  # as Timer.cancel: too late once the wait has run out


def test_a_late_deadline_never_cuts_the_next_request_on_its_pooled_connection(monkeypatch):
    """Timer.cancel cannot stop a timer whose wait has already run out. A deadline firing
    after its request ended shut the socket the next delivery had taken from the pool:
    that delivery failed, and the subscriber got its headers with a body cut short."""
    _HeldTimer.made.clear()
    monkeypatch.setattr("hookhaven.sender.threading.Timer", _HeldTimer)
    with Subscriber(lambda n: Reply(delay=0.5 if n == 1 else 0.0)) as subscriber:
        sender = Sender(timeout_seconds=5, allow_loopback=True)
        assert sender.post(subscriber.url, {}, b'{"n": 0}').status == 200
        first_deadline = _HeldTimer.made[0]
        second: list[object] = []
        posting = threading.Thread(
            target=lambda: second.append(sender.post(subscriber.url, {}, b'{"n": 1}'))
        )
        posting.start()
        time.sleep(0.2)  # the second request is out on the reused connection, waiting
        first_deadline.function()  # the first request's timer fires, late
        posting.join()
    (result,) = second
    assert result.status == 200, result  # type: ignore[attr-defined]
    assert [r.body for r in subscriber.received] == [b'{"n": 0}', b'{"n": 1}']
    assert next(iter(sender._pools.values())).num_connections == 1


def test_redirects_are_not_followed():
    with Subscriber(lambda n: Reply(302, headers={"Location": "http://169.254.169.254/"})) as sub:
        result = Sender(timeout_seconds=5, allow_loopback=True).post(sub.url, {}, b"{}")
    assert result.status == 302
    assert len(sub.received) == 1


def test_connection_refused_is_a_connection_error():
    with Subscriber() as closed:
        url = closed.url
    result = Sender(timeout_seconds=2, allow_loopback=True).post(url, {}, b"{}")
    assert result.status is None
    assert result.error is FailureClass.CONNECTION


def test_a_reset_is_a_connection_error():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def reset_everyone() -> None:
        conn, _ = listener.accept()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.recv(1024)
        conn.close()

    thread = threading.Thread(target=reset_everyone, daemon=True)
    thread.start()
    result = Sender(timeout_seconds=2, allow_loopback=True).post(
        f"http://127.0.0.1:{port}/h", {}, b"{}"
    )
    thread.join(timeout=5)
    listener.close()
    assert result.status is None
    assert result.error is FailureClass.CONNECTION


def _trickling_server(*, headers_done: bool) -> tuple[str, threading.Event]:
    """A subscriber that answers one byte every 0.2 s: the status line and headers, or
    (``headers_done``) a complete status and headers followed by an endless body."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        if headers_done:
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n")
        drip = b"HTTP/1.1 200 OK\r\nx-slow: " + b"a" * 200 if not headers_done else b"x" * 10**6
        try:
            for byte in drip:
                if stop.wait(0.2):
                    break
                conn.send(bytes([byte]))
        except OSError:
            pass  # the sender hung up: what a deadline is for
        conn.close()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/hooks", stop


def test_a_subscriber_trickling_bytes_is_cut_off_at_the_deadline():
    """urllib3's read timeout is per read: each byte arriving within it kept the request
    alive indefinitely. The deadline covers the whole request."""
    url, stop = _trickling_server(headers_done=False)
    began = time.monotonic()
    result = Sender(timeout_seconds=1, allow_loopback=True).post(url, {}, b"{}")
    took = time.monotonic() - began
    stop.set()
    assert result.status is None
    assert result.error is FailureClass.TIMEOUT
    assert result.error_detail == "no answer within 1 s in all"
    assert took < 10  # the drip alone would take 45 s or more


def test_an_answer_whose_body_trickles_keeps_its_status_and_ends_at_the_deadline():
    url, stop = _trickling_server(headers_done=True)
    began = time.monotonic()
    result = Sender(timeout_seconds=1, allow_loopback=True).post(url, {}, b"{}")
    took = time.monotonic() - began
    stop.set()
    assert result.status == 200
    assert took < 10  # the drip alone would take 45 s or more


def test_the_test_subscriber_records_no_request_cut_before_its_body_was_whole():
    """A request whose body ends short of its content-length is nothing a web framework
    would hand to a subscriber: tests.subscribers counts it apart."""
    with Subscriber() as subscriber:
        host, port = subscriber.server.server_address[:2]
        with socket.create_connection((str(host), int(port))) as sock:
            sock.sendall(b"POST /hooks HTTP/1.1\r\nHost: x\r\ncontent-length: 10\r\n\r\n{}")
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(100) == b""  # no answer: the connection is closed
        assert (
            Sender(timeout_seconds=5, allow_loopback=True).post(subscriber.url, {}, b"{}").status
            == 200
        )
    assert subscriber.incomplete == 1
    assert [r.body for r in subscriber.received] == [b"{}"]
