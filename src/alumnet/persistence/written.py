"""Which tables a committed transaction wrote, so that the aggregates cached on them
(``domain/analytics/cache.py``) are never served after a change to what they summarise.

Every statement a ``Database``'s engine runs passes ``before_cursor_execute``: a write
notes its tables in its connection's ``info``, and a DELETE also the tables its rows reach
through ``ON DELETE CASCADE`` and ``SET NULL`` foreign keys. The tables are read from the
statement object where there is one (an ORM flush, a Core INSERT, UPDATE or DELETE, an
upsert, a data-modifying CTE: their target tables, remembered per compiled statement), and
from the SQL text only for ``text()`` and ``exec_driver_sql`` (its first words, after any
leading comments; a ``WITH``'s every INSERT, UPDATE or DELETE). When that connection
commits, the tables noted go to the database's ``on_written`` after the commit has
succeeded and before ``commit()`` returns, so that the request that made a change answers
only once the change is announced; a rollback forgets them. A write on a connection in
autocommit mode is announced as soon as its statement has run. Nothing here runs SQL.

What is not seen: writes on the DB-API connection itself (``get_raw_connection()``), which
go around the engine's events, unless they note their tables (``note``: PostgreSQL's COPY
in ``db.copy_rows`` does); writes made outside alumnet's engines (psql, a restore, the
tests' clean-up); and what triggers write into other tables (today only search documents:
``profiles.search_*`` and SQLite's ``fts_profiles``). Savepoints rolled back still count
(more is announced, never less).
"""

from __future__ import annotations

import asyncio
import functools
import re
import weakref
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.sql.dml import Delete, UpdateBase
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import Alias, TableClause, TextualSelect
from sqlalchemy.sql.util import find_tables
from sqlalchemy.util.concurrency import await_, in_greenlet

from alumnet.observability import get_logger

log = get_logger(__name__)

# What is told of committed writes: the tables written (awaited before the commit
# returns). Calling it records them (a store owes what it could not yet make); awaiting it
# makes them known.
OnWritten = Callable[[frozenset[str]], Awaitable[None]]

# In a connection's ``info`` (kept with the pooled DB-API connection): the tables written
# by its transaction so far, and by its last statements run in autocommit mode.
_WRITTEN = "alumnet.written"
_WRITTEN_NOW = "alumnet.written.autocommit"

# While set (by the aggregates cache, outside production), the tables named by every
# statement run in this context: what a computation read, to compare with what it said it
# depends on.
READING: ContextVar[set[str] | None] = ContextVar("alumnet_tables_read", default=None)

# Comments and blanks before a statement's first word.
_LEADING = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)
_HEAD = re.compile(r"(\w+)")
_TARGET = (
    r"(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM"
    r"|MERGE\s+INTO|COPY|TRUNCATE(?:\s+TABLE)?)"
    r'\s+(?:ONLY\s+)?(?:"?\w+"?\s*\.\s*)?"?(\w+)"?'
)
_FIRST_TARGET = re.compile(_TARGET, re.IGNORECASE)
_ANY_TARGET = re.compile(r"\b" + _TARGET, re.IGNORECASE)
# Words that follow UPDATE without naming a table: `DO UPDATE SET`, `FOR UPDATE OF …`,
# `FOR UPDATE NOWAIT`, `FOR UPDATE SKIP LOCKED`.
_NOT_TABLES = frozenset({"set", "of", "nowait", "skip"})
_WRITING = frozenset({"insert", "update", "delete", "replace", "merge", "copy", "truncate"})
_NAMED = re.compile(r'\b(?:FROM|JOIN)\s+(?:ONLY\s+)?(?:"?\w+"?\s*\.\s*)?"?(\w+)"?', re.IGNORECASE)


