"""Operating-system errors are told apart by ``errno``'s names, never by their numbers
(98 is EADDRINUSE on Linux and 48 on macOS): a scan of otabot/, and the one place that
asks, both ways."""

from __future__ import annotations

import ast
import errno
import socket
from pathlib import Path

import pytest

import otabot
from otabot.wsgi import BackgroundWsgiServer, PortInUseError

ERRNO_ATTRIBUTES = frozenset({"errno", "winerror"})


def numbered_errno_checks(source: str) -> list[int]:
    """Lines that compare an ``.errno`` (or ``.winerror``) with a number literal."""

    def is_errno(node: ast.expr) -> bool:
        return isinstance(node, ast.Attribute) and node.attr in ERRNO_ATTRIBUTES

    def has_number(node: ast.expr) -> bool:
        return any(
            isinstance(inner, ast.Constant) and type(inner.value) is int for inner in ast.walk(node)
        )

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(is_errno(side) for side in sides) and any(
                has_number(side) for side in sides if not is_errno(side)
            ):
                lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("if error.errno == 98: pass", [1]),
        ("if e.errno in (104, 32): pass", [1]),
        ("x = 111 != exc.errno", [1]),
        ("if error.winerror == 10048: pass", [1]),
        ("if error.errno == errno.EADDRINUSE: pass", []),
        ("if error.errno in {errno.ECONNRESET, errno.EPIPE}: pass", []),
        ("if len(items) == 98: pass", []),
    ],
)
def test_the_scan_finds_numbers_and_passes_names(source: str, found: list[int]) -> None:
    assert numbered_errno_checks(source) == found


def test_otabot_compares_errno_by_name_only() -> None:
    root = Path(otabot.__file__).parent
    numbered = {
        str(path.relative_to(root)): lines
        for path in sorted(root.rglob("*.py"))
        if (lines := numbered_errno_checks(path.read_text(encoding="utf-8")))
    }
    assert numbered == {}


def test_a_taken_port_is_port_in_use_and_any_other_bind_error_stays_itself() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port} is already in use"):
            BackgroundWsgiServer(lambda environ, start: [], port=port, name="test-taken")
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: EADDRNOTAVAIL, not "in use".
    with pytest.raises(OSError) as caught:
        BackgroundWsgiServer(lambda environ, start: [], host="192.0.2.1", name="test-foreign")
    assert caught.type is OSError and caught.value.errno == errno.EADDRNOTAVAIL
