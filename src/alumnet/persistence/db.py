"""The async engine, its statement accounting, and sessions."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, NullPool
from sqlalchemy.util.concurrency import await_

from alumnet import tracing
from alumnet.observability import (
    DB_POOL_CAPACITY,
    DB_POOL_IN_USE,
    DB_POOL_WAITING,
    count_read,
    get_logger,
    record_sql,
)
from alumnet.persistence import trigrams, written

if TYPE_CHECKING:
    from alumnet.persistence.replicas import Replicas

log = get_logger(__name__)

# The key, in every ORM session's ``info``, of its database's credentials callback.
CREDENTIALS_CALLBACK = "alumnet.credentials.callback"


def sync_url(async_url: str) -> str:
    """The same database through a synchronous driver (Alembic, scripts)."""
    url = make_url(async_url)
    if url.drivername == "sqlite+aiosqlite":
        url = url.set(drivername="sqlite")
    return url.render_as_string(hide_password=False)


# SQLite calls the progress handler every this many virtual-machine steps (some
# microseconds of work): often enough to stop a statement soon after its deadline.
PROGRESS_STEPS = 10_000
# Where a SQLite connection's record keeps the deadline (time.monotonic()) of the
# statement it is running; 0.0 while it runs none.
_DEADLINE = "alumnet.deadline"


def _instrument(
    engine: AsyncEngine, *, sqlite: bool, lock_timeout: float, statement_timeout: float | None
) -> None:
    sync_engine = engine.sync_engine
    # SQLite has no statement timeout: a progress handler interrupts a statement past its
    # deadline ("interrupted", see ``is_timeout``). PostgreSQL's is set at connect.
    deadlines = sqlite and bool(statement_timeout)

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(
        conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
    ) -> None:
        if sqlite and _locks_rows(context):
            _take_write_lock(cursor)
        if deadlines:
            conn.connection.info[_DEADLINE][0] = time.monotonic() + (statement_timeout or 0)
        conn.info.setdefault("alumnet_started", []).append(time.perf_counter())

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(
        conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
    ) -> None:
        if deadlines:
            conn.connection.info[_DEADLINE][0] = 0.0
        started = conn.info["alumnet_started"].pop()
        record_sql(time.perf_counter() - started)

    if deadlines:

        @event.listens_for(sync_engine, "handle_error")
        def _failed(context: Any) -> None:
            # A failed statement has no after_cursor_execute: its deadline ends here, so
            # that it does not interrupt the ROLLBACK or whatever the connection runs next.
            with contextlib.suppress(Exception):
                context.connection.connection.info[_DEADLINE][0] = 0.0

    if sqlite:

        @event.listens_for(sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, record: Any) -> None:
            if deadlines:
                holder = record.info[_DEADLINE] = [0.0]

                def _past_deadline() -> int:
                    # In aiosqlite's thread: a non-zero answer interrupts the statement.
                    until = holder[0]
                    return 1 if until and time.monotonic() > until else 0

                await_(dbapi_conn.driver_connection.set_progress_handler(
                    _past_deadline, PROGRESS_STEPS
                ))  # fmt: skip
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # How long a write waits for SQLite's one write lock (another writer's turn).
            cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            # pg_trgm's similarity measures, so that searches forgive misspellings here too.
            trigrams.register(dbapi_conn)


def _locks_rows(context: Any) -> bool:
    """Whether the statement is a SELECT ... FOR UPDATE (which SQLite's compiler drops)."""
    compiled = getattr(context, "compiled", None)
    statement = getattr(compiled, "statement", None)
    return getattr(statement, "_for_update_arg", None) is not None


def _take_write_lock(cursor: Any) -> None:
    """SQLite has no row locks, and begins a transaction only at its first write: two
    transactions could both read a row and then both write over it (two graders, each
    adding the difference to the points). A transaction that reads FOR UPDATE takes the
    database's one write lock first (waiting for it up to the lock timeout), so what it
    reads stays as it is until it commits. Already in a transaction, it has written, so
    it holds the lock."""
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except Exception as exc:
        if "within a transaction" not in str(exc):
            raise


def is_timeout(exc: BaseException) -> bool:
    """Whether a statement was cancelled for running past the statement timeout
    (PostgreSQL's query_canceled, SQLite's interruption by the progress handler)."""
    if not isinstance(exc, sa_exc.OperationalError | sa_exc.DBAPIError):
        return False
    original = exc.orig
    if getattr(original, "sqlstate", None) == "57014":  # query_canceled
        return True
    return type(original).__name__ == "OperationalError" and str(original) == "interrupted"


def is_busy(exc: BaseException) -> bool:
    """Whether a failure means "the database is busy, try again shortly" rather than a
    fault: no pooled connection came free in time, SQLite's write lock stayed taken, or
    the server could not be reached (``is_unavailable``)."""
    if isinstance(exc, sa_exc.TimeoutError | DatabaseBusy):
        return True
    if isinstance(exc, sa_exc.OperationalError) and "database is locked" in str(exc.orig):
        return True
    return is_unavailable(exc)


# PostgreSQL's words for "going away, or not back yet": admin_shutdown, crash_shutdown,
# cannot_connect_now (starting up, shutting down, in recovery), idle_session_timeout; and
# every connection_exception (class 08).
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P05"})
# psycopg's words for a connection that could not be made ("connection failed: …",
# "connection is bad: …") or that broke under a statement; none of them a fault of the
# program, which "another command is already in progress" and the like are.
_CONNECT_FAILED = ("connection failed:", "connection is bad:", "connection timeout expired")
_CONNECTION_LOST = (
    "server closed the connection unexpectedly",
    "the connection is lost",
    "could not receive data from server",
    "could not send data to server",
)
# …unless the server refused who connects, or what to: a mistake in the settings, which
# an operator must see (logged as an error), not a moment's absence.
_MISCONFIGURED = ("authentication failed", "pg_hba.conf", "does not exist")


def is_unavailable(exc: BaseException) -> bool:
    """Whether the database server could not be reached, or dropped the connection (a
    restart, a failover), so that the same request may simply be sent again in a moment
    (the pool has thrown the broken connection away). Only such failures: SQLAlchemy's
    ``connection_invalidated`` (the connection broke), a SQLSTATE of class 08 or of the
    server going away or not back yet, or psycopg's words for a connection that could
    not be made or was lost. Any other error (a fault of the program, a refused password)
    is not, and is logged as before. A connection lost during COMMIT is also unavailable:
    whether the transaction was kept is unknown (see ``CommitOutcomeUnknown``)."""
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    original = exc.orig
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is not None:
        return str(sqlstate).startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES
    if not (isinstance(original, Exception) and type(original).__module__.startswith("psycopg")):
        return False
    said = str(original)
    if any(words in said for words in _CONNECTION_LOST):
        return True
    failed = type(original).__name__ == "ConnectionTimeout" or said.startswith(_CONNECT_FAILED)
    return failed and not any(words in said for words in _MISCONFIGURED)


class CommitOutcomeUnknown(RuntimeError):
    """The connection was lost while COMMIT was on its way (``is_unavailable``): the
    transaction may have been kept or not. Unlike a failure before COMMIT, this is not
    safely retried: sending the same change again could make it twice."""


class DatabaseBusy(RuntimeError):
    """Work that found the database busy (see ``is_busy``), raised where the original
    error was turned into something else (a GraphQL error of a bulk query's page)."""


# How long a short write that must not be lost (the outcome of a job, the record that an
# e-mail went out) keeps trying while the database is busy.
WRITE_PATIENCE_SECONDS = 120.0


async def write_patiently(
    database: Database, statement: Any, patience: float = WRITE_PATIENCE_SECONDS
) -> None:
    """Run one short write in its own transaction, again and again (with growing pauses)
    while the database is busy, for up to ``patience`` seconds."""
    deadline = time.monotonic() + patience
    pause = 0.05
    while True:
        try:
            async with database.connect() as conn:
                await conn.execute(statement)
                await conn.commit()
            return
        except Exception as exc:
            if not is_busy(exc) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


def _counted_pool(name: str) -> type[AsyncAdaptedQueuePool]:
    """The async queue pool, counting the callers that wait for one of its connections."""

    class CountedPool(AsyncAdaptedQueuePool):
        def _do_get(self) -> ConnectionPoolEntry:
            waiting = DB_POOL_WAITING.labels(pool=name)
            waiting.inc()
            try:
                return super()._do_get()
            finally:
                waiting.dec()

    return CountedPool


class Database:
    """One engine per process (and per event loop).

    ``name`` labels its pool in ``/metrics`` ("api" for requests, "jobs" for the
    in-process queue's own). ``pool_timeout`` is how long a caller waits for a connection
    before ``sqlalchemy.exc.TimeoutError``, ``lock_timeout`` how long a write waits for
    SQLite's write lock before "database is locked" (see ``is_busy``).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int | None = None,
        pool_timeout: float = 30.0,
        lock_timeout: float = 10.0,
        statement_timeout: float | None = None,
        null_pool: bool = False,
        name: str = "api",
    ) -> None:
        if pool_size < 1 or pool_timeout <= 0:
            raise ValueError("a pool needs at least one connection and a positive timeout")
        self.url = url
        self.name = name
        self.is_sqlite = url.startswith("sqlite")
        self.capacity = 0
        kwargs: dict[str, Any] = {}
        if null_pool:
            kwargs["poolclass"] = NullPool
        else:
            overflow = pool_size // 2 if max_overflow is None else max_overflow
            kwargs.update(
                poolclass=_counted_pool(name),
                pool_size=pool_size,
                max_overflow=overflow,
                pool_timeout=pool_timeout,
                pool_pre_ping=False,
            )
            self.capacity = pool_size + overflow
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": lock_timeout}
        else:
            # Timestamps come back in UTC, as alumnet stores and serves them. Directory names
            # match by trigrams from a similarity of 0.45 (the default 0.3 lets a first name
            # alone match a two-word query, and makes the index return thousands of rows);
            # a misspelt word of a field from a word similarity of 0.45 ("pyton" is 0.5 like
            # "python"; the default 0.6 misses it).
            options = (
                "-c timezone=UTC -c pg_trgm.similarity_threshold=0.45"
                " -c pg_trgm.word_similarity_threshold=0.45"
            )
            if statement_timeout:
                options += f" -c statement_timeout={max(1, round(statement_timeout * 1000))}"
            kwargs["connect_args"] = {"options": options}
        self.statement_timeout = statement_timeout
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        tracing.instrument_engine(self.engine)  # a span per statement, when tracing is on
        _instrument(
            self.engine,
            sqlite=self.is_sqlite,
            lock_timeout=lock_timeout,
            statement_timeout=statement_timeout,
        )
        if self.capacity:
            self._count_checkouts()
        # What to do once a transaction of this database has committed a change to
        # credentials (persistence/credentials.py): set by the composition root.
        self.on_credentials: Callable[[frozenset[int] | None], None] | None = None
        # What to tell once a transaction of this database has committed writes to tables
        # (persistence/written.py; the aggregates cache's generations): set by the
        # composition root, None when nothing is cached.
        self.on_written: written.OnWritten | None = None
        written.track(self.engine.sync_engine, lambda: self.on_written)
        self.sessionmaker = async_sessionmaker(
            self.engine,
            expire_on_commit=False,
            info={CREDENTIALS_CALLBACK: self._credentials_changed},
        )

    def _credentials_changed(self, users: frozenset[int] | None) -> None:
        if self.on_credentials is not None:
            self.on_credentials(users)

    def _count_checkouts(self) -> None:
        in_use = DB_POOL_IN_USE.labels(pool=self.name)
        DB_POOL_CAPACITY.labels(pool=self.name).inc(self.capacity)

        @event.listens_for(self.engine.sync_engine, "checkout")
        def _out(*_: Any) -> None:
            in_use.inc()

        @event.listens_for(self.engine.sync_engine, "checkin")
        def _in(*_: Any) -> None:
            in_use.dec()

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (dataloaders, lists); each caller gets its own."""
        async with self.engine.connect() as conn:
            yield conn

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.capacity:
            DB_POOL_CAPACITY.labels(pool=self.name).dec(self.capacity)
            self.capacity = 0


class Reader(Protocol):
    """Anything that lends a connection for reads: the Database, or one request's share."""

    def connect(self) -> AbstractAsyncContextManager[AsyncConnection]: ...


# What a replica answers when a read must go to the primary instead: it is going away or
# unreachable (``is_unavailable``), it refused a write (read_only_sql_transaction), or it
# cancelled the statement for a conflict with the WAL it replays (serialization_failure,
# deadlock_detected).
_REPLICA_REFUSALS = frozenset({"25006", "40001", "40P01"})


def _replica_refused(exc: BaseException) -> bool:
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    return is_unavailable(exc) or getattr(exc.orig, "sqlstate", None) in _REPLICA_REFUSALS


class _ReplicaConnection(AsyncConnection):
    """A replica's connection whose statements, if the replica refuses them
    (``_replica_refused``), run again on the primary, as do the ones after them."""

    def __init__(self, engine: AsyncEngine, owner: SharedConnection) -> None:
        super().__init__(engine)
        self._owner = owner
        self._instead: AsyncConnection | None = None

    async def execute(  # type: ignore[override]
        self, statement: Any, parameters: Any = None, *, execution_options: Any = None
    ) -> Any:
        if self._instead is None:
            try:
                return await super().execute(
                    statement, parameters, execution_options=execution_options
                )
            except sa_exc.DBAPIError as exc:
                if not _replica_refused(exc):
                    raise
                self._instead = await self._owner._fall_back(exc)
        return await self._instead.execute(
            statement, parameters, execution_options=execution_options
        )

    async def exec_driver_sql(  # type: ignore[override]
        self, statement: str, parameters: Any = None, execution_options: Any = None
    ) -> Any:
        if self._instead is None:
            try:
                return await super().exec_driver_sql(statement, parameters, execution_options)
            except sa_exc.DBAPIError as exc:
                if not _replica_refused(exc):
                    raise
                self._instead = await self._owner._fall_back(exc)
        return await self._instead.exec_driver_sql(statement, parameters, execution_options)


async def _autocommit(connection: AsyncConnection) -> AsyncConnection:
    """Start a connection for reads. Kept only once it has started: a connection that never
    came (the pool timed out) leaves nothing to give back."""
    started = await connection.start()
    try:
        # Reads need no transaction: autocommit spares a BEGIN and a ROLLBACK.
        return await started.execution_options(isolation_level="AUTOCOMMIT")
    except BaseException:
        await started.close()
        raise


class SharedConnection:
    """One connection for all the reads of one request, lent to one caller at a time.

    Dataloader batches run concurrently and must not use one connection at once; taking
    turns on a single connection is as fast (a connection runs one statement at a time
    anyway) and saves a pool check-out and a rollback per statement.

    With read replicas (persistence/replicas.py), the request's first read after
    ``read_replica`` takes its connection from a replica fit to read, unless the reader
    wrote lately. Before that (signing the viewer in, which also notes a token's use) and
    after ``use_primary`` (a mutation, or any write), and for any connection after the
    first, the primary lends it. A statement a replica refuses (gone, read-only, a conflict
    with recovery) runs again on the primary, where the request's later reads stay.
    """

    def __init__(self, database: Database, replicas: Replicas | None = None) -> None:
        self.database = database
        self.replicas = replicas
        self._lock = asyncio.Lock()
        self._connection: AsyncConnection | None = None
        # Where the connection lent now came from (the primary, or a replica's Database).
        self.source: Database = database
        self._choose = False
        self._reader_id: int | None = None

    async def read_replica(self, reader_id: int | None) -> None:
        """Let the next read come from a replica (``reader_id``: who reads, None when
        signed out); a connection taken from the primary so far is given back first."""
        if self.replicas is None or not self.replicas.replicas:
            return
        async with self._lock:
            self._choose, self._reader_id = True, reader_id
            await self._give_back()

    async def use_primary(self) -> None:
        """Read only from the primary from now on (a connection from a replica is given
        back): the request changes, or is about to change, something."""
        if self.replicas is None:
            return
        async with self._lock:
            self._choose = False
            if self.source is not self.database:
                await self._give_back()

    async def _open(self) -> AsyncConnection:
        if self._choose:
            self._choose = False
            assert self.replicas is not None
            replica = await self.replicas.choose(self._reader_id)
            if replica is not None:
                try:
                    connection = await _autocommit(_ReplicaConnection(replica.engine, self))
                except Exception as exc:
                    # Unreachable, or its pool busy: the primary serves this request.
                    if is_unavailable(exc):
                        self.replicas.failed(replica, exc)
                else:
                    self.source = replica
                    return connection
        self.source = self.database
        return await _autocommit(self.database.engine.connect())

    async def _fall_back(self, exc: BaseException) -> AsyncConnection:
        """The replica refused a statement (the lock is held by the read that ran it): the
        primary lends the connection from now on."""
        replica, broken = self.source, self._connection
        if self.replicas is not None and is_unavailable(exc):
            self.replicas.failed(replica, exc)
        log.warning("replica_read_on_primary", error=type(exc).__name__,
                    sqlstate=getattr(getattr(exc, "orig", None), "sqlstate", None))  # fmt: skip
        self._choose = False
        self._connection = await self._open()
        if broken is not None:
            with contextlib.suppress(Exception):
                await broken.close()
        return self._connection

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        async with self._lock:
            if self._connection is None:
                self._connection = await self._open()
            if self.replicas is not None:
                count_read(replica=self.source is not self.database)
            try:
                yield self._connection
            except BaseException as exc:
                if self.source is not self.database and _replica_refused(exc):
                    assert self.replicas is not None
                    if is_unavailable(exc):
                        self.replicas.failed(self.source, exc)
                # A failed statement aborts the transaction on PostgreSQL: start afresh so
                # that the request's other reads still work (on a new connection if this
                # one cannot even roll back).
                try:
                    await self._connection.rollback()
                except Exception:
                    broken, self._connection = self._connection, None
                    with contextlib.suppress(Exception):
                        await broken.close()
                raise

    async def _give_back(self) -> None:
        connection, self._connection = self._connection, None
        self.source = self.database
        if connection is None:
            return
        try:
            await connection.close()
        except Exception as exc:
            log.warning("read_connection_close_failed", error=type(exc).__name__)

    async def close(self) -> None:
        """Give the connection back (ending its snapshot); the next read takes a fresh one.
        Never raises: it runs while a response, or another error, is being handled."""
        async with self._lock:
            await self._give_back()


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, any letter case (compare with lower()),
    its wildcards escaped (use ``escape="\\"``)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def insert_or_ignore(
    session: Any, model: Any, values: dict[str, Any], conflict: list[str]
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING, on PostgreSQL and SQLite: True if a row was added.

    Safe against a concurrent identical insert, without savepoints.
    """
    return await inserted_id(session, model, values, conflict) is not None


def upsert(session: Any, model: Any) -> Any:
    """The INSERT of this session's database that knows ``ON CONFLICT`` (PostgreSQL's or
    SQLite's; the two spell it the same way)."""
    on_postgresql = session.get_bind().dialect.name == "postgresql"
    return (postgresql_insert if on_postgresql else sqlite_insert)(model)


async def inserted_id(session: Any, model: Any, values: dict[str, Any], conflict: list[str]) -> Any:
    """Like ``insert_or_ignore``, but the new row's primary key (None if none was added)."""
    statement = upsert(session, model).values(**values)
    statement = statement.on_conflict_do_nothing(index_elements=conflict).returning(
        *model.__table__.primary_key.columns
    )
    # rowcount is not reliable for this statement across drivers; RETURNING is.
    row = (await session.execute(statement)).first()
    return None if row is None else row[0]


async def copy_rows(session: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """Many rows into one table, fast: PostgreSQL's COPY (a few microseconds a row, where
    an INSERT per row costs a hundred); an executemany INSERT elsewhere."""
    if not rows:
        return
    columns = list(rows[0])
    if session.bind.dialect.name != "postgresql":
        await session.execute(table.insert(), rows)
        return
    from psycopg.types.json import Json

    json_columns = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
    connection = await session.connection()
    # COPY goes around the engine's events: its table is noted as written here.
    written.note(connection, [table.name])
    raw = await connection.get_raw_connection()
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    async with raw.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            await copy.write_row([
                Json(row[c]) if c in json_columns and row[c] is not None else row[c]
                for c in columns
            ])  # fmt: skip
