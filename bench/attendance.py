"""The engagement benchmark: an attendance rush, and recalculating a mission's points.

    python bench/attendance.py [--seconds 10] [--connections 64] [--skip-seed]

Seeds PostgreSQL like bench/run.py (the demo programme: the mission B2026A-FND has 3,000
students), serves as in production (uvicorn, 2 workers), and has every one of the 3,000
students submit `attendanceSubmit` as fast as the server accepts them (64 connections,
each request with that student's own access token, round-robin, bounded by --seconds).
Then it checks that every submission was recorded exactly once, with exactly one ledger
entry, and that totals equal the ledger. Finally it seeds 60 days of attendance and 30
assignments with submissions for all 3,000 students and times the set-based points
recalculation of the mission (the `points.recalculate` job's function, in-process).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as base

SUBMIT = """mutation Attend($m: ID!) { attendanceSubmit(input: {missionId: $m}) {
  created userErrors { code } } }"""
DSN = f"{base.PG}/{base.DATABASE}"


def student_tokens(mission_code: str) -> tuple[int, list[str]]:
    """An access token per student of the mission: sessions written straight into the
    database (3,000 password sign-ins would take minutes of argon2 hashing)."""
    os.environ.update(base.env())
    from alumnet.config import load_settings
    from alumnet.domain.identity.jwt_tokens import issue_access_token

    settings = load_settings()
    with psycopg.connect(DSN, autocommit=True) as conn:
        mission_id = conn.execute(
            "SELECT id FROM missions WHERE code = %s", (mission_code,)
        ).fetchone()[0]  # type: ignore[index]
        rows = conn.execute(
            "INSERT INTO sessions (user_id, created_at) "
            "SELECT student_id, now() FROM enrollments WHERE mission_id = %s "
            "ORDER BY student_id RETURNING user_id, id",
            (mission_id,),
        ).fetchall()
    return mission_id, [issue_access_token(settings, u, s)[0] for u, s in rows]


def prepare_mission(mission_id: int) -> None:
    """The mission runs from 59 days ago to a month ahead, is active, and takes
    check-in attendance (the defaults), so that today and 60 past days count."""
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(
            "UPDATE missions SET status = 'active', starts_on = current_date - 59, "
            "ends_on = current_date + 30 WHERE id = %s",
            (mission_id,),
        )
        conn.execute(
            "UPDATE batches SET starts_on = least(starts_on, current_date - 59), "
            "ends_on = greatest(ends_on, current_date + 30) "
            "WHERE id = (SELECT batch_id FROM missions WHERE id = %s)",
            (mission_id,),
        )


def verify(mission_id: int) -> dict[str, Any]:
    with psycopg.connect(DSN) as conn:
        one = conn.execute
        days = one(
            "SELECT count(*), count(DISTINCT enrollment_id) FROM attendance_days "
            "WHERE mission_id = %s",
            (mission_id,),
        ).fetchone()
        entries = one(
            "SELECT count(*), count(DISTINCT source_id) FROM point_entries "
            "WHERE mission_id = %s AND source_type = 'attendance'",
            (mission_id,),
        ).fetchone()
        mismatched = one(
            "SELECT count(*) FROM enrollments e WHERE e.mission_id = %s AND e.points <> "
            "(SELECT coalesce(sum(points), 0) FROM point_entries p WHERE p.enrollment_id = e.id)",
            (mission_id,),
        ).fetchone()
    assert days is not None
    assert entries is not None
    assert mismatched is not None
    return {
        "attendance_rows": days[0],
        "students_recorded": days[1],
        "ledger_entries": entries[0],
        "ledger_sources": entries[1],
        "totals_not_matching_ledger": mismatched[0],
        "exactly_once": days[0] == days[1] == entries[0] == entries[1] and mismatched[0] == 0,
    }


def seed_history(mission_id: int, days: int = 60, assignments: int = 30) -> dict[str, int]:
    """60 days of attendance (about 80% present) and 30 assignments, each handed in by
    about 90% of the students (a tenth of those late), as facts without ledger entries:
    the recalculation then has every award to make."""
    with psycopg.connect(DSN, autocommit=True) as conn:
        one = conn.execute
        one("DELETE FROM point_entries WHERE mission_id = %s", (mission_id,))
        one("UPDATE enrollments SET points = 0 WHERE mission_id = %s", (mission_id,))
        one("DELETE FROM attendance_days WHERE mission_id = %s", (mission_id,))
        one("DELETE FROM submissions WHERE mission_id = %s", (mission_id,))
        one("DELETE FROM assignments WHERE mission_id = %s", (mission_id,))
        one(
            "INSERT INTO attendance_days (enrollment_id, mission_id, student_id, day, kind, "
            "status, created_at, updated_at) "
            "SELECT e.id, e.mission_id, e.student_id, current_date - d, 'check_in', 'present', "
            "now(), now() FROM enrollments e, generate_series(0, %s) d "
            "WHERE e.mission_id = %s AND (e.id * 7 + d * 13) %% 10 < 8",
            (days - 1, mission_id),
        )
        one(
            "INSERT INTO assignments (mission_id, title, description, opens_at, due_at, "
            "max_points, late_policy, created_at, updated_at) "
            "SELECT %s, 'Assignment ' || n, '', now() - (n * 2 + 1) * interval '1 day', "
            "now() - n * 2 * interval '1 day', 10, 'accept_late', now(), now() "
            "FROM generate_series(1, %s) n",
            (mission_id, assignments),
        )
        one(
            "INSERT INTO submissions (assignment_id, enrollment_id, mission_id, student_id, "
            "submitted_at, late, source, created_at) "
            "SELECT a.id, e.id, e.mission_id, e.student_id, a.due_at, (e.id + a.id) %% 10 = 0, "
            "'bulk', now() FROM enrollments e JOIN assignments a ON a.mission_id = e.mission_id "
            "WHERE e.mission_id = %s AND (e.id * 3 + a.id) %% 10 <> 0",
            (mission_id,),
        )
        counts = one(
            "SELECT (SELECT count(*) FROM attendance_days WHERE mission_id = %s), "
            "(SELECT count(*) FROM submissions WHERE mission_id = %s)",
            (mission_id, mission_id),
        ).fetchone()
        one("VACUUM ANALYZE attendance_days")
        one("VACUUM ANALYZE submissions")
    assert counts is not None
    return {"attendance_rows": counts[0], "submissions": counts[1]}


async def time_recalculation(mission_id: int) -> dict[str, Any]:
    os.environ.update(base.env())
    from alumnet.bootstrap import build_runtime, close_runtime
    from alumnet.config import load_settings
    from alumnet.domain.engagement import points

    runtime, _ = build_runtime(load_settings())
    try:
        started = time.perf_counter()
        first = await points.recalculate(runtime, mission_id)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        again = await points.recalculate(runtime, mission_id)
        again_s = time.perf_counter() - started
    finally:
        await close_runtime(runtime)
    return {
        "from_empty_ledger_seconds": round(first_s, 2),
        "from_empty_ledger": first,
        "nothing_changed_seconds": round(again_s, 2),
        "nothing_changed": again,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-seed", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    if not args.skip_seed:
        base.prepare_database()
    mission_id, tokens = student_tokens("B2026A-FND")
    prepare_mission(mission_id)
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("DELETE FROM point_entries WHERE mission_id = %s", (mission_id,))
        conn.execute("DELETE FROM attendance_days WHERE mission_id = %s", (mission_id,))
        conn.execute("UPDATE enrollments SET points = 0 WHERE mission_id = %s", (mission_id,))
    server, _ = base.serve(args.workers)
    results: dict[str, Any] = {}
    try:
        mission = base64.b64encode(f"Mission:{mission_id}".encode()).decode()
        bodies = [
            {"query": SUBMIT, "variables": {"m": mission}, "_token": token} for token in tokens
        ]
        rush = base.wrk(bodies, tokens[0], args.seconds, args.connections)
        rush["accepted_per_second"] = round(
            (rush["requests"] - rush["graphql_errors"] - rush["socket_or_status_errors"])
            / rush["seconds"],
            1,
        )
        results["attendance_rush"] = rush
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    results["attendance_check"] = verify(mission_id)
    results["recalculation_facts"] = seed_history(mission_id)
    results["recalculation"] = asyncio.run(time_recalculation(mission_id))
    results["settings"] = {
        "workers": args.workers,
        "connections": args.connections,
        "seconds": args.seconds,
        "students": len(tokens),
    }
    out = base.ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "attendance.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
