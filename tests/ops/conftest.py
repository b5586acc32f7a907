"""Fixtures of operations tests: a PostgreSQL cluster of the tests' own (tests/servers.py)
with the alumnet schema and one streaming replica, for tests that stop, restart or slow
down a database server. PostgreSQL runs only: skipped when ALUMNET_TEST_DATABASE_URL is
unset (the SQLite run), or when this machine has no PostgreSQL programs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from alumnet.config import normalise_database_url
from alumnet.persistence import migrations
from tests.conftest import TEST_DATABASE_URL
from tests.servers import PG_BIN, PgCluster

DATABASE = "alumnet"


@dataclass
class Replicated:
    """A primary and its streaming replica, both running, holding the migrated alumnet
    database ``DATABASE``.

    Tests may stop, restart, or pause the replay of either server (``.primary``,
    ``.replica``: PgCluster), and must leave both running and replaying when they end
    (the fixture is shared by every test of the session): ``restored()`` does so. Rows a
    test writes stay; use names of its own.
    """

    primary: PgCluster
    replica: PgCluster

    @property
    def primary_url(self) -> str:
        """The primary's URL for Settings (postgresql+psycopg://…)."""
        return normalise_database_url(self.primary.url(DATABASE))

    @property
    def replica_url(self) -> str:
        return normalise_database_url(self.replica.url(DATABASE))

    def caught_up(self, timeout: float = 30.0) -> None:
        """Commit a transaction on the primary, and wait until the replica has replayed it
        (so that its replay lag starts from now)."""
        self.primary.sql("SELECT txid_current()", DATABASE)
        # Where WAL is inserted, not written: the cluster commits asynchronously
        # (synchronous_commit = off), so a commit can be ahead of the written WAL.
        lsn = self.primary.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0]
        deadline = time.monotonic() + timeout
        while not self.replica.sql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn")[0][0]:
            if time.monotonic() > deadline:
                raise AssertionError(f"the replica did not replay up to {lsn} in {timeout} s")
            time.sleep(0.01)

    def restored(self) -> None:
        """Both servers running, the replica replaying and caught up."""
        for server in (self.primary, self.replica):
            if not server._answers():
                server.start()
        if self.replica.sql("SELECT pg_is_wal_replay_paused()")[0][0]:
            self.replica.sql("SELECT pg_wal_replay_resume()")
        self.caught_up()


@pytest.fixture(scope="session")
def replicated() -> Iterator[Replicated]:
    """A primary (initdb on a free port) with the alumnet schema migrated, and one
    replica made from it by pg_basebackup; both destroyed at the end of the session."""
    if not TEST_DATABASE_URL:
        pytest.skip("needs PostgreSQL servers of its own (set ALUMNET_TEST_DATABASE_URL)")
    if PG_BIN is None:
        pytest.skip("needs PostgreSQL's programs (initdb, pg_ctl, pg_basebackup)")
    primary = PgCluster.primary()
    replica = None
    try:
        primary.sql(f'CREATE DATABASE "{DATABASE}"')
        migrations.upgrade(normalise_database_url(primary.url(DATABASE)))
        replica = primary.replica()
        made = Replicated(primary, replica)
        made.caught_up()
        yield made
    finally:
        if replica is not None:
            replica.destroy()
        primary.destroy()
