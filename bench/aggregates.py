"""What tracking written tables costs a transaction (the aggregates cache's generations).

    python bench/aggregates.py [--database-url URL] [--redis-url URL] [--rounds 2000]

On a fresh database (a temporary SQLite file by default; a PostgreSQL URL is migrated
afresh and left there), the same plain mutation (`batchCreate` over the ASGI app: a
check, an insert, an audit row, a commit) runs on two apps alternately, one with the
cache on (its writes noted and, after each commit, the generations bumped: in memory, or
one Lua call in Redis with --redis-url) and one with ALUMNET_ANALYTICS_CACHE_SECONDS=0
(nothing noted, nothing bumped). Prints the SQL statements per mutation of both (they
must be equal) and the median and p95 time of each, and the same for a bare transaction
(one ORM insert and its commit). Then the cost of telling a statement's table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

BATCH = """mutation($i: BatchCreateInput!) { batchCreate(input: $i) { batch { id }
  userErrors { code } } }"""


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _say(label: str, seconds: list[float]) -> None:
    print(
        f"{label:<38} median {statistics.median(seconds) * 1000:7.3f} ms"
        f"   p95 {_percentile(seconds, 0.95) * 1000:7.3f} ms   ({len(seconds)} runs)"
    )


async def main(args: argparse.Namespace) -> None:
    import httpx
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from alumnet.app import create_app
    from alumnet.bootstrap import close_runtime
    from alumnet.config import load_settings
    from alumnet.domain.identity.permissions import Role
    from alumnet.domain.identity.users import ensure_user
    from alumnet.persistence import migrations
    from alumnet.persistence.models import Skill
    from alumnet.persistence.uow import Origin
    from alumnet.persistence.written import written_by

    root = Path(tempfile.mkdtemp(prefix="alumnet-aggregates-"))
    url = args.database_url or f"sqlite:///{root / 'bench.db'}"
    if url.startswith("postgresql"):
        parsed = make_url(url)
        admin = create_engine(
            parsed.set(drivername="postgresql+psycopg", database="postgres"),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    base = load_settings(
        {
            "ALUMNET_ENV": "development",
            "ALUMNET_DATABASE_URL": url,
            "ALUMNET_SECRET_KEY": uuid.uuid4().hex * 2,
            "ALUMNET_VAR_DIR": str(root / "var"),
            "ALUMNET_ARGON2_MEMORY_KIB": "1024",
            "ALUMNET_DEBUG": "0",
            "ALUMNET_LOG_LEVEL": "WARNING",
            "ALUMNET_QUEUE_PREFIX": f"alumnet-bench-{uuid.uuid4().hex[:8]}",
            **({"ALUMNET_REDIS_URL": args.redis_url} if args.redis_url else {}),
        }
    )
    migrations.upgrade(base.database_url)
    # `debug` puts the statement count in each response's extensions.
    on = create_app(replace(base, debug=True))
    off = create_app(replace(base, debug=True, analytics_cache_seconds=0.0))
    runtime = on.state.runtime
    async with runtime.transaction(origin=Origin(via="cli")) as uow:
        await ensure_user(
            runtime, uow, email="admin@example.org", name="Admin", roles=[Role.ADMIN],
            password="correct horse battery",
        )  # fmt: skip
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
        for name, app in (("on", on), ("off", off))
    }
    signed = await clients["on"].post(
        "/graphql",
        json={
            "query": 'mutation { tokenCreate(input: {email: "admin@example.org", password: '
            '"correct horse battery"}) { accessToken } }'
        },
    )
    token = signed.json()["data"]["tokenCreate"]["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    timings: dict[str, list[float]] = {"on": [], "off": []}
    statements: dict[str, set[int]] = {"on": set(), "off": set()}
    for n in range(args.rounds):
        for name in ("on", "off") if n % 2 else ("off", "on"):
            batch = {"name": "B", "code": f"{name}{n}", "startsOn": "2026-01-01",
                     "endsOn": "2026-12-31"}  # fmt: skip
            started = time.perf_counter()
            response = await clients[name].post(
                "/graphql", json={"query": BATCH, "variables": {"i": batch}}, headers=headers
            )
            timings[name].append(time.perf_counter() - started)
            body: dict[str, Any] = response.json()
            assert body["data"]["batchCreate"]["userErrors"] == [], body
            statements[name].add(body["extensions"]["timing"]["sqlStatements"])
    print(f"database: {url.split('@')[-1]}   store: {'redis' if args.redis_url else 'memory'}")
    print(f"SQL statements per batchCreate: tracked {sorted(statements['on'])}, "
          f"untracked {sorted(statements['off'])}")  # fmt: skip
    _say("batchCreate, tracked and bumped", timings["on"])
    _say("batchCreate, cache off", timings["off"])
    bare: dict[str, list[float]] = {"on": [], "off": []}
    for n in range(args.rounds):
        for name, app in (("on", on), ("off", off)) if n % 2 else (("off", off), ("on", on)):
            rt = app.state.runtime
            started = time.perf_counter()
            async with rt.transaction() as uow:
                uow.session.add(Skill(name=f"{name}{n}", name_key=f"{name}{n}"))
            bare[name].append(time.perf_counter() - started)
    _say("one insert and commit, tracked", bare["on"])
    _say("one insert and commit, cache off", bare["off"])
    for statement in (
        "SELECT users.id FROM users WHERE users.id = ?",
        "INSERT INTO batches (name, code) VALUES (?, ?) RETURNING id",
    ):
        started = time.perf_counter()
        for _ in range(100_000):
            if not statement.startswith("SELECT"):
                written_by(statement)
        print(f"telling the table of {statement[:28]!r}…: "
              f"{(time.perf_counter() - started) * 10:.3f} µs")  # fmt: skip
    for client in clients.values():
        await client.aclose()
    for app in (on, off):
        await close_runtime(app.state.runtime, app.state.dispatcher)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--rounds", type=int, default=2000)
    asyncio.run(main(parser.parse_args()))
