"""The careers benchmark: job search, recommendations and the funnel on PostgreSQL.

    python bench/careers.py [--seconds 10] [--connections 8] [--postings 20000]
                            [--profiles 100000] [--skip-seed]

Seeds PostgreSQL like bench/directory.py (the demo data, then generated alumni up to
--profiles), adds generated postings up to --postings with applications from the demo's
students at every step of the workflow, serves as in production (uvicorn, 2 workers,
Redis) and drives, each with `wrk` (8 connections):

- job search, signed in as a student: a two-word query (rotating) with two filters
  (country and remote modes), `first: 20` with `totalCount`;
- the same student's first page of 20 recommendations;
- the careers figures (the funnel dashboard), signed in as a manager;

and prints throughput and latency percentiles for each, then PostgreSQL's plan for one
search.
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
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import directory
import run as base

DSN = directory.DSN
SEARCH = """query Jobs($q: String!, $f: JobPostingFilter!) {
  jobPostings(query: $q, filter: $f, first: 20) { totalCount
    edges { node { id title company { name } country remote salaryFrom currency skills } } } }"""
RECOMMEND = """query Recommended { viewer { jobRecommendations(first: 20) {
  score matchedSkills why jobPosting { id title company { name } } } } }"""
FIGURES = """query Figures { careersFigures { applications responded
  averageHoursToFirstResponse medianHoursToFirstResponse
  openJobPostings { audience kind count } funnel { status reached now }
  topHiringCompanies { company { name } openJobPostings applications } } }"""
WORDS = [
    "data analyst", "software engineer", "python developer", "financial analyst",
    "security python", "product manager", "devops kubernetes", "marketing writing",
]  # fmt: skip
FILTERS = [
    {"country": "GH", "remote": ["ON_SITE", "HYBRID"]},
    {"country": "KE", "remote": ["REMOTE", "HYBRID"]},
    {"country": "GB", "remote": ["ON_SITE", "HYBRID", "REMOTE"]},
    {"country": "NG", "remote": ["HYBRID", "REMOTE"]},
]


def add_postings(total: int) -> float:
    """Generated postings (the demo's kind) with applications, until there are ``total``."""
    from alumnet.bootstrap import build_runtime, close_runtime
    from alumnet.config import load_settings

    async def go() -> float:
        import random

        from sqlalchemy import func, select

        from alumnet.domain.careers import demo
        from alumnet.persistence.models import JobPosting

        runtime, _ = build_runtime(load_settings(), worker=True)
        started = time.perf_counter()
        try:
            async with runtime.database.connect() as conn:
                have = int(
                    (await conn.execute(select(func.count()).select_from(JobPosting))).scalar_one()
                )
            while have < total:
                step = min(5_000, total - have)
                async with runtime.transaction() as uow:
                    now = datetime.now(UTC)
                    ids, rows = await demo.add_postings(
                        uow, first=have, count=step, staff=None, now=now
                    )
                    students = await demo.ids_of_role(uow, "STUDENT", 4000)
                    rng = random.Random(have)
                    await demo.add_applications(uow, rng, ids, rows, students, None, None, now)
                have += len(ids)
                print(f"  {have} postings", flush=True)
        finally:
            await close_runtime(runtime)
        return time.perf_counter() - started

    return asyncio.run(go())


def seed(profiles: int, postings: int) -> None:
    directory.seed(profiles)
    print(f"generated postings in {add_postings(postings):.1f} s", flush=True)
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", base.DATABASE, "-c",
         "VACUUM ANALYZE"], check=True,
    )  # fmt: skip


def explain() -> str:
    """PostgreSQL's plan for the first search, as the API builds it."""
    from sqlalchemy import func, select
    from sqlalchemy.dialects import postgresql

    from alumnet.domain.careers import search
    from alumnet.domain.identity.permissions import Role, Viewer
    from alumnet.persistence.models import JobPosting

    with psycopg.connect(DSN, autocommit=True) as conn:
        me = conn.execute(
            "SELECT id FROM users WHERE email_lower = 'student@demo.alumnet.dev'"
        ).fetchone()[0]  # type: ignore[index]
        viewer = Viewer(user_id=me, roles=frozenset({Role.STUDENT}))
        given = search.PostingFilter(country="GH", remote=("on_site", "hybrid"))
        found = search.match(viewer, WORDS[0], given, "postgresql")
        assert found.rank is not None
        query = (
            select(JobPosting.__table__).where(found.where)
            .add_columns(found.rank.label("rank"), func.count().over().label("_total"))
            .order_by(found.rank.desc(), JobPosting.id.desc()).limit(21)
        )  # fmt: skip
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
    parser.add_argument("--postings", type=int, default=20_000)
    parser.add_argument("--skip-seed", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    os.environ.update(base.env())
    if not args.skip_seed:
        seed(args.profiles, args.postings)
    student = directory.token_of("student@demo.alumnet.dev")
    manager = directory.token_of("manager@demo.alumnet.dev")
    searches = [
        {"query": SEARCH, "variables": {"q": q, "f": FILTERS[i % len(FILTERS)]}}
        for i, q in enumerate(WORDS)
    ]
    scenarios = [
        ("job search", searches, student),
        ("recommendations", [{"query": RECOMMEND, "variables": {}}], student),
        ("careers figures", [{"query": FIGURES, "variables": {}}], manager),
    ]
    server, client = base.serve(args.workers)
    results = {}
    try:
        sample = base.gql(client, SEARCH, searches[0]["variables"], student)
        print("sample search:", sample["data"]["jobPostings"]["totalCount"], "matches")
        figures = base.gql(client, FIGURES, {}, manager)["data"]["careersFigures"]
        print("applications:", figures["applications"])
        for name, bodies, token in scenarios:
            base.wrk(bodies, token, 2, args.connections)  # warm-up
            results[name] = base.wrk(bodies, token, args.seconds, args.connections)
            print(name, json.dumps(results[name]), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(explain())


if __name__ == "__main__":
    main()
