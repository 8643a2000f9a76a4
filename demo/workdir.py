"""The demo's working directory: absolute, writable, and free of an earlier run's data.

Each run starts from the same calm history. An earlier run's data would change it: Alertmanager's
notification log keeps an alert that was still firing from being posted again for an hour, and Prometheus's
old samples (earlier spikes within the 15-minute lookback) change what the detectors see. So a directory an
earlier demo run used is emptied of that data; any other directory must be new or empty, so that the demo
never writes into (or clears) a directory that holds something else, such as a real `alert-analyst.db`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from receiver.errors import ReceiverError

MARKER = ".alert-analyst-demo"
# What a run leaves besides configs and logs (which the next run overwrites).
RUN_DATA = (
    "prometheus/data",
    "prometheus/history.om",
    "alertmanager/am-data",
    "alert-analyst.db",
    "alert-analyst.db-wal",
    "alert-analyst.db-shm",
)
# A workdir of a demo version that wrote no marker yet.
_EARLIER_LAYOUT = ("alert-analyst.yml", "prometheus/trading-demo.rules.yml")


class WorkdirUnusable(ReceiverError):
    """The --workdir cannot be created or written, or holds something other than a demo run."""


def is_demo_workdir(path: Path) -> bool:
    return (path / MARKER).exists() or all((path / name).exists() for name in _EARLIER_LAYOUT)


def prepare_workdir(path: Path) -> tuple[Path, list[str]]:
    """`path` made absolute, created and marked as the demo's; returns it and the earlier run's data it
    removed (relative names). Raises WorkdirUnusable with a message that says what to do."""
    workdir = path.expanduser().absolute()
    if workdir.exists() and not workdir.is_dir():
        raise WorkdirUnusable(f"--workdir {workdir} is a file; name a new or empty directory")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        if any(workdir.iterdir()) and not is_demo_workdir(workdir):
            raise WorkdirUnusable(
                f"--workdir {workdir} is not empty and no earlier demo run used it; "
                "name a new or empty directory"
            )
        removed = [name for name in RUN_DATA if _remove(workdir / name)]
        (workdir / MARKER).write_text("a working directory of `alert-analyst demo`\n")
    except OSError as exc:
        raise WorkdirUnusable(f"--workdir {workdir} cannot be used: {exc.strerror or exc}") from exc
    return workdir, removed


def _remove(path: Path) -> bool:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
        return True
    if path.exists() or path.is_symlink():
        path.unlink()
        return True
    return False
