"""`alert-analyst demo` flags: out-of-range values are usage errors, ports it is told to use must be free,
and the banner's timings follow `--scenario-offset`."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest

from demo import stack
from demo.report import timeline_lines
from demo.runner import _parse_args, run_demo
from demo.stack import DemoPorts
from tests.demo.test_runner import child_pids


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--port-base", "65533", "must be a port from 1 to 65531"),
        ("--port-base", "0", "must be a port from 1 to 65531"),
        ("--duration", "-5", "must be 0 (until Ctrl-C) or more seconds"),
        ("--duration", "nan", "must be 0 (until Ctrl-C) or more seconds"),
        ("--scenario-offset", "nan", "must be a number of seconds"),
        ("--scenario-offset", "inf", "must be a number of seconds"),
    ],
)
def test_an_out_of_range_flag_is_a_usage_error_naming_the_range(
    flag: str, value: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        _parse_args([f"{flag}={value}"])

    assert exited.value.code == 2
    assert said in capsys.readouterr().err


def test_a_negative_offset_or_one_past_the_cycle_is_accepted() -> None:
    assert _parse_args(["--scenario-offset", "-30"]).scenario_offset == -30
    assert _parse_args(["--scenario-offset", "1000"]).scenario_offset == 1000


def busy_base() -> tuple[int, socket.socket]:
    """A port base whose Prometheus port (base + 1) something else listens on."""
    while True:
        ports = DemoPorts.from_base(None)
        listener = socket.socket()
        try:
            listener.bind(("127.0.0.1", ports.receiver + 1))
        except OSError:
            listener.close()
            continue
        listener.listen()
        return ports.receiver, listener


def test_a_busy_port_is_one_line_naming_it_and_nothing_is_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, listener = busy_base()
    before = child_pids()
    with listener:
        code = run_demo(["--port-base", str(base), "--workdir", str(tmp_path / "run")], out=io.StringIO())

    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines()[0] == (
        f"alert-analyst demo: 127.0.0.1:{base + 1} (Prometheus) already in use; "
        "choose another --port-base, or leave it out for free ports"
    )
    assert "Traceback" not in err
    assert child_pids() <= before
    assert not (tmp_path / "run").exists()


def test_free_ports_are_five_different_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter([20001, 20001, 20002, 20003, 20002, 20004, 20005])
    monkeypatch.setattr(stack, "free_port", lambda: next(drawn))

    assert DemoPorts.from_base(None) == DemoPorts(20001, 20002, 20003, 20004, 20005)


def test_the_banner_timings_follow_the_scenario_offset() -> None:
    assert timeline_lines(0)[1:] == [
        "Scheduled detection flags the volatility spike about 10 s after start (no alert rule watches it);",
        "PnLDrawdownHigh fires about 65 s after start, OrderLatencyHigh and OrderErrorRateHigh about 186 s "
        "after start.",
    ]
    started_at_scenario_2 = " ".join(timeline_lines(140))
    assert "OrderLatencyHigh and OrderErrorRateHigh about 46 s after start" in started_at_scenario_2
    assert "volatility spike about 143 s after start" in started_at_scenario_2  # the next cycle's
    assert "volatility spike about 40 s after start" in " ".join(timeline_lines(-30))
