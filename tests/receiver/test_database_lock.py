"""One receiver process per database file: a Store (or `serve`) on a file another process has open is
refused, naming the holder. Two receivers on one file each swept the other's incidents: analyses and
deliveries were made twice."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from receiver.errors import StorageUnusable
from receiver.storage.database import Store
from receiver.storage.lock import StorageLockError
from receiver.storage.migrations import MIGRATIONS

REPO = Path(__file__).resolve().parents[2]
HOLD = (  # a Store open until stdin closes
    "import sys; from receiver.storage.database import Store; Store(sys.argv[1]);"
    " print('open', flush=True); input()"
)


@contextmanager
def held_elsewhere(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process with a Store open on `path`, until the block ends (then it is killed: -9)."""
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None
        assert "open\n" in iter(other.stdout.readline, "")  # after the log of its migrations
        yield other
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait(timeout=10)


def test_a_store_on_a_file_another_process_has_open_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with held_elsewhere(path) as other, pytest.raises(StorageLockError) as raised:
        Store(path)
    assert isinstance(raised.value, StorageUnusable)  # serve logs it as startup_failed and exits 1
    assert str(raised.value) == (
        f"storage.path {path}: the database is in use by another alert-analyst"
        f" (pid {other.pid} on {socket.gethostname()}): run one receiver per storage.path (stop the other,"
        " or give this one its own path)"
    )
    Store(path).close()  # killed with -9: nothing stale is left


def test_a_store_through_a_symlink_to_a_file_another_process_has_open_is_refused(tmp_path: Path) -> None:
    """The lock was named after the path as configured: through a symlink, both receivers started."""
    path = tmp_path / "db.sqlite"
    (tmp_path / "other").mkdir()
    linked_file = tmp_path / "other" / "link.db"
    linked_file.symlink_to(path)
    linked_directory = tmp_path / "linked-dir"
    linked_directory.symlink_to(tmp_path, target_is_directory=True)
    with held_elsewhere(path) as other:
        for link in (linked_file, linked_directory / "db.sqlite"):
            with pytest.raises(
                StorageLockError, match=f"in use by another alert-analyst \\(pid {other.pid} "
            ):
                Store(link)
    with held_elsewhere(linked_file), pytest.raises(StorageLockError, match="in use by another"):
        Store(path)


def test_a_store_that_fails_to_open_lets_another_process_open_the_file(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StorageUnusable, match="is newer than this alert-analyst knows"):
        Store(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS)}")
    conn.close()
    with held_elsewhere(path):  # not refused as "in use" by the failed attempt
        pass


def test_a_database_in_memory_takes_no_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Store(":memory:").close()
    assert list(tmp_path.iterdir()) == []


def _serve_command(path: Path, port: int) -> list[str]:
    command = [sys.executable, "-m", "receiver", "serve", "--storage.path", str(path)]
    return [*command, "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "error"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, "the first serve never became ready"
        time.sleep(0.1)


def test_a_second_serve_on_the_same_storage_path_exits_with_the_message(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    first_port = _free_port()
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(_serve_command(path, first_port), cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(first_port)
        second = subprocess.run(
            _serve_command(path, _free_port()), capture_output=True, text=True, timeout=30, cwd=REPO
        )
        assert second.returncode == 1
        holder = f"pid {first.pid} on {socket.gethostname()}"
        [line] = second.stderr.strip().splitlines()  # one JSON line, as every other start-up refusal
        event = json.loads(line)
        assert (event["event"], event["level"]) == ("startup_failed", "error")
        assert event["error"].startswith(
            f"storage.path {path}: the database is in use by another alert-analyst ({holder})"
        )
        assert first.poll() is None  # the first keeps serving
    finally:
        first.terminate()
        first.wait(timeout=30)
        log.close()
