"""A database written by a newer alert-analyst (a schema version above the known migrations) is refused."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from receiver.errors import StorageUnusable
from receiver.storage import migrations
from receiver.storage.database import Store, open_database
from receiver.storage.migrations import NewerSchemaError

KNOWN = len(migrations.MIGRATIONS)
REPO = Path(__file__).resolve().parents[2]


def newer_database(path: Path) -> Path:
    open_database(path).conn.close()
    db = open_database(path)  # the current version opens again
    assert db.execute("PRAGMA user_version").fetchone()[0] == KNOWN
    db.conn.close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={KNOWN + 1}")
    conn.close()
    return path


def expected_message(path: Path) -> str:
    return (
        f"storage.path {path}: database schema version {KNOWN + 1} is newer than this alert-analyst knows"
        f" ({KNOWN}): upgrade alert-analyst or use another storage.path"
    )


def test_opening_a_database_of_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = newer_database(tmp_path / "db.sqlite")
    with pytest.raises(NewerSchemaError) as raised:
        open_database(path)
    assert str(raised.value) == expected_message(path)
    assert isinstance(raised.value, StorageUnusable)
    with pytest.raises(NewerSchemaError):
        Store(path)
    conn = sqlite3.connect(path)  # left as it was
    assert conn.execute("PRAGMA user_version").fetchone()[0] == KNOWN + 1
    conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_exits_with_the_message_on_a_newer_database(tmp_path: Path) -> None:
    path = newer_database(tmp_path / "db.sqlite")
    command = [sys.executable, "-m", "receiver", "serve", "--storage.path", str(path)]
    command += ["--web.listen-address", f"127.0.0.1:{free_port()}", "--log.level", "error"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=REPO)
    except subprocess.TimeoutExpired:
        pytest.fail("serve kept running on a database of a newer schema version")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()  # one JSON line, as every other start-up refusal
    event = json.loads(line)
    assert (event["event"], event["level"], event["error"]) == (
        "startup_failed",
        "error",
        expected_message(path),
    )


def test_a_sqlite_library_too_old_for_the_schema_is_named_before_any_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite before 3.35 has no ALTER TABLE DROP COLUMN (migration 5): a start failed with `near "DROP":
    syntax error`, half-way through the migrations, on a Python built with the system's older SQLite."""
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    path = tmp_path / "db.sqlite"
    with pytest.raises(StorageUnusable) as raised:
        open_database(path)
    assert str(raised.value) == (
        f"storage.path {path}: SQLite 3.34.1 is too old: the schema needs 3.35.0 or newer (a Python built"
        " with a newer SQLite, or the container image)"
    )
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()
