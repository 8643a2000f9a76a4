"""`--workdir`: relative paths work, a second run in the same directory starts from the same calm state as
the first, and a directory that holds something else is refused and left alone."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from demo.runner import run_demo
from demo.stack import DemoPorts, PortsInUse
from tests.demo.test_runner import DRAWDOWN_OFFSET, child_pids, stub_receiver


def test_a_relative_workdir_runs_the_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()

    code = run_demo(["--duration", "4", "--workdir", "./run"], receiver_command=stub_receiver, out=out)

    assert code == 0, out.getvalue()
    assert f"workdir        {tmp_path / 'run'}" in out.getvalue()
    assert (tmp_path / "run" / "prometheus" / "prometheus.log").exists()


def free_base() -> int:
    while True:
        ports = DemoPorts.from_base(None)
        try:
            DemoPorts.from_base(ports.receiver).check_free()
        except PortsInUse:
            continue
        return ports.receiver


def test_a_second_run_in_the_same_workdir_reports_the_alert_again(tmp_path: Path) -> None:
    """Same workdir and ports: Alertmanager's old notification log would hold back the still-firing alert."""
    argv = ["--duration", "20", "--workdir", str(tmp_path), "--port-base", str(free_base())]
    argv += ["--scenario-offset", DRAWDOWN_OFFSET]
    first, second = io.StringIO(), io.StringIO()

    assert run_demo(argv, receiver_command=stub_receiver, out=first) == 0
    assert run_demo(argv, receiver_command=stub_receiver, out=second) == 0

    assert "incident  PnLDrawdownHigh [critical] firing" in first.getvalue()
    assert "incident  PnLDrawdownHigh [critical] firing" in second.getvalue(), second.getvalue()
    assert "note: removed the data of an earlier demo run" in second.getvalue()


def test_a_workdir_holding_something_else_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "alert-analyst.db").write_text("someone's real database")
    before = child_pids()

    code = run_demo(["--workdir", str(tmp_path)], receiver_command=stub_receiver, out=io.StringIO())

    err = capsys.readouterr().err
    assert code == 1
    assert err == (
        f"alert-analyst demo: --workdir {tmp_path} is not empty and no earlier demo run used it; "
        "name a new or empty directory\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["alert-analyst.db"]
    assert (tmp_path / "alert-analyst.db").read_text() == "someone's real database"
    assert child_pids() <= before


@pytest.mark.parametrize("kind", ["a file", "under a file"])
def test_a_workdir_that_cannot_be_a_directory_is_one_line(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    workdir = tmp_path / "file" if kind == "a file" else tmp_path / "file" / "run"

    code = run_demo(["--workdir", str(workdir)], receiver_command=stub_receiver, out=io.StringIO())

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"alert-analyst demo: --workdir {workdir} ")
    assert len(err.splitlines()) == 1, err
