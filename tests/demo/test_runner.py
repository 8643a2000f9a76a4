"""`run_demo` starts the whole stack, prints incidents and diagnoses, and leaves no process behind."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from demo import runner
from demo.processes import BinaryNotFound
from demo.runner import run_demo
from demo.scenario import DEFAULT_SCHEDULE

STUB = Path(__file__).with_name("stub_receiver.py")
# 20 s into the drawdown phase the drawdown is above 0.3: PnLDrawdownHigh fires a few seconds after start.
DRAWDOWN_OFFSET = str(DEFAULT_SCHEDULE.starts()["pnl_drawdown"] + 20)


def stub_receiver(config_path: Path) -> list[str]:
    return [sys.executable, str(STUB), f"--config.file={config_path}"]


def banner_pids(output: str) -> list[int]:
    match = re.search(r"pids\s+(.*)", output)
    assert match, output
    return [int(pid) for pid in re.findall(r"\d+", match.group(1))]


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def child_pids() -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            children.add(int(stat.parent.name))
    return children


def test_demo_prints_incident_and_diagnosis_then_stops_every_process(tmp_path: Path) -> None:
    out = io.StringIO()
    before = child_pids()
    argv = ["--duration", "20", "--workdir", str(tmp_path), "--scenario-offset", DRAWDOWN_OFFSET]

    code = run_demo(argv, receiver_command=stub_receiver, out=out)

    output = out.getvalue()
    assert code == 0, output
    pids = banner_pids(output)
    assert len(pids) == 3
    assert not [pid for pid in pids if is_running(pid)]
    assert child_pids() <= before
    assert "incident  PnLDrawdownHigh [critical] firing" in output
    assert "diagnosis PnLDrawdownHigh: Stub cause (stub, confidence 90%)" in output
    assert "known cause in this scenario: demo_volatility" in output
    assert "/ui/" in output and "/api/v1/incidents" in output


@pytest.mark.parametrize(
    ("signum", "whole_group"),
    [(signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["sigterm-to-the-demo", "ctrl-c-to-the-process-group"],
)
def test_a_stop_signal_ends_the_demo_and_all_its_children(
    tmp_path: Path, signum: signal.Signals, whole_group: bool
) -> None:
    script = (
        "import sys\n"
        "from demo.runner import run_demo\n"
        f"cmd = lambda cfg: [sys.executable, {str(STUB)!r}, f'--config.file={{cfg}}']\n"
        f"sys.exit(run_demo(['--workdir', {str(tmp_path)!r}], receiver_command=cmd))\n"
    )
    demo = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = remaining = ""
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 30
        while "pids" not in output and time.monotonic() < deadline and demo.poll() is None:
            output += demo.stdout.readline()
        pids = banner_pids(output)
        if whole_group:
            os.killpg(demo.pid, signum)
        else:
            demo.send_signal(signum)
        remaining, _ = demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    assert demo.returncode == 0, output + remaining
    assert "stopping" in remaining
    assert not [pid for pid in pids if is_running(pid)]


def test_missing_binaries_exit_2_naming_the_apt_get_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def not_installed(name: str) -> str:
        raise BinaryNotFound(f"{name} not found on PATH; install it with: apt-get install -y prometheus")

    monkeypatch.setattr(runner, "find_binary", not_installed)
    assert run_demo(["--duration", "1"]) == 2
    assert "apt-get install" in capsys.readouterr().err


def test_receiver_that_never_gets_ready_is_an_error_and_leaves_nothing_running(tmp_path: Path) -> None:
    out = io.StringIO()
    before = child_pids()

    code = run_demo(
        ["--duration", "5", "--workdir", str(tmp_path)],
        receiver_command=lambda cfg: [sys.executable, "-c", "raise SystemExit(3)"],
        out=out,
    )

    assert code == 1
    assert child_pids() <= before
