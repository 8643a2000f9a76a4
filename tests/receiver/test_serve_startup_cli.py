"""`alert-analyst serve` that cannot start: a port in use, a storage path in a missing directory or in a
file that is not a database. Exit 1 at once with one logged line naming the setting, never a traceback;
the listener is bound before the database is opened (as Prometheus does), so a port in use touches no
storage."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from demo.processes import free_port


def serve(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "receiver", "serve", "--log.format=json", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def startup_failure(result: subprocess.CompletedProcess[str]) -> str:
    """The error of the one `startup_failed` line; fails on a traceback or another exit code."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    event = json.loads(line)
    assert event["event"] == "startup_failed" and event["level"] == "error"
    return str(event["error"])


def test_a_port_in_use_is_one_line_and_no_database_is_created(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = serve(f"--web.listen-address=127.0.0.1:{port}", f"--storage.path={tmp_path / 'a.db'}")
    error = startup_failure(result)
    assert error.startswith(f"web.listen_address: cannot listen on 127.0.0.1:{port}: "), error
    assert "in use" in error
    assert not (tmp_path / "a.db").exists()


def test_a_storage_path_in_a_missing_directory_is_named(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "a.db"
    error = startup_failure(serve(f"--web.listen-address=127.0.0.1:{free_port()}", f"--storage.path={path}"))
    assert error.startswith(f"storage.path: directory {str(path.parent)!r} does not exist: create it"), error


def test_a_storage_path_under_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    path = tmp_path / "plain" / "a.db"
    error = startup_failure(serve(f"--web.listen-address=127.0.0.1:{free_port()}", f"--storage.path={path}"))
    assert error.startswith("storage.path: ") and "is not a directory" in error, error


def test_a_storage_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not SQLite at all\n" * 100)
    error = startup_failure(serve(f"--web.listen-address=127.0.0.1:{free_port()}", f"--storage.path={path}"))
    assert error == f"storage.path: {path}: file is not a database"
