"""The async engine, its statement accounting, and sessions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import event
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
from sqlalchemy.pool import NullPool

from alumnet.observability import record_sql


def sync_url(async_url: str) -> str:
    """The same database through a synchronous driver (Alembic, scripts)."""
    url = make_url(async_url)
    if url.drivername == "sqlite+aiosqlite":
        url = url.set(drivername="sqlite")
    return url.render_as_string(hide_password=False)


def _instrument(engine: AsyncEngine, *, sqlite: bool) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(
        conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
    ) -> None:
        conn.info.setdefault("alumnet_started", []).append(time.perf_counter())

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(
        conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
    ) -> None:
        started = conn.info["alumnet_started"].pop()
        record_sql(time.perf_counter() - started)

    if sqlite:

        @event.listens_for(sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()


class Database:
    """One engine per process (and per event loop)."""

    def __init__(self, url: str, *, pool_size: int = 10, null_pool: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if null_pool:
            kwargs["poolclass"] = NullPool
        elif not self.is_sqlite:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size // 2, pool_pre_ping=False)
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        else:
            # Timestamps come back in UTC, as alumnet stores and serves them. Directory names
            # match by trigrams from a similarity of 0.45 (the default 0.3 lets a first name
            # alone match a two-word query, and makes the index return thousands of rows).
            kwargs["connect_args"] = {
                "options": "-c timezone=UTC -c pg_trgm.similarity_threshold=0.45"
            }
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        _instrument(self.engine, sqlite=self.is_sqlite)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

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


class Reader(Protocol):
    """Anything that lends a connection for reads: the Database, or one request's share."""

    def connect(self) -> AbstractAsyncContextManager[AsyncConnection]: ...


class SharedConnection:
    """One connection for all the reads of one request, lent to one caller at a time.

    Dataloader batches run concurrently and must not use one connection at once; taking
    turns on a single connection is as fast (a connection runs one statement at a time
    anyway) and saves a pool check-out and a rollback per statement.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._lock = asyncio.Lock()
        self._context: AbstractAsyncContextManager[AsyncConnection] | None = None
        self._connection: AsyncConnection | None = None

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        async with self._lock:
            if self._connection is None:
                self._context = self.database.engine.connect()
                connection = await self._context.__aenter__()
                # Reads need no transaction: autocommit spares a BEGIN and a ROLLBACK.
                self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            try:
                yield self._connection
            except BaseException:
                # A failed statement aborts the transaction on PostgreSQL: start afresh so
                # that the request's other reads still work.
                await self._connection.rollback()
                raise

    async def close(self) -> None:
        """Give the connection back (ending its snapshot); the next read takes a fresh one."""
        async with self._lock:
            context, self._context, self._connection = self._context, None, None
            if context is not None:
                await context.__aexit__(None, None, None)


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


async def inserted_id(session: Any, model: Any, values: dict[str, Any], conflict: list[str]) -> Any:
    """Like ``insert_or_ignore``, but the new row's primary key (None if none was added)."""
    statement: Any
    if session.bind.dialect.name == "postgresql":
        statement = postgresql_insert(model).values(**values)
    else:
        statement = sqlite_insert(model).values(**values)
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
    raw = await connection.get_raw_connection()
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    async with raw.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            await copy.write_row([
                Json(row[c]) if c in json_columns and row[c] is not None else row[c]
                for c in columns
            ])  # fmt: skip
