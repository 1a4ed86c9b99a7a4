"""Keeping signed URLs out of logs and exceptions.

A V1 request carries its ``Signature`` (and an STS ``SecurityToken``) in the URL, which
``urllib3`` logs at DEBUG and puts into its connection errors, and ``requests`` keeps the
prepared request, headers included, on its exceptions. This module hides those values
in both places, and clears the locals of an error's finished frames, where the signed
request and the answer's raw bytes would otherwise stay reachable.
"""

from __future__ import annotations

import logging
import re
import traceback

_SIGNED_QUERY_RE = re.compile(r"(?<![A-Za-z])(Signature|SecurityToken)=[^&\s'\")]*")
_URL_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry")
# Attributes of requests' and urllib3's exceptions that hold the request, its connection
# or its pool, signed URL and headers included.
_REQUEST_HOLDERS = frozenset({"request", "response", "conn", "pool"})


def redact_signed_query(text: str) -> str:
    """``text`` with the values of ``Signature`` and ``SecurityToken`` query parameters hidden."""
    return _SIGNED_QUERY_RE.sub(r"\1=***", text)


class SignedUrlRedaction(logging.Filter):
    """Hides signatures and STS tokens in URLs that a library logs (urllib3 at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_signed_query(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def install_url_redaction() -> None:
    """Attach ``SignedUrlRedaction`` to the urllib3 loggers that print request URLs (once)."""
    for name in _URL_LOGGERS:
        library_logger = logging.getLogger(name)
        if not any(isinstance(f, SignedUrlRedaction) for f in library_logger.filters):
            library_logger.addFilter(SignedUrlRedaction())


def scrub_exception(error: BaseException) -> BaseException:
    """Redact signed URLs in ``error`` and everything it chains or wraps, in place.

    requests and urllib3 put the request URL (with a V1 signature and STS token) into
    their messages and attributes and keep the prepared request, headers included, or the
    connection on the exception: every text is redacted and those references dropped.
    The frames the errors have left keep their code and line numbers but lose their
    locals (a frame still running is left as it is).
    """
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        args: list[object] = []
        for arg in current.args:
            if isinstance(arg, BaseException):
                pending.append(arg)
                args.append(arg)
            elif isinstance(arg, str):
                args.append(redact_signed_query(arg))
            else:
                args.append(arg)
        current.args = tuple(args)
        for name, value in list(vars(current).items()):
            if isinstance(value, str):
                setattr(current, name, redact_signed_query(value))  # url, _message, …
            elif isinstance(value, BaseException):
                pending.append(value)
            elif name in _REQUEST_HOLDERS and value is not None:
                setattr(current, name, None)
        if current.__traceback__ is not None:
            traceback.clear_frames(current.__traceback__)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)
    return error
