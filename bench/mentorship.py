"""The mentorship benchmark: mentor suggestions over 5,000 offers, and the bulk matching
of a 3,000-student mission with 60 mentors.

    python bench/mentorship.py [--seconds 10] [--connections 8] [--offers 5000] [--runs 3]
                               [--skip-seed]

Seeds PostgreSQL like bench/run.py (the demo: 120 offers, 3,000 students in B2026A-FND,
60 mentors), adds generated offers (with three topics each, from the skills vocabulary)
from the demo's alumni up to --offers, serves as in production (uvicorn, 2 workers,
Redis), and drives `mentorSuggestions(first: 10)` for the demo's student with `wrk`
(8 connections; goals, time zone and languages given). Then, --runs times, it clears the
mission's mentor assignments and times the matching job's function in this process (as a
worker runs it): 3,000 students, the demo's 60 mentors, solved and written; with the
process's peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import directory
import run as base

DSN = f"{base.PG}/{base.DATABASE}"
SUGGEST = """query Suggest($g: String, $z: String, $l: [String!]) {
  mentorSuggestions(first: 10, goals: $g, timeZone: $z, languages: $l) {
    score why parts { skills industry programme location timeZone language load }
    mentor { id headline topics } } }"""
GOALS = ["I want to learn data analysis and python", "Prepare for interviews in finance",
         "Move into product management", "Start a business in agritech"]  # fmt: skip


def add_offers(total: int) -> int:
    """Offers from the demo's alumni (those without one) up to ``total``, in SQL."""
    with psycopg.connect(DSN, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM mentor_offers").fetchone()[0]  # type: ignore[index]
        missing = max(0, total - int(have))
        if not missing:
            return int(have)
        conn.execute(
            """
            INSERT INTO mentor_offers (user_id, headline, offers, industries, languages,
              availability, time_zone, capacity, active_mentees, preferred_mentee, paused,
              topics_text, tags, zone_fit, created_at, updated_at)
            SELECT r.user_id, 'Mentoring in my field',
              '["career_advice", "cv_review"]'::json,
              json_build_array((ARRAY['Fintech','Health','Energy','Media'])[1 + r.user_id %% 4]),
              '["en"]'::json,
              json_build_array(json_build_object('weekday', r.user_id %% 7, 'start', '18:00',
                                                 'end', '20:00')),
              (ARRAY['Africa/Accra','Africa/Lagos','Africa/Nairobi','Europe/London'])
                [1 + r.user_id %% 4],
              3, r.user_id %% 3, 'both', false, '',
              ',offer:career_advice,offer:cv_review,language:en,', '', now(), now()
            FROM user_roles r
            WHERE r.role = 'ALUMNUS'
              AND r.user_id NOT IN (SELECT user_id FROM mentor_offers)
            ORDER BY r.user_id
            LIMIT %s
            """,
            (missing,),
        )
        conn.execute(
            """
            INSERT INTO mentor_offer_skills (user_id, skill_id)
            SELECT o.user_id, s.id FROM mentor_offers o
            CROSS JOIN LATERAL (
              SELECT id FROM skills ORDER BY (id * 7919 + o.user_id) % 97 LIMIT 3) s
            WHERE NOT EXISTS (SELECT 1 FROM mentor_offer_skills t WHERE t.user_id = o.user_id)
            """
        )
        conn.execute(
            """
            UPDATE mentor_offers o SET topics_text = t.names FROM (
              SELECT k.user_id, string_agg(s.name, ' ') AS names FROM mentor_offer_skills k
              JOIN skills s ON s.id = k.skill_id GROUP BY k.user_id) t
            WHERE t.user_id = o.user_id AND o.topics_text = ''
            """
        )
        # Each offer's fit to every UTC offset, as the API keeps it (one computation per
        # distinct zone and windows).
        from alumnet.domain.mentorship.offers import zone_fit

        pairs = conn.execute(
            "SELECT DISTINCT time_zone, availability::text FROM mentor_offers WHERE zone_fit = ''"
        ).fetchall()
        for zone, windows in pairs:
            conn.execute(
                "UPDATE mentor_offers SET zone_fit = %s WHERE time_zone = %s "
                "AND availability::text = %s AND zone_fit = ''",
                (zone_fit(json.loads(windows), zone), zone, windows),
            )
        conn.execute("ANALYZE mentor_offers; ANALYZE mentor_offer_skills")
        return int(conn.execute("SELECT count(*) FROM mentor_offers").fetchone()[0])  # type: ignore[index]


async def time_matching(mission_code: str, runs: int) -> dict[str, Any]:
    os.environ.update(base.env())
    from alumnet.bootstrap import build_runtime, close_runtime
    from alumnet.config import load_settings
    from alumnet.domain.mentorship import assignment

    with psycopg.connect(DSN, autocommit=True) as conn:
        mission, = conn.execute("SELECT id FROM missions WHERE code = %s",
                                (mission_code,)).fetchone()  # type: ignore[misc]  # fmt: skip
        manager, = conn.execute("SELECT id FROM users WHERE email_lower = %s",
                                ("manager@demo.alumnet.dev",)).fetchone()  # type: ignore[misc]  # fmt: skip
        # Skills for the mission's students (two each) and the mentors (three each), so
        # that the scores differ and the solver has something to choose.
        conn.execute(
            """
            INSERT INTO user_skills (user_id, skill_id, proficiency)
            SELECT u.id, s.id, 'intermediate' FROM (
              SELECT student_id AS id, 2 AS n FROM enrollments WHERE mission_id = %s
              UNION SELECT user_id, 3 FROM user_roles WHERE role = 'MENTOR') u
            CROSS JOIN LATERAL (
              SELECT id FROM skills ORDER BY (id * 7919 + u.id) %% 23 LIMIT u.n) s
            ON CONFLICT DO NOTHING
            """,
            (mission,),
        )
    runtime, _ = build_runtime(load_settings())
    found: list[dict[str, Any]] = []

    async def progress(fraction: float) -> None:
        return None

    try:
        for _ in range(runs):
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute("DELETE FROM mentor_assignments WHERE mission_id = %s", (mission,))
            started = time.perf_counter()
            result = await assignment.run(runtime, {
                "mission_id": mission, "dry_run": False, "mentor_ids": None,
                "max_per_mentor": None, "user_id": manager, "scope": None,
            }, progress)  # fmt: skip
            result["wall_seconds"] = round(time.perf_counter() - started, 3)
            found.append(result)
    finally:
        await close_runtime(runtime)
    seconds = sorted(r["wall_seconds"] for r in found)
    return {
        "runs": [{k: r[k] for k in ("students", "mentors", "assigned", "written",
                                    "wall_seconds", "peakMemoryMb", "scores")} for r in found],
        "median_seconds": seconds[len(seconds) // 2],
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--offers", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-seed", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    os.environ.update(base.env())
    if not args.skip_seed:
        base.prepare_database()
    results: dict[str, Any] = {"offers": add_offers(args.offers)}
    student = directory.token_of("student@demo.alumnet.dev")
    bodies = [
        {"query": SUGGEST, "variables": {"g": g, "z": "Africa/Accra", "l": ["en", "fr"]}}
        for g in GOALS
    ]
    server, client = base.serve(args.workers)
    try:
        sample = base.gql(client, SUGGEST, bodies[0]["variables"], student)
        print("sample:", json.dumps(sample["data"]["mentorSuggestions"][0])[:300], flush=True)
        rounds = []
        for _ in range(args.runs):
            base.wrk(bodies, student, 2, args.connections)  # warm-up
            rounds.append(base.wrk(bodies, student, args.seconds, args.connections))
        results["suggestions"] = rounds
        p95s = sorted(r["p95_ms"] for r in rounds if "p95_ms" in r)
        if p95s:
            results["suggestions_p95_median_ms"] = statistics.median(p95s)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    results["matching"] = asyncio.run(time_matching("B2026A-FND", args.runs))
    out = base.ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "mentorship.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