@functools.cache
def _cascades() -> dict[str, frozenset[str]]:
    """For each table, the other tables a DELETE of its rows also changes: children deleted
    by ``ON DELETE CASCADE`` (and theirs, and so on), children set to NULL or a default."""
    from alumnet.persistence.models import Base

    children: dict[str, list[tuple[str, bool]]] = {}
    for table in Base.metadata.tables.values():
        for key in table.foreign_key_constraints:
            action = (key.ondelete or "").upper()
            if action in ("CASCADE", "SET NULL", "SET DEFAULT"):
                children.setdefault(key.referred_table.name, []).append(
                    (table.name, action == "CASCADE")
                )
    reached: dict[str, frozenset[str]] = {}
    for parent in children:
        seen: set[str] = set()
        deleting = [parent]
        while deleting:
            for child, deleted in children.get(deleting.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    if deleted:
                        deleting.append(child)
        seen.discard(parent)
        reached[parent] = frozenset(seen)
    return reached


def written_by(statement: str) -> frozenset[str]:
    """The tables an SQL text writes (none for a read), with what a DELETE cascades to."""
    start = _LEADING.match(statement)
    offset = start.end() if start else 0
    head = _HEAD.match(statement, offset)
    if head is None:
        return frozenset()
    word = head.group(1).lower()
    if word in _WRITING:
        first = _FIRST_TARGET.match(statement, offset)
        found = [(first.group(0), first.group(1))] if first else []
    elif word == "with":
        found = [(m.group(0), m.group(1)) for m in _ANY_TARGET.finditer(statement, offset)]
    else:
        return frozenset()
    tables: set[str] = set()
    for clause, name in found:
        name = name.lower()
        if name in _NOT_TABLES:
            continue
        tables.add(name)
        if clause[:6].upper() in ("DELETE", "TRUNCA"):
            tables |= _cascades().get(name, frozenset())
    return frozenset(tables)


# Compiled statements (SQLAlchemy keeps them in its statement cache) → the tables they
# write: read once per compiled statement.
_compiled_writes: weakref.WeakKeyDictionary[Any, frozenset[str]] = weakref.WeakKeyDictionary()


def _written_by_compiled(compiled: Any) -> frozenset[str]:
    found = _compiled_writes.get(compiled)
    if found is not None:
        return found
    statement = compiled.statement
    if isinstance(statement, TextualSelect):
        statement = statement.element
    if isinstance(statement, TextClause):
        found = written_by(statement.text)
    else:
        tables: set[str] = set()
        # The statement itself, and the INSERT, UPDATE or DELETE of its CTEs.
        for element in (statement, *(getattr(compiled, "ctes", None) or ())):
            element = getattr(element, "element", element)
            if not isinstance(element, UpdateBase):
                continue
            target = element.table
            if not isinstance(target, TableClause) or isinstance(target, Alias):
                tables |= written_by(compiled.string)  # an alias or a join: its text
                continue
            tables.add(target.name)
            if isinstance(element, Delete):
                tables |= _cascades().get(target.name, frozenset())
        found = frozenset(tables)
    _compiled_writes[compiled] = found
    return found


def named_by(statement: str) -> frozenset[str]:
    """The names an SQL text reads FROM or JOINs (tables, but also its CTEs' and aliases'
    names: compare with the tables that exist)."""
    return frozenset(m.group(1).lower() for m in _NAMED.finditer(statement))


def _read_by(compiled: Any, statement: str) -> frozenset[str]:
    """The tables a statement names: from its statement object (every FROM, `FROM a, b`
    included, subqueries and CTEs) and from its text (what the ORM adds when compiling)."""
    names = named_by(statement)
    if compiled is not None and not isinstance(compiled.statement, TextClause):
        try:
            found = find_tables(compiled.statement, include_crud=True)
        except Exception:  # a statement object find_tables does not walk: its text only
            return names
        names |= {t.name.lower() for t in found if isinstance(t, TableClause)}
    return names


def note(connection: Any, tables: Iterable[str]) -> None:
    """Count ``tables`` as written by ``connection``'s transaction (a sync or async
    connection), for writes that do not pass through the engine (COPY)."""
    connection.info.setdefault(_WRITTEN, set()).update(tables)


def _autocommit(conn: Any) -> bool:
    return bool(conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT")


def track(engine: Engine, written: Callable[[], OnWritten | None]) -> None:
    """Note the writes of ``engine``'s transactions and, once each has committed, hand its
    tables to ``written()`` (looked up at each commit; None: nobody needs to know)."""
    dialect = engine.dialect
    autocommitted = [0]  # writes in autocommit mode waiting to be announced (rare)

    @event.listens_for(engine, "before_cursor_execute")
    def _noted(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: Any
    ) -> None:
        compiled = getattr(context, "compiled", None)
        reading = READING.get()
        if reading is not None:
            reading.update(_read_by(compiled, statement))
        if written() is None:
            return
        if compiled is not None:
            tables = _written_by_compiled(compiled)
        elif statement.startswith("SELECT"):
            return
        else:  # exec_driver_sql: its text is all there is
            tables = written_by(statement)
        if not tables:
            return
        if _autocommit(conn):
            conn.info.setdefault(_WRITTEN_NOW, set()).update(tables)
            autocommitted[0] += 1
        else:
            conn.info.setdefault(_WRITTEN, set()).update(tables)

    @event.listens_for(engine, "after_cursor_execute")
    def _ran(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: Any) -> None:
        if autocommitted[0]:
            tables = conn.info.pop(_WRITTEN_NOW, None)
            if tables:
                autocommitted[0] = max(0, autocommitted[0] - 1)
                _announce(written(), tables)

    @event.listens_for(engine, "rollback")
    def _rolled_back(conn: Any) -> None:
        # An invalidated connection's info is gone with it (and asking would reconnect).
        if not conn.closed and not conn.invalidated:
            conn.info.pop(_WRITTEN, None)

    # SQLAlchemy's connection events end with `commit`, which runs before the DB-API
    # commit; what committed is announced after it, from the dialect's commit itself (every
    # commit of this engine passes here: sessions, connections, `write_patiently`).
    commit = dialect.do_commit

    def do_commit(dbapi_connection: Any) -> None:
        commit(dbapi_connection)
        tables = dbapi_connection.info.pop(_WRITTEN, None)
        if tables:
            _announce(written(), tables)

    dialect.do_commit = do_commit  # type: ignore[method-assign]


_telling: set[asyncio.Future[None]] = set()


def _told(telling: asyncio.Future[None]) -> None:
    _telling.discard(telling)
    if not telling.cancelled() and telling.exception() is not None:
        log.error("written_tables_announce_failed", error=repr(telling.exception()))


def _announce(callback: OnWritten | None, tables: set[str]) -> None:
    """Tell ``callback``, and wait for it (SQLAlchemy's async engine runs this in its
    greenlet). Never raises what is not a process's exit: what it tells about has committed.

    The telling is shielded: if the task committing is cancelled meanwhile (a request's
    deadline, a worker's shutdown), the telling goes on (what it could not make is owed),
    the commit returns as the success it is, and the cancellation is delivered at the
    task's next ``await`` instead."""
    if callback is None:
        return
    changed = frozenset(tables)
    try:
        telling = asyncio.ensure_future(callback(changed))  # calling it records what is owed
    except Exception:
        log.exception("written_tables_announce_failed", tables=sorted(changed))
        return
    _telling.add(telling)
    telling.add_done_callback(_told)
    if not in_greenlet():  # the async engine used synchronously (never in alumnet): told soon
        return
    try:
        await_(asyncio.shield(telling))
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # Undo this delivery and ask again: the same cancellation, one await later.
            task.uncancel()
            task.cancel()
        else:
            log.warning("written_tables_announce_cancelled", tables=sorted(changed))
    except Exception:
        log.exception("written_tables_announce_failed", tables=sorted(changed))
