"""SQLite through sqlite-utils: WAL mode, versioned migrations, one writer thread off the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlite_utils
import structlog

from receiver.storage.checkpoint import DEFAULT_MAX_WAL_BYTES, WalCheckpointer, file_bytes, wal_cap
from receiver.storage.lock import DatabaseLock
from receiver.storage.migrations import migrate
from receiver.storage.search_index import Rebuilt, damaged_indexes, is_damage, rebuild_index

log = structlog.get_logger("receiver.storage")

P = ParamSpec("P")
T = TypeVar("T")
_PendingWrite = tuple[Callable[[sqlite_utils.Database], object], tuple[object, ...], "asyncio.Future[object]"]
_Outcome = tuple["asyncio.Future[object]", object, BaseException | None]
# After a check of the search indexes found none damaged (or could not rebuild one), the next check waits
# this long: damage elsewhere keeps failing writes, and each check reads both whole indexes.
INDEX_CHECK_INTERVAL = 60.0


def open_database(
    path: str | Path, synchronous: str = "NORMAL", busy_timeout: float = 5.0
) -> sqlite_utils.Database:
    """Open (creating if needed) and migrate the database at `path` (":memory:" allowed).

    WAL with synchronous=NORMAL keeps every committed transaction across a process crash; FULL also
    across power loss.
    """
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=busy_timeout)
    try:
        db = sqlite_utils.Database(conn)
        if str(path) != ":memory:":
            db.enable_wal()
        conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        migrate(db)
    except BaseException:
        conn.close()
        raise
    return db


def open_reader(path: str, writer: sqlite_utils.Database, busy_timeout: float) -> sqlite_utils.Database:
    """A query-only connection to the (migrated) database at `path`; the writer's own for ":memory:"."""
    if path == ":memory:":
        return writer
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=busy_timeout)
    conn.execute("PRAGMA query_only=ON")
    return sqlite_utils.Database(conn)


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back if the body raises (raw SQL only inside: sqlite-utils
    helpers such as `table.insert` would commit early)."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def in_one_snapshot(db: sqlite_utils.Database, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """`fn(db, ...)` inside one read transaction: each of its statements sees the database as the first
    one did, whatever the writer commits meanwhile (a count and the rows it counts agree)."""
    db.conn.execute("BEGIN")
    try:
        return fn(db, *args, **kwargs)
    finally:
        if db.conn.in_transaction:
            db.conn.execute("COMMIT")  # read only: nothing to keep or undo


def run_in_transaction(db: sqlite_utils.Database, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """`fn(db, ...)` inside one `transaction`."""
    with transaction(db):
        return fn(db, *args, **kwargs)


def fetch_all(db: sqlite_utils.Database, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Rows of a query as dicts keyed by column name."""
    cursor = db.conn.execute(sql, tuple(params))
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def fetch_one(db: sqlite_utils.Database, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
    rows = fetch_all(db, sql, params)
    return rows[0] if rows else None


class Store:
    """Runs every database call on one dedicated thread, so the event loop never blocks on SQLite.

    `write` group-commits: writes queued while the thread is busy share one transaction, and every caller
    resumes only after COMMIT. If one of them raises, the batch is rolled back and each write is retried
    in a transaction of its own, so one failure never undoes the others; if the transaction cannot start
    (the write lock held elsewhere past the busy timeout), the whole batch fails at once.
    Functions given to `write` must not manage transactions themselves (raw SQL, no `with db.conn`).

    A file is open in one process at a time (`DatabaseLock`): a Store in a second process raises
    StorageLockError before it reads or migrates anything.

    A write that fails on a damaged page has the full-text indexes checked: a damaged one (derived data,
    `search_index`) is rebuilt and the failed writes run again, so an index never stops the primary work.
    """

    def __init__(
        self,
        path: str | Path,
        synchronous: str = "NORMAL",
        *,
        busy_timeout: float = 5.0,
        max_wal_bytes: int = DEFAULT_MAX_WAL_BYTES,
    ) -> None:
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.max_wal_bytes = max_wal_bytes
        self._lock_file = None if self.path == ":memory:" else DatabaseLock.acquire(self.path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        try:
            self.db = self._executor.submit(open_database, self.path, synchronous, busy_timeout).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            self._release_lock()
            raise
        self.last_write = time.monotonic()
        self.last_write_error: tuple[float, str] | None = None
        self.search_index_problem: str | None = None  # a damaged full-text index not rebuilt yet
        self.on_search_index_rebuilt: Callable[[Rebuilt], None] | None = None
        self._next_index_check = 0.0
        self.checkpointer: WalCheckpointer | None = None
        if self.path != ":memory:":
            self._executor.submit(self.db.conn.execute, "PRAGMA wal_autocheckpoint=0").result()
            self.checkpointer = WalCheckpointer(
                self.path, lambda: self.last_write, max_wal_bytes=max_wal_bytes, busy_timeout=busy_timeout
            )
            self.checkpointer.start()
        self._pending: list[_PendingWrite] = []
        self._lock = threading.Lock()
        self._flush_scheduled = False
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-read")
        self._reader_db = self._reader.submit(open_reader, self.path, self.db, busy_timeout).result()

    def wal_bytes(self) -> int:
        return file_bytes(self.path + "-wal")

    def database_bytes(self) -> int:
        return file_bytes(self.path)

    def recent_write_error(self, within: float = 30.0) -> str | None:
        """Why writes failed, if one was refused in the last `within` seconds (disk full, read-only, a
        damaged file: `refuses_writes`), else None."""
        error = self.last_write_error
        if error is not None and time.monotonic() - error[0] < within:
            return error[1]
        return None

    def write_lock_free(self, wait: float) -> bool:
        """Whether a write could take the lock within `wait` seconds (nothing is written; True in memory);
        sqlite3.Error when it cannot for another reason (read-only, not openable). Call from a thread."""
        if self.path == ":memory:":
            return True
        probe = sqlite3.connect(self.path, timeout=wait, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode == sqlite3.SQLITE_BUSY:
                return False
            raise
        finally:
            probe.close()
        return True

    async def write(
        self, fn: Callable[Concatenate[sqlite_utils.Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `fn(db, *args)` in a group-committed transaction; returns after the data is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()

        def call(db: sqlite_utils.Database) -> object:
            return fn(db, *args, **kwargs)

        with self._lock:
            self._pending.append((call, (), future))
            schedule = not self._flush_scheduled
            self._flush_scheduled = True
        if schedule:
            self._executor.submit(self._flush, loop)
        return await future  # type: ignore[return-value]

    def write_sync(
        self, fn: Callable[Concatenate[sqlite_utils.Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`write` for synchronous code (CLI, tests): one transaction of its own."""

        def call() -> T:
            return run_in_transaction(self.db, lambda db: fn(db, *args, **kwargs))

        return self._executor.submit(call).result()

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._flush_scheduled = False
        if not batch:
            return
        if self.checkpointer is not None and self.wal_bytes() > wal_cap(self.path, self.max_wal_bytes):
            self._truncate_wal()
        try:
            outcomes = self._run_batch(batch)
        except Exception:  # one call failed: the batch was rolled back; give each its own transaction
            outcomes = [self._run_alone(call, future) for call, _, future in batch]
        if any(e is not None and is_damage(e) for _, _, e in outcomes) and self._repair_search_indexes():
            outcomes = [
                self._run_alone(call, future) if error is not None else (future, result, error)
                for (call, _, _), (future, result, error) in zip(batch, outcomes, strict=True)
            ]
        self._note_outcomes(outcomes)
        loop.call_soon_threadsafe(_settle_all, outcomes)

    async def _repair_for_reader(self, damage: BaseException) -> bool:
        """`_repair_search_indexes` (on the writer's thread) for a reader that met `damage`; while none
        could be rebuilt, readiness notes it."""
        loop = asyncio.get_running_loop()
        if await loop.run_in_executor(self._executor, self._repair_search_indexes):
            return True
        self.search_index_problem = self.search_index_problem or (
            f"full-text index damaged ({damage}): memory recall and search degraded until it is rebuilt"
        )
        return False

    def _repair_search_indexes(self) -> bool:
        """Rebuild the full-text indexes that are damaged; whether one was. At most one check every
        INDEX_CHECK_INTERVAL unless the last one rebuilt something."""
        if time.monotonic() < self._next_index_check:
            return False
        self._next_index_check = time.monotonic() + INDEX_CHECK_INTERVAL
        try:
            damaged = damaged_indexes(self.db)
        except sqlite3.Error as exc:
            log.warning("search_index_check_failed", error=str(exc))
            return False
        left = []
        for name in damaged:
            try:
                rebuilt = rebuild_index(self.db, name)
            except sqlite3.Error as exc:
                log.error("search_index_rebuild_failed", index=name, error=str(exc))
                left.append(name)
                continue
            log.warning(
                "search_index_rebuilt",
                index=name,
                reason="damaged",
                unlinked=rebuilt.unlinked,
                hint="its old pages stay unused until a VACUUM" if rebuilt.unlinked else None,
            )
            if self.on_search_index_rebuilt is not None:
                self.on_search_index_rebuilt(rebuilt)
        self.search_index_problem = (
            f"full-text index damaged, rebuild failed: {', '.join(left)} (memory recall and search"
            f" degraded; tried again when a write fails, at most every {INDEX_CHECK_INTERVAL:g} s)"
            if left
            else None
        )
        if len(left) < len(damaged):
            self._next_index_check = 0.0
        return len(left) < len(damaged)

    def _truncate_wal(self) -> None:
        """Over the cap (`wal_cap`): checkpoint and truncate here, on the writer's own thread, before the
        next batch (a checkpoint from another connection rarely wins the lock from a writer that never
        pauses). Before, not after: after a full disk the first batch once space is freed finds the WAL
        checkpointed, instead of growing it into the space its checkpoint needs.

        While another connection's checkpoint holds the checkpoint lock, SQLite answers busy at once, without
        the busy handler; the writer retries until the busy timeout rather than write on. Writing on, it grew
        the WAL to 98 MiB in CI (one slow checkpoint, 1.2 GiB written in 6 s) over a 2-MiB cap.
        """
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.001
        while True:
            try:
                busy = self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:
                log.warning("wal_checkpoint_failed", mode="TRUNCATE", error=str(exc))
                return
            if not busy:
                if self.checkpointer is not None:
                    self.checkpointer.truncations += 1
                return
            if time.monotonic() >= deadline:
                log.warning("wal_truncate_busy", wal_bytes=self.wal_bytes(), waited_seconds=self.busy_timeout)
                return
            time.sleep(pause)
            pause = min(2 * pause, 0.05)

    def _note_outcomes(self, outcomes: list[_Outcome]) -> None:
        """Remember when writes last happened and whether the database refused them (for readiness)."""
        self.last_write = time.monotonic()
        refused = [e for _, _, e in outcomes if e is not None and refuses_writes(e)]
        if refused:
            self.last_write_error = (self.last_write, f"writes fail: {refused[0]}")
        elif len(refused) < len(outcomes):
            self.last_write_error = None

    def _run_batch(self, batch: list[_PendingWrite]) -> list[_Outcome]:
        """The batch in one transaction. If the transaction cannot even start (the write lock held
        elsewhere past the busy timeout, a file that refuses writes), every write fails with that error:
        retried alone, each would wait the busy timeout again, so waits grew with the queue."""
        begun = False
        try:
            with transaction(self.db):
                begun = True
                return [(future, call(self.db), None) for call, _, future in batch]
        except sqlite3.Error as exc:
            if begun:
                raise
            return [(future, None, exc) for _, _, future in batch]

    def _run_alone(
        self, call: Callable[[sqlite_utils.Database], object], future: asyncio.Future[object]
    ) -> _Outcome:
        try:
            return (future, run_in_transaction(self.db, call), None)
        except Exception as exc:
            return (future, None, exc)

    async def run(
        self, fn: Callable[Concatenate[sqlite_utils.Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `fn(db, *args, **kwargs)` on the database thread and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self.db, *args, **kwargs))

    def run_sync(
        self, fn: Callable[Concatenate[sqlite_utils.Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Same as `run`, from synchronous code (CLI, tests)."""
        return self._executor.submit(fn, self.db, *args, **kwargs).result()

    async def read(
        self, fn: Callable[Concatenate[sqlite_utils.Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run a read-only `fn(db, *args, **kwargs)` on a second connection and thread: a long read (WAL
        lets it run beside the writer) never holds up the thread every webhook's commit waits for. Its
        statements see one state of the database (`in_one_snapshot`)."""
        if self._reader_db is self.db:  # ":memory:": one connection, so its thread
            return await self.run(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        reader = self._reader_db
        return await loop.run_in_executor(self._reader, lambda: in_one_snapshot(reader, fn, *args, **kwargs))

    async def read_searching(
        self, fn: Callable[Concatenate[sqlite_utils.Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`read` for a query of the full-text indexes: when it meets a damaged one (derived data), the
        indexes are rebuilt and it is asked again; the damage is raised when none could be rebuilt."""
        try:
            return await self.read(fn, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc) or not await self._repair_for_reader(exc):
                raise
        return await self.read(fn, *args, **kwargs)

    def close(self) -> None:
        """Close the connection after every queued call has run."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        if self._reader_db is not self.db:
            self._reader.submit(self._reader_db.conn.close).result()
        self._reader.shutdown(wait=True)
        self._executor.submit(self.db.conn.close).result()
        self._executor.shutdown(wait=True)
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.release()


def refuses_writes(error: BaseException) -> bool:
    """Whether a failed write says the database takes no writes now (full, read-only, an I/O error, a
    damaged file) rather than that one write was wrong (a constraint). A lock held elsewhere is not
    counted: the readiness probe sees it while it lasts."""
    if isinstance(error, sqlite3.OperationalError):
        return "locked" not in str(error)
    # A damaged file raises the base class: "database disk image is malformed", "file is not a database".
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    return type(error) is sqlite3.DatabaseError and code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _settle_all(outcomes: list[_Outcome]) -> None:
    for future, result, error in outcomes:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
