"""A real local HTTP server that answers queued canned replies and records what it received.

The client tests talk to it over real sockets, so pooling, timeouts, resets and malformed
bodies are exercised the way they happen in production, not through a mocked transport.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Reply:
    """One canned answer: status, body, headers, and an optional delay, reset or truncation.

    ``drip`` sends the body one byte at a time, that many seconds apart (a stalling upstream
    that never lets a single socket read time out); with ``drip_head`` the status line and
    headers come that way too.
    """

    status: int = 200
    body: bytes | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False
    declared_length: int | None = None
    drip: float = 0.0
    drip_head: bool = False


@dataclass(frozen=True)
class Received:
    """One request as the server saw it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    client_port: int

    @property
    def nonce(self) -> str:
        return self.headers.get("x-acs-signature-nonce") or self.query["SignatureNonce"]


class CannedApi:
    """Serves queued replies in order (the last one repeats) on 127.0.0.1, port 0.

    With ``tls`` (a server context, see ``self_signed_tls``) it speaks HTTPS.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.received: list[Received] = []
        self._replies: deque[Reply] = deque()
        self._last = Reply(body={"RequestId": "r-default", "Success": True})
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}"

    def start(self) -> CannedApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def _next_reply(self) -> Reply:
        with self._lock:
            if self._replies:
                self._last = self._replies.popleft()
            return self._last

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        url = urlsplit(handler.path)
        with self._lock:
            self.received.append(
                Received(
                    method=handler.command,
                    path=url.path,
                    query=dict(parse_qsl(url.query, keep_blank_values=True)),
                    headers={name.lower(): value for name, value in handler.headers.items()},
                    body=body,
                    client_port=handler.client_address[1],
                )
            )
        reply = self._next_reply()
        if reply.delay:
            self._stopping.wait(reply.delay)
        if reply.reset:
            # Linger 0: close() sends a TCP RST, as a crashed proxy would.
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            handler.close_connection = True
            handler.connection.close()
            return
        payload = json.dumps(reply.body).encode() if isinstance(reply.body, dict) else reply.body
        declared = reply.declared_length if reply.declared_length is not None else len(payload)
        headers = {
            "Content-Type": "application/json;charset=utf-8",
            **reply.headers,
            "Content-Length": str(declared),
        }
        if reply.drip_head:
            head = [f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}"]
            head += [f"{name}: {value}" for name, value in headers.items()]
            self._drip(handler, ("\r\n".join(head) + "\r\n\r\n").encode() + payload, reply.drip)
            return
        handler.send_response(reply.status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if reply.drip:
            self._drip(handler, payload, reply.drip)
            return
        handler.wfile.write(payload)
        if reply.declared_length is not None:
            handler.close_connection = True

    def _drip(self, handler: BaseHTTPRequestHandler, payload: bytes, interval: float) -> None:
        """Write ``payload`` byte by byte until done, the client hangs up or the server stops."""
        handler.close_connection = True
        for index in range(len(payload)):
            handler.wfile.write(payload[index : index + 1])
            handler.wfile.flush()
            if self._stopping.wait(interval):
                return

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                api._answer(self)

            def do_GET(self) -> None:
                api._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output to the tests' own."""

        return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A reset or timed-out client is what these tests provoke; it is no error here."""


def self_signed_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1 with a fresh self-signed certificate, and that
    certificate's file (the CA bundle a client must trust)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = folder / "canned-cert.pem"
    key_file = folder / "canned-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
