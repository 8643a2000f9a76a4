"""What a benchmark checks before it runs: dataset paths, output paths and the binaries it starts.

A wrong input ends the command with one line, `python -m bench.NAME: message`, and exit status 2 (as
`alert-analyst diagnose` does), before any work: never a traceback minutes into a run, never a run that
quietly leaves a part out.

    BenchInputError        a dataset, output path or binary the benchmark cannot use
    BenchArgumentParser    argparse with one-line errors; `input_errors()` reports BenchInputError and
                           demo.processes.BinaryNotFound the same way
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from demo.processes import BinaryNotFound, find_binary


def shared_root() -> Path:
    """The shared datasets: $ALERT_ANALYST_SHARED, else `shared/` beside the checkout (`../shared`)."""
    configured = os.environ.get("ALERT_ANALYST_SHARED")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared"


SHARED = shared_root()


class BenchInputError(Exception):
    """A dataset, output path or binary a benchmark cannot use; the message names it and what to pass."""


class BenchArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr, `PROG: message`, and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {' '.join(message.split())}\n")

    @contextmanager
    def input_errors(self) -> Iterator[None]:
        """Inside: a BenchInputError or a missing Prometheus-stack binary ends the command like a bad flag."""
        try:
            yield
        except (BenchInputError, BinaryNotFound) as exc:
            self.error(str(exc))


def existing_dir(text: str) -> Path:
    """argparse type: a directory that exists."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text}: {'not a directory' if path.exists() else 'no such directory'}"
        )
    return path


def existing_file(text: str) -> Path:
    """argparse type: a file that exists."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: {'not a file' if path.exists() else 'no such file'}")
    return path


def output_file(text: str) -> Path:
    """argparse type: a file the run can write at its end, tried now (opened to append, not truncated;
    removed again if the try created it), so a wrong path costs no run."""
    path = Path(text)
    existed = path.exists()
    try:
        with path.open("a"):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{text}: cannot write here: {exc.strerror or exc}") from exc
    if not existed:
        path.unlink()
    return path


def output_dir(text: str) -> Path:
    """argparse type: a directory the run writes into, created if missing and tried with a scratch file."""
    path = Path(text)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{text}: cannot write here: {exc.strerror or exc}") from exc
    return path


def require_files(root: Path, relative: Iterable[str], what: str) -> None:
    """BenchInputError naming the first of `relative` missing under `root` (`what` says whose layout)."""
    for name in relative:
        if not (root / name).is_file():
            raise BenchInputError(f"{root / name}: no such file ({what})")


def require_binaries(*names: str) -> None:
    """BinaryNotFound (with the apt-get line) for the first of `names` not installed, before a run starts."""
    for name in names:
        find_binary(name)
