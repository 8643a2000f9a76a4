"""However the demo ends (a closed terminal, a closed pipe, SIGKILL, a stop during start-up), no process it
started is left behind, and it ends promptly without a traceback."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.demo.test_runner import STUB, banner_pids, is_running

NEVER_READY = "[sys.executable, '-c', 'import time; time.sleep(120)']"
STUB_COMMAND = f"[sys.executable, {str(STUB)!r}, f'--config.file={{cfg}}']"


def demo_process(workdir: Path, *flags: str, receiver: str = STUB_COMMAND) -> subprocess.Popen[str]:
    """`run_demo` in a session of its own (as in a terminal), stdout and stderr piped."""
    script = (
        "import sys\n"
        "from demo.runner import run_demo\n"
        f"cmd = lambda cfg: {receiver}\n"
        f"sys.exit(run_demo(['--workdir', {str(workdir)!r}, *{list(flags)!r}], receiver_command=cmd))\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.fixture
def cleanup() -> Iterator[list[subprocess.Popen[str]]]:
    demos: list[subprocess.Popen[str]] = []
    yield demos
    for demo in demos:
        with contextlib.suppress(ProcessLookupError):  # a child the demo left is still in its group
            os.killpg(demo.pid, signal.SIGKILL)
        demo.wait()


def read_banner(demo: subprocess.Popen[str]) -> str:
    assert demo.stdout is not None
    output = ""
    deadline = time.monotonic() + 30
    while "pids" not in output and time.monotonic() < deadline and demo.poll() is None:
        output += demo.stdout.readline()
    return output


def gone_soon(pids: list[int], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not [pid for pid in pids if is_running(pid)]:
            return True
        time.sleep(0.1)
    return False


def test_closing_the_terminal_stops_the_demo_and_all_its_children(
    tmp_path: Path, cleanup: list[subprocess.Popen[str]]
) -> None:
    demo = demo_process(tmp_path)
    cleanup.append(demo)
    pids = banner_pids(read_banner(demo))

    os.killpg(demo.pid, signal.SIGHUP)  # what the terminal sends its session when it closes
    _, err = demo.communicate(timeout=30)

    assert demo.returncode == 0, err
    assert gone_soon(pids)


def test_a_killed_demo_leaves_no_receiver_behind(
    tmp_path: Path, cleanup: list[subprocess.Popen[str]]
) -> None:
    demo = demo_process(tmp_path)
    cleanup.append(demo)
    pids = banner_pids(read_banner(demo))

    demo.kill()  # SIGKILL, the OOM killer: no chance to clean up
    demo.wait(timeout=10)

    assert gone_soon(pids)


def test_a_closed_output_stops_the_demo_and_all_its_children(
    tmp_path: Path, cleanup: list[subprocess.Popen[str]]
) -> None:
    """`alert-analyst demo | head`: the next line the demo prints finds nobody reading."""
    demo = demo_process(tmp_path, "--scenario-offset", "8")  # a scenario line follows 2 s after start
    cleanup.append(demo)
    pids = banner_pids(read_banner(demo))

    assert demo.stdout is not None
    demo.stdout.close()
    assert demo.stderr is not None
    err = demo.stderr.read()
    demo.wait(timeout=30)

    assert demo.returncode == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert "cannot write the output" in err
    assert gone_soon(pids)


def test_a_stop_during_start_up_ends_the_demo_without_waiting_for_the_receiver(
    tmp_path: Path, cleanup: list[subprocess.Popen[str]]
) -> None:
    demo = demo_process(tmp_path, receiver=NEVER_READY)
    cleanup.append(demo)
    deadline = time.monotonic() + 20
    while not (tmp_path / "receiver.log").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    receiver = children_of(demo.pid)

    demo.terminate()
    _, err = demo.communicate(timeout=10)  # the receiver's start-up wait alone is 30 s

    assert demo.returncode == 0, err
    assert "Traceback" not in err
    assert receiver and gone_soon(receiver)


def children_of(parent: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def test_ctrl_c_right_after_launch_ends_without_a_traceback(
    tmp_path: Path, cleanup: list[subprocess.Popen[str]]
) -> None:
    """Ctrl-C while Python is still importing the demo (before it handles SIGINT itself)."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "receiver", "demo", "--workdir", str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    cleanup.append(demo)
    time.sleep(0.15)

    os.killpg(demo.pid, signal.SIGINT)
    _, err = demo.communicate(timeout=30)

    assert "Traceback" not in err, err
    assert demo.returncode in (0, 130, -signal.SIGINT), err
