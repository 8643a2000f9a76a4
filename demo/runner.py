"""`alert-analyst demo`: Prometheus, Alertmanager, a trading exporter and the receiver on 127.0.0.1.

The exporter replays incidents with known causes; the runner prints each incident and its diagnosis as the
receiver produces them, and stops every process it started on Ctrl-C, SIGTERM, `--duration` or an error.
Configuration files are written by `demo.configs`, processes handled by `demo.stack`, output by
`demo.report`; this module parses the flags and runs the whole.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from demo.configs import TRADING_CONTEXT_QUERIES, alertmanager_config, prometheus_config, receiver_config
from demo.processes import BinaryNotFound, find_binary
from demo.report import say, watch
from demo.rules import demo_rules
from demo.scenario import DEFAULT_SCHEDULE
from demo.stack import DemoPorts, DemoStack, ReceiverCommand, default_receiver_command, start_stack
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


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="alert-analyst demo",
        description="Run Prometheus, Alertmanager, a synthetic trading exporter and the receiver on "
        "127.0.0.1, and print incidents and diagnoses as they happen.",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="stop after SECONDS (0 = run until Ctrl-C)",
    )
    parser.add_argument(
        "--port-base",
        type=int,
        default=None,
        metavar="PORT",
        help="use ports PORT (receiver), PORT+1 (Prometheus), PORT+2 (Alertmanager), PORT+3 (exporter); "
        "default: free ports",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, metavar="DIR", help="keep configs, logs and data here"
    )
    parser.add_argument(
        "--scenario-offset",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=f"start the scenario cycle SECONDS in (cycle: {DEFAULT_SCHEDULE.period:.0f} s; "
        f"{DEFAULT_SCHEDULE.starts()['db_pool_climb']:.0f} starts scenario 2)",
    )
    return parser.parse_args(argv)


class _StopRequest:
    """Signal handler that records SIGINT/SIGTERM; the runner checks it between steps."""

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
    previous = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
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
    """Run the demo until `--duration`, Ctrl-C or SIGTERM. 0: stopped as asked, 1: error, 2: no binaries."""
    args = _parse_args(argv)
    out = out or sys.stdout
    try:
        find_binary("prometheus")
        find_binary("alertmanager")
    except BinaryNotFound as exc:
        print(f"alert-analyst demo: {exc}", file=sys.stderr)
        return 2
    own_workdir = args.workdir is None
    workdir: Path = Path(tempfile.mkdtemp(prefix="alert-analyst-demo-")) if own_workdir else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    stop = _StopRequest()
    stack = DemoStack()
    code = 1
    with _signals_to(stop):
        try:
            session = start_stack(
                stack,
                args.port_base,
                args.scenario_offset,
                workdir,
                receiver_command,
                lambda: bool(stop),
                out,
            )
            if session is not None:
                watch(session, stack, args.duration, lambda: bool(stop))
            code = 0
        except (ReceiverError, OSError) as exc:
            if stop:  # Ctrl-C reaches the children too; their exit is not an error then
                code = 0
            else:
                print(f"alert-analyst demo: {exc}", file=sys.stderr)
        finally:
            say(out, "stopping: terminating Prometheus, Alertmanager, the receiver and the exporter")
            stack.stop()
    if own_workdir and code == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    elif code != 0:
        print(f"alert-analyst demo: configs and logs kept in {workdir}", file=sys.stderr)
    return code
