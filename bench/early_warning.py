"""The early-warning benchmark: train the model on the history of finished missions and
predict for the active students, timed, with the process's peak memory.

    python bench/early_warning.py [--missions 20] [--students 3000] [--active 2]
                                  [--days 60] [--assignments 30] [--database NAME]
                                  [--skip-seed]

Creates (drops first) the PostgreSQL database NAME on 127.0.0.1 (trust auth), migrates it
and seeds it in SQL (INSERT … SELECT over generate_series, a few seconds per million rows):
--students students, each enrolled in --missions finished missions of --days days and in
--active running missions (half-way through), with daily attendance, --assignments
assignments per mission handed in on time, late or not at all and graded, their ledger
entries, and a few integrity flags. Each enrolment has its own chance of turning up and
handing in work (30% to 95%; a third slip after the first month), so that finishing below
the bar (70% attendance, 60% of the points, or the fallback for a rule of zeros) follows
from the facts. Then it runs the `analytics.train_risk` job's function in this process (as
a worker runs it, with the workers' statement timeout) and prints its result, the wall time
and the peak resident memory. The issue's goal: 20 finished missions of 3,000 students in
under 60 s. A small run: `--missions 4 --students 300`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
PG = "postgresql://postgres@127.0.0.1:5432"
SECRET = "bench-secret-key-not-for-production-use-0123456789"


def settings_env(database: str) -> dict[str, str]:
    return {
        "ALUMNET_ENV": "production",
        "ALUMNET_SECRET_KEY": SECRET,
        "ALUMNET_DATABASE_URL": f"{PG}/{database}",
        "ALUMNET_LOG_LEVEL": "WARNING",
        "ALUMNET_VAR_DIR": str(ROOT / "var" / "bench"),
    }


def create(database: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    from alumnet.config import load_settings
    from alumnet.persistence import migrations

    migrations.upgrade(load_settings(settings_env(database)).database_url)


# A chance per mille for each enrolment, and a pseudo-random draw per (enrolment, thing):
# hashint8 spreads consecutive ids evenly; the same seed gives the same history.
CHANCE = "(300 + mod(abs(hashint8(e.id)), 650))"
SLIPS = "(mod(abs(hashint8(e.id + 7)), 3) = 0)"


def draw(*parts: str) -> str:
    mixed = parts[0]
    for part in parts[1:]:
        mixed = f"({mixed}) * 1000003 + {part}"
    return f"mod(abs(hashint8(({mixed})::bigint)), 1000)"


def seed(database: str, missions: int, students: int, active: int, days: int,
         assignments: int) -> dict[str, Any]:  # fmt: skip
    started = time.perf_counter()
    with psycopg.connect(f"{PG}/{database}", autocommit=True) as conn:
        one = conn.execute
        one(
            "INSERT INTO batches (name, code, description, status, starts_on, ends_on, "
            "created_at, updated_at) VALUES ('Bench batch', 'EW', '', 'active', "
            "current_date - 2000, current_date + 400, now(), now())"
        )
        one(
            "INSERT INTO users (email, email_lower, name, status, created_at, updated_at) "
            "SELECT 'ew' || n || '@bench.example', 'ew' || n || '@bench.example', "
            "'Student ' || n, 'active', now(), now() FROM generate_series(1, %s) n",
            (students,),
        )
        one("INSERT INTO user_roles (user_id, role) SELECT id, 'STUDENT' FROM users")
        # Finished missions one after the other, the newest ended a week ago; the running
        # ones half-way through.
        one(
            "INSERT INTO missions (batch_id, title, code, description, status, starts_on, "
            "ends_on, created_at, updated_at, completed_at) "
            "SELECT (SELECT id FROM batches), 'Finished ' || k, 'EW-F' || k, '', 'completed', "
            "current_date - 7 - (%(days)s + 5) * k - %(days)s, current_date - 7 - "
            "(%(days)s + 5) * k - 1, now(), now(), now() FROM generate_series(0, %(n)s - 1) k",
            {"days": days, "n": missions},
        )
        one(
            "INSERT INTO missions (batch_id, title, code, description, status, starts_on, "
            "ends_on, created_at, updated_at) "
            "SELECT (SELECT id FROM batches), 'Running ' || k, 'EW-R' || k, '', 'active', "
            "current_date - %(half)s, current_date + %(half)s, now(), now() "
            "FROM generate_series(1, %(n)s) k",
            {"half": days // 2, "n": active},
        )
        # The bar: 70% attendance; every third mission 60% of the points one could earn
        # instead; every fourth none of its own (the fallback).
        one(
            "INSERT INTO engagement_rules (mission_id, time_zone, attendance_when_draft, "
            "attendance_when_active, attendance_when_completed, grace_minutes, "
            "attendance_points, meeting_points, on_time_percent, late_percent, "
            "completion_min_points, completion_min_attendance_percent, updated_at) "
            "SELECT id, 'UTC', 'none', 'check_in', 'none', 0, 1, 2, 100, 50, "
            "CASE WHEN id %% 4 = 0 THEN 0 WHEN id %% 3 = 0 THEN %(points)s ELSE 0 END, "
            "CASE WHEN id %% 4 = 0 OR id %% 3 = 0 THEN 0 ELSE 70 END, now() FROM missions",
            {"points": int(0.6 * (days + 10 * assignments))},
        )
        one(
            "INSERT INTO enrollments (mission_id, student_id, status, points, created_at, "
            "updated_at) SELECT m.id, u.id, CASE WHEN m.status = 'completed' THEN "
            "'completed' ELSE 'active' END, 0, (m.starts_on - 7)::timestamp, now() "
            "FROM missions m CROSS JOIN users u"
        )
        one(
            "INSERT INTO assignments (mission_id, title, description, opens_at, due_at, "
            "max_points, late_policy, created_at, updated_at) "
            "SELECT m.id, 'Assignment ' || a, '', m.starts_on + (a * %(every)s - 3), "
            "(m.starts_on + a * %(every)s)::timestamp + interval '12 hours', 10, "
            "'accept_late', now(), now() FROM missions m, generate_series(1, %(n)s) a",
            {"every": max(1, days // assignments), "n": assignments},
        )
        present = (
            f"{draw('e.id', 'd')} < {CHANCE} - CASE WHEN {SLIPS} AND d >= 30 THEN 300 ELSE 0 END"
        )
        one(
            "INSERT INTO attendance_days (enrollment_id, mission_id, student_id, day, kind, "
            "status, created_at, updated_at) "
            "SELECT e.id, e.mission_id, e.student_id, m.starts_on + d, 'check_in', 'present', "
            "(m.starts_on + d)::timestamp + interval '9 hours', "
            "(m.starts_on + d)::timestamp + interval '9 hours' "
            "FROM enrollments e JOIN missions m ON m.id = e.mission_id, "
            "generate_series(0, %s - 1) d "
            f"WHERE m.starts_on + d < current_date AND {present}",
            (days,),
        )
        handed = f"{draw('e.id', 'a.id', '3')} < {CHANCE}"
        late = f"{draw('e.id', 'a.id', '5')} < (1000 - {CHANCE}) / 2"
        one(
            "INSERT INTO submissions (assignment_id, enrollment_id, mission_id, student_id, "
            "submitted_at, late, source, status, mark, graded_at, created_at) "
            f"SELECT a.id, e.id, e.mission_id, e.student_id, a.due_at + CASE WHEN {late} "
            "THEN interval '2 days' ELSE interval '-1 day' END, "
            f"{late}, 'bulk', 'graded', 3 + {CHANCE} * 7 / 1000, a.due_at + interval '3 days', "
            "now() FROM enrollments e JOIN assignments a ON a.mission_id = e.mission_id "
            f"WHERE a.due_at < now() - interval '3 days' AND {handed}"
        )
        one(
            "INSERT INTO point_entries (mission_id, enrollment_id, student_id, points, reason, "
            "source_type, source_id, created_at) "
            "SELECT mission_id, enrollment_id, student_id, 1, 'attendance', 'attendance', id, "
            "created_at FROM attendance_days"
        )
        one(
            "INSERT INTO point_entries (mission_id, enrollment_id, student_id, points, reason, "
            "source_type, source_id, created_at) "
            "SELECT mission_id, enrollment_id, student_id, CASE WHEN late THEN 5 ELSE 10 END, "
            "CASE WHEN late THEN 'submission_late' ELSE 'submission_on_time' END, "
            "'submission', id, submitted_at FROM submissions"
        )
        one(
            "UPDATE enrollments e SET points = t.total FROM (SELECT enrollment_id, "
            "sum(points) AS total FROM point_entries GROUP BY enrollment_id) t "
            "WHERE t.enrollment_id = e.id"
        )
        one(
            "INSERT INTO integrity_flags (enrollment_id, mission_id, student_id, kind, "
            "evidence, status, created_at) "
            "SELECT e.id, e.mission_id, e.student_id, 'repeated_late_work', 'Late again.', "
            "'open', (m.starts_on + 10)::timestamp FROM enrollments e "
            f"JOIN missions m ON m.id = e.mission_id WHERE {CHANCE} < 400 "
            f"AND {draw('e.id', '11')} < 300"
        )
        counts = one(
            "SELECT (SELECT count(*) FROM enrollments), (SELECT count(*) FROM attendance_days), "
            "(SELECT count(*) FROM submissions), (SELECT count(*) FROM point_entries), "
            "(SELECT count(*) FROM integrity_flags)"
        ).fetchone()
        one("VACUUM ANALYZE")
    assert counts is not None
    return {
        "enrollments": counts[0], "attendance_days": counts[1], "submissions": counts[2],
        "point_entries": counts[3], "integrity_flags": counts[4],
        "seed_seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip


async def train(database: str) -> dict[str, Any]:
    os.environ.update(settings_env(database))
    from alumnet.bootstrap import build_runtime, close_runtime
    from alumnet.config import load_settings
    from alumnet.domain.analytics import early_warning

    runtime, dispatcher = build_runtime(load_settings(), worker=True)
    try:
        started = time.perf_counter()
        result = await early_warning.train(runtime)
        result["wall_seconds"] = round(time.perf_counter() - started, 2)
    finally:
        await close_runtime(runtime, dispatcher)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--missions", type=int, default=20, help="finished missions")
    parser.add_argument("--students", type=int, default=3000)
    parser.add_argument("--active", type=int, default=2, help="running missions")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--assignments", type=int, default=30)
    parser.add_argument("--database", default="alumnet_bench_early_warning")
    parser.add_argument("--skip-seed", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"settings": vars(args)}
    if not args.skip_seed:
        os.environ.update(settings_env(args.database))
        create(args.database)
        results["seeded"] = seed(args.database, args.missions, args.students, args.active,
                                 args.days, args.assignments)  # fmt: skip
        print("seeded:", json.dumps(results["seeded"]), flush=True)
    result = asyncio.run(train(args.database))
    quality = result.get("quality", {})
    results["training"] = {
        key: result.get(key)
        for key in ("status", "reason", "missions", "enrollments", "samples", "belowBar",
                    "predictions", "activeMissions", "seconds", "wall_seconds", "peak_rss_mb")
    }  # fmt: skip
    results["training"]["quality"] = {k: quality.get(k) for k in ("auc", "brier", "byStage")}
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "early_warning.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    if result.get("wall_seconds", 0) >= 60:
        sys.exit("the training took 60 s or more")


if __name__ == "__main__":
    main()
