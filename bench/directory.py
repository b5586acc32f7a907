"""The directory benchmark: search over 100,000 profiles on PostgreSQL.

    python bench/directory.py [--seconds 10] [--connections 8] [--profiles 100000] [--skip-seed]

Seeds PostgreSQL like bench/run.py (the demo data: 5,000 alumni with degrees, careers,
skills and locations), adds generated alumni of the same kind up to --profiles, serves as
in production (uvicorn, 2 workers, Redis) and drives `directory` with `wrk` (8
connections, signed in as an alumnus): each request is a two-word query (a first name and
a skill or a company word, rotating) with two filters (country and a graduation-year
range), `first: 20`, with `totalCount`. Prints throughput and latency percentiles, then
PostgreSQL's plan for one such query (EXPLAIN ANALYZE) to show which indexes it uses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as base

DSN = f"{base.PG}/{base.DATABASE}"
SEARCH = """query Directory($q: String!, $f: DirectoryFilter!) {
  directory(query: $q, filter: $f, first: 20) { totalCount
    edges { node { id name headline company country graduationYear } } } }"""
WORDS = [
    ("Amara", "python"), ("Kwame", "finance"), ("Priya", "acme"), ("Omar", "engineer"),
    ("Sara", "design"), ("Jin", "sql"), ("Nadia", "baobab"), ("Diego", "cloud"),
    ("Fatima", "research"), ("Lucas", "marketing"), ("Hana", "volta"), ("Ravi", "teaching"),
]  # fmt: skip
FILTERS = [
    {"country": "GH", "graduationYearFrom": 2005, "graduationYearTo": 2020},
    {"country": "GB", "graduationYearFrom": 2000, "graduationYearTo": 2015},
    {"country": "NG", "graduationYearFrom": 2010, "graduationYearTo": 2025},
    {"country": "US", "graduationYearFrom": 1998, "graduationYearTo": 2012},
]


def add_profiles(total: int) -> float:
    """Generated alumni (the demo's kind) until there are ``total`` profiles."""
    from alumnet.bootstrap import build_runtime, close_runtime
    from alumnet.config import load_settings
    from alumnet.domain.demo import DEMO_DOMAIN, DEMO_PASSWORD, person_name
    from alumnet.domain.people.demo import add_alumni

    async def go() -> float:
        runtime, _ = build_runtime(load_settings(), worker=True)
        started = time.perf_counter()
        try:
            async with runtime.database.connect() as conn:
                from sqlalchemy import func, select

                from alumnet.persistence.models import Profile

                have = int(
                    (await conn.execute(select(func.count()).select_from(Profile))).scalar_one()
                )
            password = runtime.hasher.hash(DEMO_PASSWORD)
            first = 5_000
            while have < total:
                step = min(10_000, total - have)
                async with runtime.transaction() as uow:
                    have += await add_alumni(
                        uow, first=first, count=step, name_of=person_name,
                        password_hash=password, domain=DEMO_DOMAIN,
                    )  # fmt: skip
                first += step
                print(f"  {have} profiles", flush=True)
        finally:
            await close_runtime(runtime)
        return time.perf_counter() - started

    return asyncio.run(go())


def seed(profiles: int) -> None:
    """A fresh benchmark database with ``profiles`` generated alumni, analysed."""
    base.prepare_database()
    print(f"generated profiles in {add_profiles(profiles):.1f} s", flush=True)
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", base.DATABASE, "-c",
         "VACUUM ANALYZE"], check=True,
    )  # fmt: skip


def token_of(email: str) -> str:
    """An access token for a demo user, as if they had signed in."""
    from alumnet.config import load_settings
    from alumnet.domain.identity.jwt_tokens import issue_access_token

    with psycopg.connect(DSN, autocommit=True) as conn:
        user_id, session_id = conn.execute(
            "INSERT INTO sessions (user_id, created_at) SELECT id, now() FROM users "
            "WHERE email_lower = %s RETURNING user_id, id",
            (email,),
        ).fetchone()  # type: ignore[misc]
    return issue_access_token(load_settings(), user_id, session_id)[0]


def alumnus_token() -> str:
    return token_of("alumnus@demo.alumnet.dev")


def explain() -> str:
    """PostgreSQL's plan for the first benchmark query, as the API builds it."""
    from sqlalchemy import func
    from sqlalchemy.dialects import postgresql

    from alumnet.domain.identity.permissions import Role, Viewer
    from alumnet.domain.people import directory
    from alumnet.persistence.loaders.people import profile_query
    from alumnet.persistence.models import Profile

    with psycopg.connect(DSN, autocommit=True) as conn:
        me = conn.execute(
            "SELECT id FROM users WHERE email_lower = 'alumnus@demo.alumnet.dev'"
        ).fetchone()[0]  # type: ignore[index]
        viewer = Viewer(user_id=me, roles=frozenset({Role.ALUMNUS}))
        f = FILTERS[0]
        found = directory.match(
            viewer, " ".join(WORDS[0]),
            directory.DirectoryFilter(country=f["country"], graduation_from=f["graduationYearFrom"],
                                      graduation_to=f["graduationYearTo"]),
            "postgresql",
        )  # fmt: skip
        # As the API sends it: the first page with its count (count(*) OVER ()), and the
        # connection's trigram threshold.
        query = (
            profile_query().where(found.where).add_columns(found.rank.label("rank"))
            .add_columns(func.count().over().label("_total"))
            .order_by(found.rank.desc(), Profile.user_id).limit(21)
        )  # fmt: skip
        conn.execute("SET pg_trgm.similarity_threshold = 0.45")
        compiled = query.compile(
            dialect=postgresql.psycopg.dialect(), compile_kwargs={"render_postcompile": True}
        )
        statement = "EXPLAIN (ANALYZE, BUFFERS) " + str(compiled)
        rows = conn.execute(statement, compiled.params).fetchall()  # type: ignore[arg-type]
    return "\n".join(r[0] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--skip-seed", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    os.environ.update(base.env())
    if not args.skip_seed:
        seed(args.profiles)
    token = alumnus_token()
    bodies = [
        {"query": SEARCH, "variables": {"q": f"{a} {b}", "f": FILTERS[i % len(FILTERS)]}}
        for i, (a, b) in enumerate(WORDS)
    ]
    server, client = base.serve(args.workers)
    try:
        sample = base.gql(client, SEARCH, bodies[0]["variables"], token)
        print("sample:", json.dumps(sample["data"]["directory"]["totalCount"]), "matches")
        base.wrk(bodies, token, 2, args.connections)  # warm-up
        result = base.wrk(bodies, token, args.seconds, args.connections)
        print(json.dumps(result, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(explain())


if __name__ == "__main__":
    main()
