"""Reports: a batch's attendance report for a semester, the median of three.

    python bench/reports.py [--runs 3] [--days 182] [--batch B2026A] [--skip-seed]
                            [--scale 1.0] [--database alumnet_bench]
                            [--redis redis://127.0.0.1:6379/14]

Seeds PostgreSQL like bench/run.py (the demo: 4,200 students, B2026A with 3,000 in three
missions; `--scale 0.1` seeds a tenth, for a quick check), gives every mission of the
batch bench/attendance.py's history (60 days of attendance, 30 assignments with their
submissions) and dates it around today, then serves as in production (uvicorn, one
worker, Redis) with the analytics cache off, so that every request computes the report.
It times, as a client sees them (sign-in aside), `attendanceReport` over the last
`--days` days (a semester: 182) for the batch, grouped by mission (the figures, weekly
trend and anomalies) and by student (3,000 rows, the first 1,000 sent), and
`submissionsReport` by assignment: one request to warm up, then --runs, and prints each
run and the medians. The goal (issue 24): the batch attendance report for a semester
< 300 ms.

Needs PostgreSQL and Redis on 127.0.0.1 (trust auth). `--database` is dropped and
created again unless --skip-seed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import attendance
import run as base

ATTENDANCE = """query BatchAttendance($b: ID!, $from: Date!, $to: Date!,
    $g: AttendanceReportGroup!) {
  attendanceReport(from: $from, to: $to, filter: {batchId: $b}, groupBy: $g) {
    students present possible rate previousRate change trend
    weeks { weekStart present possible rate }
    anomalies { mission weekStart rate norm threshold }
    missionAverages { mission rate }
    rows(first: 1000) { key label students present possible rate previousRate change }
    totalRows notes
  }
}"""
SUBMISSIONS = """query BatchWork($b: ID!, $from: Date!, $to: Date!) {
  submissionsReport(from: $from, to: $to, filter: {batchId: $b}, groupBy: ASSIGNMENT) {
    assignments expected onTime late missing onTimeRate submissionRate
    grades { count mean median standardDeviation p10 p90 }
    rows(first: 1000) { label onTime late missing grades { median } }
  }
}"""
SIGN_IN = """mutation { tokenCreate(input: {email: "manager@demo.alumnet.dev",
  password: "alumnet-demo"}) { accessToken } }"""
BATCH = "query { batches(first: 50) { edges { node { id code } } } }"


def use(database: str, redis: str) -> None:
    """Point bench/run.py's and bench/attendance.py's helpers at this database."""
    base.DATABASE = database
    base.REDIS = redis
    attendance.DSN = f"{base.PG}/{database}"


def prepare(scale: float) -> None:
    """The database made again and seeded with the demo at ``scale`` (1.0: as bench/run.py)."""
    if scale >= 1.0:
        base.prepare_database()
        return
    for sql in (f"DROP DATABASE IF EXISTS {base.DATABASE} WITH (FORCE)",
                f"CREATE DATABASE {base.DATABASE}"):  # fmt: skip
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", sql], check=True)
    base.alumnet("migrate", "upgrade")
    started = time.perf_counter()
    os.environ.update({**base.env(), "ALUMNET_ENV": "development"})
    from alumnet.bootstrap import build_runtime, close_runtime
    from alumnet.config import load_settings
    from alumnet.domain import demo

    async def seed() -> None:
        runtime, dispatcher = build_runtime(load_settings())
        try:
            await demo.seed_demo(runtime, scale=scale)
        finally:
            await close_runtime(runtime, dispatcher)

    asyncio.run(seed())
    print(f"seeded (scale {scale}) in {time.perf_counter() - started:.1f} s", flush=True)
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", base.DATABASE, "-c",
         "VACUUM ANALYZE"],
        check=True,
    )  # fmt: skip


def history(batch_code: str) -> dict[str, Any]:
    """The batch's missions active, from 59 days ago to a month ahead, with 60 days of
    attendance and 30 assignments each (bench/attendance.py's)."""
    with psycopg.connect(attendance.DSN, autocommit=True) as conn:
        missions = [
            int(m)
            for (m,) in conn.execute(
                "SELECT m.id FROM missions m JOIN batches b ON b.id = m.batch_id "
                "WHERE b.code = %s ORDER BY m.id",
                (batch_code,),
            )
        ]
    seeded = {}
    for mission_id in missions:
        attendance.prepare_mission(mission_id)
        seeded[mission_id] = attendance.seed_history(mission_id)
    return {"missions": len(missions), "rows": seeded}


def timed(client: httpx.Client, token: str, query: str, variables: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    took = (time.perf_counter() - started) * 1000
    body = response.json()
    if response.status_code != 200 or "errors" in body:
        raise RuntimeError(body.get("errors") or response.text)
    return took


def measure(args: argparse.Namespace) -> dict[str, Any]:
    original = base.env

    def env() -> dict[str, str]:
        # The cache off (every request computes); the demo manager signs in with a password
        # alone (production asks staff for a second factor).
        return {**original(), "ALUMNET_ANALYTICS_CACHE_SECONDS": "0",
                "ALUMNET_TWO_FACTOR_ROLES": "none"}  # fmt: skip

    base.env = env
    try:
        server, client = base.serve(1)
    finally:
        base.env = original
    results: dict[str, Any] = {}
    try:
        token = base.gql(client, SIGN_IN)["data"]["tokenCreate"]["accessToken"]
        batches = base.gql(client, BATCH, token=token)["data"]["batches"]["edges"]
        batch = next(e["node"]["id"] for e in batches if e["node"]["code"] == args.batch)
        today = datetime.now(UTC).date()
        period = {"b": batch, "from": (today - timedelta(days=args.days - 1)).isoformat(),
                  "to": today.isoformat()}  # fmt: skip
        answer = base.gql(client, ATTENDANCE, {**period, "g": "MISSION"}, token)
        report = answer["data"]["attendanceReport"]
        results["students"] = report["students"]
        results["attendance_rows"] = report["possible"]
        for label, query, variables in [
            ("attendance_by_mission", ATTENDANCE, {**period, "g": "MISSION"}),
            ("attendance_by_student", ATTENDANCE, {**period, "g": "STUDENT"}),
            ("submissions_by_assignment", SUBMISSIONS, period),
        ]:
            timed(client, token, query, variables)  # warm up
            runs = [round(timed(client, token, query, variables), 1) for _ in range(args.runs)]
            print(f"{label}: {runs} ms", flush=True)
            results[label] = {"runs_ms": runs, "median_ms": statistics.median(runs)}
    finally:
        base.stop(server)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, default=182, help="The range: a semester.")
    parser.add_argument("--batch", default="B2026A")
    parser.add_argument("--scale", type=float, default=1.0, help="Of the demo (0.1: quick).")
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--database", default=base.DATABASE)
    parser.add_argument("--redis", default=base.REDIS)
    args = parser.parse_args()
    use(args.database, args.redis)
    results: dict[str, Any] = {"settings": vars(args)}
    if not args.skip_seed:
        prepare(args.scale)
        results["history"] = history(args.batch)["missions"]
    results.update(measure(args))
    out = base.ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "reports.json").write_text(json.dumps(results, indent=2, default=str))
    print(
        f"batch {args.batch} ({results['students']} students), {args.days} days, medians of "
        f"{args.runs}: attendance by mission {results['attendance_by_mission']['median_ms']} "
        f"ms, by student {results['attendance_by_student']['median_ms']} ms, submissions "
        f"{results['submissions_by_assignment']['median_ms']} ms"
    )


if __name__ == "__main__":
    main()
