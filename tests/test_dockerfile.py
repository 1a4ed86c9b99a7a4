"""The Dockerfile keeps its promises: a pinned slim base, the project installed with pip, a
non-root numeric user, ``otabot serve`` as the entrypoint, a health check on /healthz.
(``scripts/test`` lints it with hadolint; no image is built here: no base image can be
fetched on the machines that run the suite.)"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def only(keyword: str) -> str:
    (value,) = [rest for name, rest in instructions() if name == keyword]
    return value


def test_the_base_image_is_slim_and_pinned_to_an_exact_release() -> None:
    base = only("FROM")
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base), base


def test_the_project_is_installed_with_pip() -> None:
    runs = [rest for name, rest in instructions() if name == "RUN"]
    assert any("pip install --no-cache-dir ." in run for run in runs)


def test_it_runs_as_a_numeric_non_root_user() -> None:
    user = only("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) > 0


def test_the_entrypoint_is_otabot_serve_over_http_on_all_addresses() -> None:
    assert only("ENTRYPOINT") == '["otabot", "serve"]'
    assert only("CMD") == '["--http", "--host", "0.0.0.0", "--port", "3000"]'


def test_the_health_check_asks_healthz_on_the_served_port() -> None:
    check = only("HEALTHCHECK")
    assert "http://127.0.0.1:3000/healthz" in check
    assert "3000" in only("EXPOSE")


def test_the_build_context_is_the_project_only() -> None:
    ignored = set((REPO / ".dockerignore").read_text().splitlines())
    assert {"*", "!pyproject.toml", "!README.md", "!otabot/"} <= ignored
