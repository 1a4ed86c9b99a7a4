"""The parity table through ``otabot.cli.main([...])``, in-process, over the recording service.

Each row must end as ``/ota`` ends it (``tests/slack/test_parity.py``): the same usage
error (exit 2, no call), the same service calls, the same words.
"""

from __future__ import annotations

import pytest

from otabot.cli import main
from tests.parity import ROWS, Names, Refused, Row, Says
from tests.world import ENV, RecordingService


def run(row: Row, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, RecordingService]:
    service = RecordingService()
    code = main(list(row.cli), environ=ENV, open_service=lambda settings: service)
    out, err = capsys.readouterr()
    return code, out, err, service


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_the_cli_reads_each_row_as_ota_does(row: Row, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err, service = run(row, capsys)
    verdict = row.verdict
    if isinstance(verdict, Refused):
        assert (code, out) == (2, "")
        assert err == f"otabot {row.cli[0]}: {verdict.said(cli=True)}\n"
        assert service.calls == []
    elif isinstance(verdict, Names):
        assert code == 0, err
        assert err == "" and out
        assert service.calls == list(verdict.calls)
    else:
        assert isinstance(verdict, Says)
        assert code == verdict.exit_code
        [line] = err.splitlines()
        assert line.startswith(f"otabot {row.cli[0]}: ")
        assert verdict.words in line
        assert service.calls
