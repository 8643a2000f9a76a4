"""`alert-analyst serve`: load the configuration, bind the listener, check the storage path, run the app.

As Prometheus does, the listening sockets are bound before anything starts: a port in use, an address that
does not resolve or a storage directory that is missing or read-only is one logged line and exit code 1,
with no database opened and no worker started. A database that cannot be used (not a database, in use by
another receiver, a newer schema) is the same one line, `startup_failed`.
"""

from __future__ import annotations

import gc
import os
import socket
import sqlite3
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from receiver.config import load_settings
from receiver.errors import ReceiverError, StorageUnusable
from receiver.logs import configure_logging
from receiver.web.app import build_app
from receiver.web.reload import ConfigSource

log = structlog.get_logger("receiver.serve")

LISTEN_BACKLOG = 128  # aiohttp's own default


class StartupError(ReceiverError):
    """The receiver cannot start: the message names the setting and the reason."""


def tune_gc_for_serving() -> None:
    """Keep the cyclic GC off the ack path: the objects of start-up (modules, settings) are frozen out of
    every collection, and young collections run every 20,000 allocations instead of 700. Measured with
    `python -m bench.ingest`: p99 ack latency about halves under load (docs/benchmarks/ingest.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def listen_sockets(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address `host` resolves to (as asyncio's create_server binds them)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"web.listen_address: cannot resolve {host!r}: {exc.strerror}") from exc
    addresses = dict.fromkeys((family, address) for family, _, _, _, address in infos)
    sockets: list[socket.socket] = []
    for family, address in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sockets.append(sock)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
        except OSError as exc:
            for opened in sockets:
                opened.close()
            raise StartupError(
                f"web.listen_address: cannot listen on {_address_text(address)}: {exc.strerror or exc}"
            ) from exc
    return sockets


def _address_text(address: tuple[Any, ...]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_storage_path(path: str) -> None:
    """The SQLite file's directory must exist and take new files: WAL mode keeps `-wal` and `-shm` files
    beside the database, and start-up migrates it."""
    database = Path(path)
    directory = database.parent
    if database.is_dir():
        raise StartupError(f"storage.path: {path!r} is a directory; name a file in it")
    if not directory.is_dir():
        problem = "is not a directory" if directory.exists() else "does not exist"
        raise StartupError(
            f"storage.path: directory {str(directory)!r} {problem}: create it or choose another path"
        )
    if not os.access(directory, os.W_OK | os.X_OK) or (
        database.exists() and not os.access(database, os.R_OK | os.W_OK)
    ):
        raise StartupError(
            f"storage.path: {path!r} is not writable (a read-only file system, or owned by another user):"
            " the database and its write-ahead log need write access"
        )


def run_serve(config_file: str | None, overrides: dict[str, Any]) -> int:
    """Serve until SIGTERM/SIGINT: 0 on a clean stop, 1 when the receiver cannot start."""
    source = ConfigSource(config_file, overrides)
    settings = load_settings(source.path, overrides=source.overrides)
    configure_logging(settings.log.level, settings.log.format)
    try:
        check_storage_path(settings.storage.path)
        sockets = listen_sockets(settings.web.host, settings.web.port)
    except StartupError as exc:
        log.error("startup_failed", error=str(exc))
        return 1
    app = build_app(settings, config_source=source)
    tune_gc_for_serving()
    try:
        web.run_app(
            app,
            sock=sockets,
            print=None,
            access_log=None,
            shutdown_timeout=settings.pipeline.shutdown_timeout_seconds,
        )
    except sqlite3.Error as exc:
        log.error("startup_failed", error=f"storage.path: {settings.storage.path}: {exc}")
        return 1
    except StorageUnusable as exc:  # in use by another receiver, a newer schema: the message names the path
        log.error("startup_failed", error=str(exc))
        return 1
    finally:
        for sock in sockets:
            sock.close()
    return 0
