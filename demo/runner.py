"""`alert-analyst demo`: Prometheus, Alertmanager, a trading exporter and the receiver on 127.0.0.1.

The exporter replays incidents with known causes; the runner prints each incident and its diagnosis as the
receiver produces them, and stops every process it started on Ctrl-C, SIGTERM, `--duration` or an error.
Configuration files are written by `demo.configs`, processes handled by `demo.stack`, output by
`demo.report`; this module parses the flags and runs the whole.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TextIO

from demo.configs import TRADING_CONTEXT_QUERIES, alertmanager_config, prometheus_config, receiver_config
from demo.processes import BinaryNotFound, find_binary
from demo.report import OutputClosed, say, watch
from demo.rules import demo_rules
from demo.scenario import DEFAULT_SCHEDULE
from demo.stack import (
    MAX_PORT_BASE,
    DemoPorts,
    DemoStack,
    ReceiverCommand,
    default_receiver_command,
    start_stack,
)
from demo.workdir import prepare_workdir
from receiver.errors import ReceiverError

__all__ = [
    "TRADING_CONTEXT_QUERIES",
    "DemoPorts",
    "ReceiverCommand",
    "alertmanager_config",
    "default_receiver_command",
    "demo_rules",
    "prometheus_config",
    "receiver_config",
    "run_demo",
]


def _number(check: Callable[[float], bool], requirement: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not check(value):
            raise argparse.ArgumentTypeError(f"{requirement}, got {text!r}")
        return value

    return parse


def _port_base(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_PORT_BASE:
        raise argparse.ArgumentTypeError(
            f"must be a port from 1 to {MAX_PORT_BASE} (the demo uses it and the next four), got {text!r}"
        )
    return int(text)


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="alert-analyst demo",
        description="Run Prometheus, Alertmanager, a synthetic trading exporter and the receiver on "
        "127.0.0.1, and print incidents and diagnoses as they happen.",
    )
    parser.add_argument(
        "--duration",
        type=_number(lambda v: v >= 0, "must be 0 (until Ctrl-C) or more seconds"),
        default=0.0,
        metavar="SECONDS",
        help="stop after SECONDS (0 = run until Ctrl-C)",
    )
    parser.add_argument(
        "--port-base",
        type=_port_base,
        default=None,
        metavar="PORT",
        help="use ports PORT (receiver), PORT+1 (Prometheus), PORT+2 (Alertmanager), PORT+3 (exporter), "
        "PORT+4 (Slack/Grafana stand-ins); default: free ports",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep configs, logs and data here (a new or empty directory, or one an earlier demo run used: "
        "its data is removed first)",
    )
    parser.add_argument(
        "--scenario-offset",
        type=_number(math.isfinite, "must be a number of seconds"),
        default=0.0,
        metavar="SECONDS",
        help=f"start the scenario cycle SECONDS in (cycle: {DEFAULT_SCHEDULE.period:.0f} s; "
        f"{DEFAULT_SCHEDULE.starts()['db_pool_climb']:.0f} starts scenario 2)",
    )
    return parser.parse_args(argv)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: the terminal closed


class _StopRequest:
    """Signal handler that records SIGINT/SIGTERM/SIGHUP; the runner checks it between steps."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, frame: object) -> None:
        self.signum = signum

    def __bool__(self) -> bool:
        return self.signum is not None


@contextmanager
def _signals_to(request: _StopRequest) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, request) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_demo(
    argv: list[str],
    *,
    receiver_command: ReceiverCommand = default_receiver_command,
    out: TextIO | None = None,
) -> int:
    """Run the demo until `--duration`, Ctrl-C, SIGTERM or SIGHUP. 0: stopped as asked, 1: error, 2: no
    binaries (or a bad flag)."""
    args = _parse_args(argv)
    out = out or sys.stdout
    try:
        find_binary("prometheus")
        find_binary("alertmanager")
    except BinaryNotFound as exc:
        print(f"alert-analyst demo: {exc}", file=sys.stderr)
        return 2
    ports = DemoPorts.from_base(args.port_base)
    try:
        ports.check_free()
        own_workdir = args.workdir is None
        if own_workdir:
            workdir = Path(tempfile.mkdtemp(prefix="alert-analyst-demo-"))
        else:
            workdir, removed = prepare_workdir(args.workdir)
            if removed:
                say(out, f"note: removed the data of an earlier demo run in {workdir}: {', '.join(removed)}")
    except (ReceiverError, OSError) as exc:  # nothing started yet
        print(f"alert-analyst demo: {exc}", file=sys.stderr)
        return 1
    code = _run_stack(args, ports, workdir, receiver_command, out)
    if own_workdir and code == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    elif code != 0:
        print(f"alert-analyst demo: configs and logs kept in {workdir}", file=sys.stderr)
    return code


def _run_stack(
    args: argparse.Namespace, ports: DemoPorts, workdir: Path, receiver_command: ReceiverCommand, out: TextIO
) -> int:
    """Start the stack, watch it until asked to stop, stop it whatever happened; the exit code."""
    stop = _StopRequest()
    stack = DemoStack()
    code = 1
    with _signals_to(stop):
        try:
            session = start_stack(
                stack, ports, args.scenario_offset, workdir, receiver_command, lambda: bool(stop), out
            )
            if session is not None:
                watch(session, stack, args.duration, lambda: bool(stop))
            code = 0
        except OutputClosed as exc:  # `alert-analyst demo | head`: the reader stopped the demo
            _discard(out)
            print(f"alert-analyst demo: {exc}; stopping", file=sys.stderr)
            code = 0
        except (ReceiverError, OSError) as exc:
            if stop:  # Ctrl-C reaches the children too; their exit is not an error then
                code = 0
            else:
                print(f"alert-analyst demo: {exc}", file=sys.stderr)
        finally:
            with suppress(OutputClosed):  # stopping matters more than saying so
                say(out, "stopping: terminating Prometheus, Alertmanager, the receiver and the exporter")
            stack.stop()
    return code


def _discard(out: TextIO) -> None:
    """Point a closed stdout at /dev/null, so that Python's flush at exit does not fail on it again."""
    if out is sys.stdout:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
