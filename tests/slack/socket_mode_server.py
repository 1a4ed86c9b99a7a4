"""A stand-in for Slack's Socket Mode endpoint: a minimal WebSocket server on port 0.

It accepts connections (the handshake of RFC 6455), sends envelopes as text frames,
answers pings, and records the JSON messages clients send back (envelope acks).
"""

from __future__ import annotations

import base64
import hashlib
import json
import queue
import socket
import struct
import threading
from typing import Any

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _frame(opcode: int, payload: bytes) -> bytes:
    head = bytes([0x80 | opcode])
    if len(payload) < 126:
        head += bytes([len(payload)])
    elif len(payload) < 65536:
        head += bytes([126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([127]) + struct.pack("!Q", len(payload))
    return head + payload


def _read_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


class SocketModeServer:
    """Plays Slack's side of Socket Mode for one client at a time."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}/link/?ticket=test"
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self.connected = threading.Event()
        self._conn: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(1024)
                if not chunk:
                    return
                request += chunk
            key = next(
                line.split(":", 1)[1].strip()
                for line in request.decode().split("\r\n")
                if line.lower().startswith("sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
            conn.sendall(
                (
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                ).encode()
            )
            self._conn = conn
            self.send({"type": "hello", "num_connections": 1})
            self.connected.set()
            self._read_frames(conn)
        except (ConnectionError, OSError, StopIteration):
            return

    def _read_frames(self, conn: socket.socket) -> None:
        while True:
            first, second = _read_exact(conn, 2)
            opcode, size = first & 0x0F, second & 0x7F
            if size == 126:
                size = struct.unpack("!H", _read_exact(conn, 2))[0]
            elif size == 127:
                size = struct.unpack("!Q", _read_exact(conn, 8))[0]
            mask = _read_exact(conn, 4) if second & 0x80 else b"\0\0\0\0"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(_read_exact(conn, size)))
            if opcode == 0x9:
                self._send_frame(0xA, payload)
            elif opcode == 0x1:
                self.received.put(json.loads(payload))
            elif opcode == 0x8:
                return

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        if self._conn is None:
            raise ConnectionError("no client connected")
        with self._send_lock:
            self._conn.sendall(_frame(opcode, payload))

    def send(self, message: dict[str, Any]) -> None:
        self._send_frame(0x1, json.dumps(message).encode())

    def next_message(self, timeout: float = 10.0) -> dict[str, Any]:
        return self.received.get(timeout=timeout)

    def stop(self) -> None:
        self._stopping = True
        self.listener.close()
        if self._conn is not None:
            self._conn.close()
