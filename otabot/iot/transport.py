"""One attempt on the wire: a signed request sent once, its answer read whole in time, or an error.

Requests go out as the official SDKs send them: ``POST /`` with every parameter in the
query string and an empty body, signed by the auth object on each send (so every
attempt carries a fresh nonce and timestamp). Nothing is merged in from the session
(the API sets no cookies), and no redirect is followed: it would carry the signed
request, STS token included, to wherever it points.

An attempt has a deadline, and it bounds every wait: the connection, the status line
and headers, and the body. urllib3 applies its read timeout to each socket read, so a
server that dribbles its answer a byte at a time could hold an attempt for the read
timeout per byte; here each read of the response waits at most what is left (the
socket's timeout shortened before every read), the answer is checked against the
deadline when its headers arrive, and the body is read capped at ``MAX_RESPONSE_BYTES``.

Failures of requests and urllib3 become ``UpstreamUnavailableError`` with the cause
kept (scrubbed of signed URLs): ``otabot.ConnectTimeout``, ``otabot.ReadTimeout``,
``otabot.ConnectionError``, ``otabot.MalformedResponse``.
"""

from __future__ import annotations

import http.client
import io
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from otabot import __version__
from otabot.clocks import Monotonic
from otabot.config import shown_url
from otabot.iot.decoding import Answer, header_request_id
from otabot.iot.errors import UpstreamUnavailableError
from otabot.iot.redaction import scrub_exception
from otabot.iot.signing import canonical_query

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

USER_AGENT = f"otabot/{__version__} (+python-requests)"
POOL_SIZE = 32
# A full page of 100 jobs is about 60 KB; anything past this is not the API talking.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
# An attempt with less time than this left before the deadline is not worth sending,
# and no socket wait is shorter.
MIN_ATTEMPT_SECONDS = 0.01
_REQUEST_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json"}
# The operating system's words inside urllib3's messages: "[Errno 111] Connection refused".
_ERRNO_RE = re.compile(r"\[Errno -?\d+\] ([^)\]\"']+)")
_SSL_RE = re.compile(r"\[SSL: ([A-Z0-9_]+)\]")


