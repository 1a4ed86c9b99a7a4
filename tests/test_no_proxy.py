"""NO_PROXY as the README states it (``*``, hosts, domain suffixes, ``host:port``), and
where requests' own helper, ``requests.utils.should_bypass_proxies``, would differ.

The second half pins why otabot does not call requests' helper: if requests changes, a
test here fails and says what to look at again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, MutableMapping

import pytest
from requests.utils import should_bypass_proxies

from otabot.config import Settings

PROXY = {"HTTPS_PROXY": "proxy.corp:3128", "HTTP_PROXY": "proxy.corp:3128"}

# (NO_PROXY, URL, covered): the README's forms, each beside a near miss.
FORMS = [
    ("*", "https://iot.cn-shanghai.aliyuncs.com", True),
    ("localhost, *", "https://iot.example.com", True),
    ("iot.example.com", "https://iot.example.com", True),
    ("IOT.Example.COM", "https://iot.example.com", True),
    ("example.com", "https://iot.example.com", True),
    (".example.com", "https://iot.example.com", True),
    ("example.com", "https://example.com", True),
    (".example.com", "https://example.com", True),
    ("xample.com", "https://iot.example.com", False),
    ("example.com.evil", "https://iot.example.com", False),
    ("iot.example.com:8443", "https://iot.example.com:8443", True),
    ("example.com:8443", "https://iot.example.com:8443", True),
    ("iot.example.com:8443", "https://iot.example.com:9443", False),
    ("iot.example.com:8443", "https://iot.example.com", False),
    ("127.0.0.1", "http://127.0.0.1:9000", True),
    ("127.0.0.1:9000", "http://127.0.0.1:9000", True),
    ("127.0.0.1:9000", "http://127.0.0.1:9001", False),
    ("127.0.0.1", "http://127.0.0.10", False),
    ("::1", "http://[::1]:8080", True),
]


@pytest.mark.parametrize(("no_proxy", "url", "covered"), FORMS)
def test_each_form_the_readme_states(no_proxy: str, url: str, covered: bool) -> None:
    settings = Settings.from_env({**PROXY, "NO_PROXY": no_proxy})
    assert (settings.proxies_for(url) == {}) is covered


# -- requests' helper, for the record ------------------------------------------------------


class _Watched(MutableMapping[str, str]):
    """``os.environ`` as it is, noting every write."""

    def __init__(self, real: MutableMapping[str, str]) -> None:
        self.real = real
        self.writes: list[str] = []

    def __getitem__(self, key: str) -> str:
        return self.real[key]

    def __setitem__(self, key: str, value: str) -> None:
        self.writes.append(key)
        self.real[key] = value

    def __delitem__(self, key: str) -> None:
        self.writes.append(key)
        del self.real[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.real)

    def __len__(self) -> int:
        return len(self.real)


@pytest.fixture
def watched_environ(monkeypatch: pytest.MonkeyPatch) -> _Watched:
    watched = _Watched(os.environ)
    monkeypatch.setattr(os, "environ", watched)
    return watched


def test_requests_helper_writes_the_process_environment_where_nothing_matches(
    watched_environ: _Watched,
) -> None:
    assert not should_bypass_proxies("https://iot.example.com", no_proxy="other.example")
    assert watched_environ.writes.count("no_proxy") == 2  # set, then put back
    watched_environ.writes.clear()
    settings = Settings.from_env({**PROXY, "NO_PROXY": "other.example"})
    assert settings.proxies_for("https://iot.example.com")
    assert "no_proxy" not in watched_environ.writes  # otabot's own matching writes nothing


# (NO_PROXY, URL, what requests' helper says): otabot says the opposite.
DIFFERENCES = [
    ("localhost, *", "https://iot.example.com", False),  # "*" only as the whole value
    ("127.0.0.1:9000", "http://127.0.0.1:9000", False),  # an IPv4 entry's port is lost
    ("10.0.0.0/8", "http://10.1.2.3", True),  # CIDR: requests knows it, otabot does not
]
AGREED = [form for form in FORMS if form[:2] not in {case[:2] for case in DIFFERENCES}]


@pytest.mark.parametrize(("no_proxy", "url", "requests_says"), DIFFERENCES)
def test_where_requests_helper_differs_from_otabot(
    no_proxy: str, url: str, requests_says: bool
) -> None:
    settings = Settings.from_env({**PROXY, "NO_PROXY": no_proxy})
    assert should_bypass_proxies(url, no_proxy=no_proxy) is requests_says
    assert (settings.proxies_for(url) == {}) is not requests_says


@pytest.mark.parametrize(("no_proxy", "url", "covered"), AGREED)
def test_everywhere_else_requests_helper_agrees(no_proxy: str, url: str, covered: bool) -> None:
    assert should_bypass_proxies(url, no_proxy=no_proxy) is covered
