"""Read replicas, against a real streaming replica of the tests' own (tests/ops/conftest.py):
reads go to the replica (shown by pausing its replay: a row the primary has is not seen),
a mutation, the viewer who just wrote and someone who just signed in read from the
primary, a replica that lags past ALUMNET_REPLICA_MAX_LAG, is cut off from the primary or
is down sends reads to the primary and says so on /readyz (still ready), and one that
comes back is read again. Without replicas nothing changes."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from strawberry.relay import from_base64

from alumnet.config import ConfigurationError, load_settings
from alumnet.persistence.replicas import replica_name
from tests.conftest import Api, Mailbox
from tests.ops.conftest import Replicated

NAME = "query($id: ID!) { node(id: $id) { ... on User { name } } }"
RENAME = """mutation($id: ID!, $name: String!) { userUpdate(input: {id: $id, name: $name}) {
  user { name } userErrors { code message } } }"""
MAX_LAG = 3.0


@pytest.fixture(scope="module")
async def replica_api(
    replicated: Replicated, settings: Any, mailbox: Mailbox
) -> AsyncIterator[Api]:
    """An app on the cluster's primary that reads from its replica."""
    from alumnet.app import create_app
    from alumnet.bootstrap import close_runtime

    changed = replace(
        settings,
        database_url=replicated.primary_url,
        database_replica_urls=(replicated.replica_url,),
        replica_max_lag=MAX_LAG,
        queue_prefix=f"alumnet-test-{uuid.uuid4().hex[:8]}",
    )
    app = create_app(changed)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client=client, app=app, settings=changed, mailbox=mailbox)
    await app.state.dispatcher.queue.drain()
    await close_runtime(app.state.runtime, app.state.dispatcher)


async def _name(api: Api, token: str, user_id: str) -> str | None:
    body = await api.gql(NAME, {"id": user_id}, token)
    assert "errors" not in body, body
    node = body["data"]["node"]
    return None if node is None else str(node["name"])


async def _reads(api: Api) -> dict[str, float]:
    found = re.findall(r'alumnet_db_reads_total\{target="(\w+)"\} ([0-9.e+]+)', await api.metrics())
    return {target: float(count) for target, count in found}


async def _window_passed(api: Api, *user_ids: str) -> None:
    """As if ALUMNET_READ_YOUR_WRITES_SECONDS had passed since these users wrote (signing
    in counts)."""
    writers = api.app.state.runtime.replicas.writers
    for global_id in user_ids:
        user_id = int(from_base64(global_id)[1])
        if writers.redis is None:
            writers._until.pop(user_id, None)
        else:
            await writers.redis.delete(writers._key(user_id))


async def _replica_status(api: Api) -> tuple[int, dict[str, Any]]:
    response = await api.client.get("/readyz")
    return response.status_code, response.json()


async def _until_replica(api: Api, replicated: Replicated, prefix: str) -> dict[str, Any]:
    """Poll /readyz until the replica's state starts with ``prefix``; its last body."""
    name = replica_name(replicated.replica_url)
    deadline = time.monotonic() + 20
    while True:
        status, body = await _replica_status(api)
        assert status == 200, body
        if body["checks"]["replicas"][name].startswith(prefix):
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)