class Transport:
    """Sends signed attempts to one endpoint over a pooled session. Thread-safe."""

    def __init__(
        self,
        endpoint: str,
        auth: AuthBase,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        monotonic: Monotonic = time.monotonic,
        session: requests.Session | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        self._endpoint = endpoint.rstrip("/") + "/"
        self._shown = shown_url(endpoint.rstrip("/"))
        self._auth = auth
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._monotonic = monotonic
        self._deadline = _ResponseDeadline(monotonic)
        self._owns_session = session is None
        self._session = session if session is not None else _pooled_session(self._deadline)
        if proxies:
            self._session.proxies.update(proxies)
        scheme = urlsplit(self._endpoint).scheme
        proxy = (proxies or {}).get(scheme)
        # Where a failure to connect happened: at the proxy, when there is one.
        self._via = f" through the proxy {shown_url(proxy)}" if proxy else ""

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def close(self) -> None:
        """Close the pooled connections (a session passed in stays the caller's to close)."""
        if self._owns_session:
            self._session.close()

    def prepare(self, query: Mapping[str, str]) -> requests.PreparedRequest:
        """One signed ``POST`` with ``query``, ready to send: a fresh nonce and timestamp.

        Prepared before the quota lets the attempt go, so that nothing but the send itself
        lies between the slot and the API: the less time there, the less jitter eats into
        the quota's margin.
        """
        return requests.Request(
            "POST",
            f"{self._endpoint}?{canonical_query(query)}",
            headers=_REQUEST_HEADERS,
            auth=self._auth,
        ).prepare()

    def written_at(self) -> float | None:
        """When this thread's last ``send`` had written its request whole (``monotonic``
        time), or None when it never got that far (or the session is not the transport's
        own). The quota counts an attempt from then: the moment it reached the API."""
        return self._deadline.written()

    def send(self, prepared: requests.PreparedRequest, remaining: float) -> Answer:
        """Send a ``prepare``d request and read its answer within ``remaining`` s.

        A session passed in keeps its own adapters: there, the status line and headers are
        bounded by the read timeout per socket read, and checked against the deadline once
        they have arrived.
        """
        deadline = self._monotonic() + remaining
        connect_timeout = min(self._connect_timeout, remaining)
        read_timeout = min(self._read_timeout, remaining)
        started = time.perf_counter()
        try:
            with self._deadline.until(deadline):
                response = self._session.send(
                    prepared,
                    timeout=(connect_timeout, read_timeout),
                    allow_redirects=False,
                    stream=True,
                )
                try:
                    content = _read_capped(response, deadline, self._monotonic)
                finally:
                    response.close()  # back to the pool when read whole, else dropped
        except _Unfinished as cause:
            raise UpstreamUnavailableError(
                cause.describe(remaining),
                code=cause.code,
                request_id=header_request_id(cause.response.headers),
                http_status=cause.response.status_code,
                retryable=cause.retryable,
            ) from cause
        except requests.ConnectTimeout as cause:
            within = _within(connect_timeout, self._connect_timeout, "OTABOT_CONNECT_TIMEOUT")
            raise UpstreamUnavailableError(
                f"could not connect to IoT Platform at {self._shown}{self._via} {within}",
                code="otabot.ConnectTimeout",
            ) from scrub_exception(cause)
        except requests.Timeout as cause:
            within = _within(read_timeout, self._read_timeout, "OTABOT_READ_TIMEOUT")
            raise UpstreamUnavailableError(
                f"IoT Platform at {self._shown} did not answer {within}",
                code="otabot.ReadTimeout",
            ) from scrub_exception(cause)
        except requests.RequestException as cause:
            problem = _connection_problem(cause)
            raise UpstreamUnavailableError(
                f"could not reach IoT Platform at {self._shown}{self._via} ({problem})",
                code="otabot.ConnectionError",
            ) from scrub_exception(cause)
        return Answer(
            status=response.status_code,
            headers=response.headers,
            content=content,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )


def _within(limit: float, configured: float, setting: str) -> str:
    """``within 10 s (OTABOT_READ_TIMEOUT)``, or, when the lookup's own deadline came first,
    ``within the 3.9 s left of this lookup``."""
    if limit >= configured:
        return f"within {configured:g} s ({setting})"
    return f"within the {limit:.1f} s left of this lookup"


def _connection_problem(error: requests.RequestException) -> str:
    """What kept the connection from happening, in the operating system's words when it
    gave some (``connection refused``), else the kind of failure. Never the request URL."""
    match = _ERRNO_RE.search(str(error))
    if match:
        return match.group(1).strip().lower()
    if isinstance(error, requests.exceptions.ProxyError):
        return "the proxy could not be used"
    if isinstance(error, requests.exceptions.SSLError):
        ssl_reason = _SSL_RE.search(str(error))
        return "TLS failed" + (f": {ssl_reason.group(1).lower()}" if ssl_reason else "")
    return type(error).__name__


class _Unfinished(Exception):
    """The answer was not read whole; ``response`` has its status and headers."""

    code = ""
    retryable = True

    def __init__(self, response: requests.Response) -> None:
        super().__init__()
        self.response = response

    def describe(self, remaining: float) -> str:
        raise NotImplementedError


class _TooLarge(_Unfinished):
    """The upstream body is past ``MAX_RESPONSE_BYTES``: not the API talking, not retried."""

    code = "otabot.MalformedResponse"
    retryable = False

    def describe(self, remaining: float) -> str:
        return f"IoT Platform answered with a body larger than {MAX_RESPONSE_BYTES} bytes"


class _TooSlow(_Unfinished):
    """The upstream answer did not arrive whole before the attempt's deadline."""

    code = "otabot.ReadTimeout"

    def describe(self, remaining: float) -> str:
        return f"IoT Platform did not finish its answer within {remaining:.3g} s"


# Reads that fail in urllib3 become the exceptions requests raises for them while streaming.
_READ_ERRORS: tuple[tuple[type[Exception], type[requests.RequestException]], ...] = (
    (urllib3.exceptions.ReadTimeoutError, requests.ReadTimeout),
    (urllib3.exceptions.SSLError, requests.exceptions.SSLError),
    (urllib3.exceptions.DecodeError, requests.exceptions.ContentDecodingError),
    (urllib3.exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError),
    (urllib3.exceptions.HTTPError, requests.ConnectionError),
)


def _read_capped(response: requests.Response, deadline: float, monotonic: Monotonic) -> bytes:
    """The whole body; ``_TooLarge`` as soon as it (or its declared length) passes the cap,
    ``_TooSlow`` once ``deadline`` (in ``monotonic()`` time) has passed.

    The deadline is checked as soon as the headers are in and between the body's pieces
    (each read takes what has arrived, ``read1``); the reader under it keeps each socket
    wait within the deadline.
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise _TooLarge(response)
    chunks: list[bytes] = []
    size = 0
    raw = response.raw
    while True:
        if monotonic() >= deadline:
            raise _TooSlow(response)
        try:
            chunk = raw.read1(65_536, decode_content=True)
        except urllib3.exceptions.HTTPError as cause:
            for caught, raised in _READ_ERRORS:
                if isinstance(cause, caught):
                    raise raised(cause) from cause
            raise  # pragma: no cover - HTTPError is the last entry
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise _TooLarge(response)
        chunks.append(chunk)


# --- bounding every read of a response by the attempt's deadline --------------------------


class _ResponseDeadline:
    """When the answer the current thread is reading must have arrived whole.

    Set around one attempt by ``Transport.send``; the connections of the transport's own
    pool read their responses through ``_DeadlineReader`` while it is set.
    """

    def __init__(self, monotonic: Monotonic) -> None:
        self._monotonic = monotonic
        self._local = threading.local()

    @contextmanager
    def until(self, deadline: float) -> Iterator[None]:
        self._local.deadline = deadline
        self._local.written = None
        try:
            yield
        finally:
            self._local.deadline = None

    def note_written(self) -> None:
        """The current thread's request has been written whole to the socket, now."""
        self._local.written = self._monotonic()

    def written(self) -> float | None:
        """When the current thread's last request was written whole (None: it was not)."""
        written: float | None = getattr(self._local, "written", None)
        return written

    def reader(self, sock: socket.socket, fp: Any) -> Any:
        """``fp`` (the response's buffered socket file) reading under the deadline, if set."""
        deadline: float | None = getattr(self._local, "deadline", None)
        if deadline is None or not isinstance(fp, io.BufferedReader):
            return fp
        # Nothing has been read yet, so detaching loses no buffered bytes.
        return io.BufferedReader(_DeadlineReader(fp.detach(), sock, deadline, self._monotonic))


class _DeadlineReader(io.RawIOBase):
    """A socket's raw reader whose every read waits no longer than the time left.

    urllib3 sets the socket's timeout (the read timeout) once per request; this shortens
    it before each read to what is left, so the deadline holds however the answer is
    dribbled. A read past the deadline fails as a socket timeout, which urllib3 and
    requests report as a read timeout.
    """

    def __init__(
        self, raw: Any, sock: socket.socket, deadline: float, monotonic: Monotonic
    ) -> None:
        super().__init__()
        self._raw = raw
        self._sock = sock
        self._deadline = deadline
        self._monotonic = monotonic
        self._per_read = sock.gettimeout()

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return int(self._raw.fileno())

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        left = self._deadline - self._monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        if self._per_read is not None:
            left = min(left, self._per_read)
        self._sock.settimeout(max(left, MIN_ATTEMPT_SECONDS))
        count: int | None = self._raw.readinto(buffer)
        return count

    def close(self) -> None:
        if not self.closed:
            self._raw.close()  # lets the socket close once the connection has let go of it
        super().close()


def _pool_classes(deadline: _ResponseDeadline) -> dict[str, type[HTTPConnectionPool]]:
    """Connection pools whose responses read through ``deadline``'s reader, and which note
    when each request was written whole."""

    class DeadlineResponse(http.client.HTTPResponse):
        def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
            super().__init__(sock, *args, **kwargs)
            self.fp = deadline.reader(sock, self.fp)

    class DeadlineConnection(HTTPConnection):
        response_class = DeadlineResponse

        def request(self, *args: Any, **kwargs: Any) -> None:
            super().request(*args, **kwargs)
            deadline.note_written()

    class DeadlineSecureConnection(HTTPSConnection):
        response_class = DeadlineResponse

        def request(self, *args: Any, **kwargs: Any) -> None:
            super().request(*args, **kwargs)
            deadline.note_written()

    class DeadlinePool(HTTPConnectionPool):
        ConnectionCls = DeadlineConnection

    class DeadlineSecurePool(HTTPSConnectionPool):
        ConnectionCls = DeadlineSecureConnection

    return {"http": DeadlinePool, "https": DeadlineSecurePool}


class _DeadlineAdapter(HTTPAdapter):
    """An adapter whose pools (direct or through an HTTP proxy) read under the deadline."""

    def __init__(self, deadline: _ResponseDeadline, **kwargs: Any) -> None:
        self._pool_classes = _pool_classes(deadline)  # before init_poolmanager runs
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # A SOCKS proxy brings pools of its own; those keep urllib3's per-read timeout.
        if manager.pool_classes_by_scheme.get("http") is HTTPConnectionPool:
            manager.pool_classes_by_scheme = self._pool_classes
        return manager


def _pooled_session(deadline: _ResponseDeadline) -> requests.Session:
    """A session that keeps up to ``POOL_SIZE`` connections per host alive between calls.

    ``trust_env`` is off: only ``otabot.config`` reads the environment (proxies included,
    handed in once as ``proxies``), and requests scanning it for proxy variables on every
    call was the largest share of the client's own overhead.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = _DeadlineAdapter(deadline, pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