async def test_reads_go_to_the_replica_and_writers_read_their_writes(
    replica_api: Api, replicated: Replicated
) -> None:
    api = replica_api
    tag = uuid.uuid4().hex[:6]
    writer_id, writer = await api.create_user(f"writer-{tag}@example.edu", ["ADMIN"])
    reader_id, reader = await api.create_user(f"reader-{tag}@example.edu", ["ADMIN"])
    await _window_passed(api, writer_id, reader_id)
    replicated.caught_up()
    await _until_replica(api, replicated, "ok")
    replicated.replica.sql("SELECT pg_wal_replay_pause()")
    try:
        # Written on the primary after the replica stopped replaying.
        late, _ = await api.create_user(f"late-{tag}@example.edu", ["STUDENT"], name="Late")
        # Someone who just signed in (not signed in yet: no viewer to mark, the sign-in's
        # audit names them) reads from the primary: their own sign-in, and all before it.
        _, newcomer = await api.create_user(f"newcomer-{tag}@example.edu", ["ADMIN"])
        assert await _name(api, newcomer, late) == "Late"

        before = await _reads(api)
        assert await _name(api, reader, late) is None  # the replica has no such user yet
        after = await _reads(api)
        assert after["replica"] > before.get("replica", 0)

        # The mutation reads on the primary: it finds the user, and its payload the change.
        body = await api.gql(RENAME, {"id": late, "name": "Late Renamed"}, writer)
        assert body["data"]["userUpdate"] == {"user": {"name": "Late Renamed"}, "userErrors": []}
        # The writer reads their own write on their next query; anyone else, the replica.
        assert await _name(api, writer, late) == "Late Renamed"
        assert await _name(api, reader, late) is None

        # Past the maximum lag, the replica is not read: everyone reads the primary, and
        # /readyz says why while the process stays ready.
        body = await _until_replica(api, replicated, "lagging")
        assert "reads go to the primary" in body["checks"]["replicas"][replica_name(
            replicated.replica_url)]  # fmt: skip
        assert body["status"] == "ready" and "stays ready" in body["degraded"]
        assert await _name(api, reader, late) == "Late Renamed"
    finally:
        replicated.restored()
    await _until_replica(api, replicated, "ok")
    before = await _reads(api)
    assert await _name(api, reader, late) == "Late Renamed"
    assert (await _reads(api))["replica"] > before["replica"]


async def test_a_replica_cut_off_from_the_primary_is_not_read_once_behind(
    replica_api: Api, replicated: Replicated
) -> None:
    """Its WAL receiver stopped, a replica has replayed all it received and says it is not
    behind at all: measured against the primary's WAL, it lags from the primary's first
    write on."""
    api = replica_api
    tag = uuid.uuid4().hex[:6]
    someone, _ = await api.create_user(f"cut-{tag}@example.edu", ["STUDENT"], name="Cy")
    reader_id, reader = await api.create_user(f"reader-{tag}@example.edu", ["ADMIN"])
    await _window_passed(api, reader_id)
    replicated.caught_up()
    await _until_replica(api, replicated, "ok")
    replica = replicated.replica
    conninfo = str(replica.sql("SHOW primary_conninfo")[0][0]).replace("'", "''")
    replica.sql("ALTER SYSTEM SET primary_conninfo = ''")
    replica.sql("SELECT pg_reload_conf()")
    try:
        deadline = time.monotonic() + 10
        while replica.sql("SELECT count(*) FROM pg_stat_wal_receiver")[0][0]:
            assert time.monotonic() < deadline, "the replica's WAL receiver did not stop"
            await asyncio.sleep(0.02)
        user_id = int(from_base64(someone)[1])
        replicated.primary.sql(f"UPDATE users SET name = 'Cy Renamed' WHERE id = {user_id}",
                               "alumnet")  # fmt: skip
        replicated.primary.sql("SELECT txid_current()", "alumnet")
        # Everything it received is replayed, yet the rename is not there.
        assert replica.sql(
            "SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
        )[0][0]  # fmt: skip
        assert replica.sql(f"SELECT name FROM users WHERE id = {user_id}", "alumnet") == [("Cy",)]
        body = await _until_replica(api, replicated, "lagging")
        assert body["status"] == "ready"
        assert await _name(api, reader, someone) == "Cy Renamed"
    finally:
        replica.sql(f"ALTER SYSTEM SET primary_conninfo = '{conninfo}'")
        replica.sql("SELECT pg_reload_conf()")
        replicated.restored()
    await _until_replica(api, replicated, "ok")
    before = await _reads(api)
    assert await _name(api, reader, someone) == "Cy Renamed"
    assert (await _reads(api))["replica"] > before["replica"]


async def test_a_replica_down_sends_reads_to_the_primary_until_it_is_back(
    replica_api: Api, replicated: Replicated
) -> None:
    api = replica_api
    tag = uuid.uuid4().hex[:6]
    someone, _ = await api.create_user(f"down-{tag}@example.edu", ["STUDENT"], name="Dana")
    reader_id, reader = await api.create_user(f"reader-{tag}@example.edu", ["ADMIN"])
    await _window_passed(api, reader_id)
    replicated.caught_up()
    # The replica's pool holds connections from a read before it went away.
    await _until_replica(api, replicated, "ok")
    before = await _reads(api)
    assert await _name(api, reader, someone) == "Dana"
    assert (await _reads(api))["replica"] > before["replica"]
    # Each replica's pool has its own label in /metrics.
    pool = f'pool="replica {replica_name(replicated.replica_url)}"'
    assert f"alumnet_db_pool_connections{{{pool}}} " in await api.metrics()
    replicated.replica.stop()
    try:
        # Its connections are dead and no new one comes: every read still answers.
        for _ in range(3):
            assert await _name(api, reader, someone) == "Dana"
        body = await _until_replica(api, replicated, "unreachable")
        assert body["status"] == "ready" and body["checks"]["database"] == "ok"
        assert "degraded" in body
        assert "postgres@" not in str(body)
    finally:
        replicated.restored()
    await _until_replica(api, replicated, "ok")
    before = await _reads(api)
    assert await _name(api, reader, someone) == "Dana"
    assert (await _reads(api))["replica"] > before["replica"]


def test_a_replica_url_that_is_the_primary_is_refused_at_start() -> None:
    primary = "postgresql://alumnet:s3cret-pw@db.example.edu:5432/alumnet"
    env = {
        "ALUMNET_DATABASE_URL": primary,
        "ALUMNET_SECRET_KEY": "k" * 48,
        "ALUMNET_DATABASE_REPLICA_URLS": "postgresql://alumnet:s3cret-pw@db.example.edu/alumnet",
    }
    with pytest.raises(ConfigurationError, match="is the primary") as refused:
        load_settings(env).checked()
    assert "s3cret-pw" not in str(refused.value)
    # A writer's mark that runs out while a replica may still lack their write.
    replica = {**env, "ALUMNET_DATABASE_REPLICA_URLS": "postgres://r1.example.edu/alumnet"}
    with pytest.raises(ConfigurationError, match=r"READ_YOUR_WRITES_SECONDS \(15\) must be"):
        load_settings({**replica, "ALUMNET_REPLICA_MAX_LAG": "30"}).checked()
    with pytest.raises(ConfigurationError, match="set it above 11"):
        load_settings({**replica, "ALUMNET_READ_YOUR_WRITES_SECONDS": "11"}).checked()
    assert load_settings({**replica, "ALUMNET_READ_YOUR_WRITES_SECONDS": "11.5"}).checked()
    ok = load_settings(
        {**env, "ALUMNET_DATABASE_REPLICA_URLS": "postgres://r1.example.edu/alumnet"}
    )
    assert ok.checked().database_replica_urls == ("postgresql+psycopg://r1.example.edu/alumnet",)


async def test_without_replicas_nothing_changes(api: Api) -> None:
    assert api.app.state.runtime.replicas is None
    response = await api.client.get("/readyz")
    assert response.status_code == 200
    assert "replicas" not in response.json()["checks"]
    someone, _ = await api.create_user("someone@example.edu", ["STUDENT"], name="Sam")
    _, reader = await api.create_user("reader@example.edu", ["ADMIN"])
    before = await _reads(api)
    assert await _name(api, reader, someone) == "Sam"
    assert await _reads(api) == before  # reads are not even counted
