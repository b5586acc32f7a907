"""Academics and admissions at scale on PostgreSQL: a subject's progress table, the
sentiment job, and the admissions funnel.

    python bench/academics.py [--students 3000] [--topics 40] [--comments 10000]
                              [--inquiries 100000] [--runs 3] [--requests 20] [--skip-seed]

Builds its own database (alumnet_bench_academics) with SQL alone (generate_series, no API):
one mission of --students students, a subject of --topics topics offered to it, a
topic_progress row for every student and topic (3,000 x 40 = 120,000: completed, in
progress, needing revision or not started, completed over the last six weeks), --comments
unscored feedback comments (built from phrases, so that few are alike), and --inquiries
inquiries over two years from every source, spread over ten counsellors and five
programmes, at every stage of the pipeline with their stage changes. It serves as in
production (uvicorn, one worker, Redis, the analytics cache off) and measures:

- the subject's progress table for the mission (`subjectProgress`), a page of 50 sorted by
  percent complete and the whole mission in pages of 1,000: --requests requests per run,
  p95 and median per run (goal: p95 < 100 ms);
- the sentiment job (`academics.feedback_sentiment`) over every unscored comment, recorded
  through the API's own job path and run by `alumnet worker --burst`: its own start to
  finish, from the jobs table (goal: 10,000 comments < 30 s in one job);
- the admissions funnel over every inquiry (`admissionsFunnel`), --requests requests per
  run (goal: < 200 ms).

Each is run --runs times; the medians are printed. A small run, to check that it works:
--students 300 --topics 10 --comments 500 --inquiries 5000 --runs 1 --requests 5.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as base

base.DATABASE = "alumnet_bench_academics"
DSN = f"{base.PG}/{base.DATABASE}"
ENV = {"ALUMNET_ANALYTICS_CACHE_SECONDS": "0", "ALUMNET_TWO_FACTOR_ROLES": "none"}
SENTIMENT_JOB = "academics.feedback_sentiment"

PHRASES = [
    "the sessions were really clear and helpful", "I am completely lost and frustrated",
    "the pace is too fast for me", "great examples, I loved the practical work",
    "the faculty explained recursion brilliantly", "boring lectures, nothing new",
    "assignments are confusing and badly worded", "thank you, this changed how I code",
    "the lab machines keep crashing which is awful", "okay overall",
    "I wish we had more time on databases", "excellent mentor, always available",
    "the quiz was unfair and the marking harsh", "good topic but the slides were poor",
    "amazing energy in class", "terrible, I want a refund", "fine, nothing special",
    "very supportive and patient", "hated the group project", "useful but too long",
]  # fmt: skip


def _sql(conn: psycopg.Connection, label: str, statement: str, **params: object) -> None:
    started = time.perf_counter()
    conn.execute(statement, params)  # type: ignore[arg-type]
    print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)


def seed(students: int, topics: int, comments: int, inquiries: int) -> None:
    for statement in (f"DROP DATABASE IF EXISTS {base.DATABASE} WITH (FORCE)",
                      f"CREATE DATABASE {base.DATABASE}"):  # fmt: skip
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", statement],
                       check=True)  # fmt: skip
    base.alumnet("migrate", "upgrade")
    with psycopg.connect(DSN, autocommit=True) as conn:
        _sql(conn, "students", """
            INSERT INTO users (email, email_lower, name, status, created_at, updated_at)
            SELECT 'student' || g || '@bench.alumnet.dev', 'student' || g || '@bench.alumnet.dev',
                   'Student ' || g, 'active', now(), now()
            FROM generate_series(1, %(n)s) g""", n=students)  # fmt: skip
        _sql(conn, "staff", """
            INSERT INTO users (email, email_lower, name, status, created_at, updated_at)
            SELECT 'counsellor' || g || '@bench.alumnet.dev',
                   'counsellor' || g || '@bench.alumnet.dev', 'Counsellor ' || g, 'active',
                   now(), now()
            FROM generate_series(1, 10) g""")  # fmt: skip
        _sql(conn, "roles", """
            INSERT INTO user_roles (user_id, role)
            SELECT id, CASE WHEN email_lower LIKE 'student%%' THEN 'STUDENT' ELSE 'ADMISSIONS' END
            FROM users WHERE email_lower LIKE '%%@bench.alumnet.dev'""")  # fmt: skip
        _sql(conn, "batch and mission", """
            WITH b AS (
              INSERT INTO batches (name, code, description, status, starts_on, ends_on,
                                   created_at, updated_at)
              VALUES ('Bench intake', 'BENCH', '', 'active', (now() - interval '6 weeks')::date,
                      (now() + interval '10 weeks')::date, now(), now()) RETURNING id)
            INSERT INTO missions (batch_id, title, code, description, status, starts_on, ends_on,
                                  created_at, updated_at)
            SELECT id, 'Bench mission', 'BENCH-1', '', 'active',
                   (now() - interval '6 weeks')::date, (now() + interval '10 weeks')::date,
                   now(), now() FROM b""")  # fmt: skip
        _sql(conn, "enrolments", """
            INSERT INTO enrollments (mission_id, student_id, status, points, created_at,
                                     updated_at)
            SELECT (SELECT id FROM missions WHERE code = 'BENCH-1'), id, 'active', 0, now(), now()
            FROM users WHERE email_lower LIKE 'student%%'""")  # fmt: skip
        _sql(conn, "subject, topics and offering", """
            WITH s AS (
              INSERT INTO subjects (code, name, description, status, created_at, updated_at)
              VALUES ('BENCH', 'Bench subject', '', 'active', now(), now()) RETURNING id),
            t AS (
              INSERT INTO topics (subject_id, code, title, description, position,
                                  estimated_minutes, created_at, updated_at)
              SELECT s.id, 'T' || g, 'Topic ' || g, '', g, 60 + (g %% 4) * 30, now(), now()
              FROM s, generate_series(1, %(topics)s) g RETURNING id)
            INSERT INTO subject_offerings (subject_id, mission_id, starts_on, ends_on, created_at)
            SELECT s.id, (SELECT id FROM missions WHERE code = 'BENCH-1'),
                   (now() - interval '6 weeks')::date, (now() + interval '10 weeks')::date, now()
            FROM s""", topics=topics)  # fmt: skip
        _sql(conn, "topic progress", """
            WITH st AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM users
                        WHERE email_lower LIKE 'student%%'),
                 tp AS (SELECT id, subject_id, position FROM topics)
            INSERT INTO topic_progress (student_id, topic_id, subject_id, status, competency,
                                        note, started_at, completed_at, updated_at)
            SELECT st.id, tp.id, tp.subject_id,
                   CASE WHEN tp.position <= st.n %% (%(topics)s / 2 + 1) THEN 'completed'
                        WHEN tp.position = st.n %% (%(topics)s / 2 + 1) + 1 THEN 'in_progress'
                        WHEN tp.position = st.n %% (%(topics)s / 2 + 1) + 2 AND st.n %% 7 = 0
                          THEN 'needs_revision'
                        ELSE 'not_started' END,
                   CASE WHEN tp.position <= st.n %% (%(topics)s / 2 + 1) THEN 1 + st.n %% 5 END,
                   NULL,
                   CASE WHEN tp.position <= st.n %% (%(topics)s / 2 + 1) + 2
                        THEN now() - interval '6 weeks' + tp.position * interval '1 day' END,
                   CASE WHEN tp.position <= st.n %% (%(topics)s / 2 + 1)
                        THEN now() - interval '6 weeks' + tp.position * interval '1 day'
                             + (st.n %% 24) * interval '1 hour' END,
                   now()
            FROM st CROSS JOIN tp""", topics=topics)  # fmt: skip
        phrases = "ARRAY[" + ",".join("'" + p.replace("'", "''") + "'" for p in PHRASES) + "]"
        _sql(conn, "feedback", f"""
            WITH st AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM users
                        WHERE email_lower LIKE 'student%%'),
                 c AS (SELECT count(*) AS k FROM st)
            INSERT INTO student_feedback (public_id, author_id, target, subject_id, rating,
                                          comment, anonymous, created_at)
            SELECT floor(random() * 4611686018427387903)::bigint + 1, st.id, 'subject',
                   (SELECT id FROM subjects WHERE code = 'BENCH'),
                   1 + g %% 5,
                   initcap(({phrases})[1 + g %% 20]) || ', and ' || ({phrases})[1 + (g / 20) %% 20]
                     || '. ' || initcap(({phrases})[1 + (g / 400) %% 20]) || ' (week '
                     || g %% 13 || ').',
                   g %% 3 = 0, now() - (g %% 60) * interval '1 day'
            FROM generate_series(1, %(n)s) g, c JOIN st ON true
            WHERE st.n = 1 + g %% c.k""", n=comments)  # fmt: skip
        _sql(conn, "programmes", """
            INSERT INTO programmes (code, name, first_graduation_year, last_graduation_year,
                                    created_at)
            SELECT 'P' || g, 'Programme ' || g, 2010, CASE WHEN g = 5 THEN 2020 END, now()
            FROM generate_series(1, 5) g""")  # fmt: skip
        _sql(conn, "inquiries", """
            WITH c AS (SELECT array_agg(id ORDER BY id) AS ids FROM users
                       WHERE email_lower LIKE 'counsellor%%'),
                 p AS (SELECT array_agg(id ORDER BY id) AS ids FROM programmes),
                 g AS (SELECT g, 1 + (g * 7) %% 5 AS rank_, g %% 9 = 0 AS lost,
                              now() - (g %% 730) * interval '1 day' AS created
                       FROM generate_series(1, %(n)s) g)
            INSERT INTO inquiries (name, email, email_key, phone, source, programme_id, notes,
                                   stage, furthest, lost_reason, counsellor_id, score,
                                   score_reasons, stage_changed_at, created_at, updated_at)
            SELECT 'Prospect ' || g.g, 'prospect' || g.g || '@example.org',
                   'prospect' || g.g || '@example.org', NULL,
                   (ARRAY['web_form','walk_in','referral','campaign'])[1 + g.g %% 4],
                   p.ids[1 + g.g %% 5], '',
                   CASE WHEN g.lost AND g.rank_ < 5 THEN 'lost'
                        ELSE (ARRAY['new','contacted','counselled','applied','enrolled'])[g.rank_]
                   END,
                   g.rank_, CASE WHEN g.lost AND g.rank_ < 5 THEN 'Chose another school' END,
                   CASE WHEN g.g %% 10 = 0 THEN NULL ELSE c.ids[1 + g.g %% 10] END,
                   g.g %% 100, '[]', g.created + g.rank_ * interval '3 days', g.created,
                   g.created
            FROM g, c, p""", n=inquiries)  # fmt: skip
        _sql(conn, "stage changes", """
            INSERT INTO inquiry_stage_changes (inquiry_id, from_stage, to_stage, changed_at)
            SELECT i.id,
                   CASE WHEN r.k = 1 THEN NULL
                        ELSE (ARRAY['new','contacted','counselled','applied'])[r.k - 1] END,
                   (ARRAY['new','contacted','counselled','applied','enrolled'])[r.k],
                   i.created_at + (r.k - 1) * interval '3 days'
            FROM inquiries i
            JOIN LATERAL generate_series(1, i.furthest) r(k) ON true""")  # fmt: skip
        _sql(conn, "lost changes", """
            INSERT INTO inquiry_stage_changes (inquiry_id, from_stage, to_stage, reason, changed_at)
            SELECT id, (ARRAY['new','contacted','counselled','applied'])[furthest], 'lost',
                   lost_reason, stage_changed_at
            FROM inquiries WHERE stage = 'lost'""")  # fmt: skip
    subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", base.DATABASE,
                    "-c", "VACUUM ANALYZE"], check=True)  # fmt: skip


def staff_token(client: httpx.Client) -> str:
    base.alumnet("user", "create-admin", "--email", "admin@bench.alumnet.dev",
                 "--name", "Bench Admin", "--password", "bench-password-123",
                 extra=ENV)  # fmt: skip
    signed = base.gql(
        client,
        """mutation { tokenCreate(input: {email:
        "admin@bench.alumnet.dev", password: "bench-password-123"}) { accessToken } }""",
    )
    return str(signed["data"]["tokenCreate"]["accessToken"])


def request(client: httpx.Client, token: str, query: str, variables: dict[str, Any]) -> Any:
    response = client.post("/graphql", json={"query": query, "variables": variables},
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    body = response.json()
    if "errors" in body:
        raise RuntimeError(body["errors"])
    return body["data"]


def timed(client: httpx.Client, token: str, query: str, variables: dict[str, Any],
          requests: int) -> list[float]:  # fmt: skip
    request(client, token, query, variables)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        request(client, token, query, variables)
        times.append((time.perf_counter() - started) * 1000)
    return times


def p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def figures(times: list[float]) -> dict[str, float]:
    return {"p95_ms": round(p95(times), 1), "median_ms": round(statistics.median(times), 1)}


def whole_table(client: httpx.Client, token: str, variables: dict[str, Any]) -> tuple[float, int]:
    """Every page of 1,000 of the progress table: the time and the rows."""
    started, rows, after = time.perf_counter(), 0, None
    while True:
        data = request(client, token, PROGRESS_PAGE, {**variables, "after": after})
        page = data["subjectProgress"]
        rows += len(page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return (time.perf_counter() - started) * 1000, rows
        after = page["pageInfo"]["endCursor"]


def sentiment_run() -> dict[str, Any]:
    """Marks every comment unscored, records the job as the API does (after commit, to
    Redis), runs a burst worker, and reads the job's own start and finish."""
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("UPDATE student_feedback SET sentiment = NULL, sentiment_label = NULL, "
                     "scored_at = NULL, alerted_at = NULL")  # fmt: skip
        conn.execute("DELETE FROM notifications")
    asyncio.run(_record_job())
    started = time.perf_counter()
    base.alumnet("worker", "--burst", extra=ENV)
    wall = time.perf_counter() - started
    with psycopg.connect(DSN) as conn:
        row = conn.execute(
            "SELECT status, extract(epoch FROM finished_at - started_at), result FROM jobs "
            "WHERE name = %s ORDER BY id DESC LIMIT 1",
            (SENTIMENT_JOB,),
        ).fetchone()
        scored = conn.execute(
            "SELECT count(*) FROM student_feedback WHERE scored_at IS NOT NULL"
        ).fetchone()
    assert row is not None
    assert scored is not None
    return {"status": row[0], "job_s": round(float(row[1] or 0), 2), "worker_wall_s":
            round(wall, 2), "scored": int(scored[0]), "result": row[2]}  # fmt: skip


async def _record_job() -> None:
    from alumnet.bootstrap import build_runtime, close_runtime
    from alumnet.config import load_settings

    runtime, dispatcher = build_runtime(load_settings({**base.env(), **ENV}))
    try:
        async with runtime.transaction() as uow:
            await uow.add_job(SENTIMENT_JOB, {})
    finally:
        await close_runtime(runtime, dispatcher)


PROGRESS_50 = """query($s: ID!, $m: ID!) { subjectProgress(subjectId: $s, missionId: $m,
  first: 50, orderBy: {field: PERCENT, direction: ASC}) { totalCount
  edges { node { student { id name } completed inProgress needsRevision percentComplete
    averageCompetency velocity forecastCompletion expectedCompleted behind } } } }"""
PROGRESS_PAGE = """query($s: ID!, $m: ID!, $after: String) { subjectProgress(subjectId: $s,
  missionId: $m, first: 1000, after: $after) { pageInfo { hasNextPage endCursor }
  edges { node { student { id name } completed inProgress needsRevision percentComplete
    averageCompetency velocity forecastCompletion expectedCompleted behind } } } }"""
FUNNEL = """{ admissionsFunnel { inquiries lost conversion
  stages { stage reached current conversion } } }"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=3000)
    parser.add_argument("--topics", type=int, default=40)
    parser.add_argument("--comments", type=int, default=10_000)
    parser.add_argument("--inquiries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--skip-seed", action="store_true")
    given = parser.parse_args()
    if not given.skip_seed:
        seed(given.students, given.topics, given.comments, given.inquiries)
    old_env = base.env
    base.env = lambda: {**old_env(), **ENV}  # type: ignore[assignment]
    server, client = base.serve(1)
    from strawberry.relay import to_base64

    results: dict[str, Any] = {"progress_50": [], "progress_all": [], "funnel": [],
                               "sentiment": []}  # fmt: skip
    try:
        token = staff_token(client)
        with psycopg.connect(DSN) as conn:
            ids = conn.execute(
                "SELECT (SELECT id FROM subjects WHERE code = 'BENCH'), "
                "(SELECT id FROM missions WHERE code = 'BENCH-1')"
            ).fetchone()
        assert ids is not None
        variables = {"s": to_base64("Subject", ids[0]), "m": to_base64("Mission", ids[1])}
        for run in range(given.runs):
            times = timed(client, token, PROGRESS_50, variables, given.requests)
            results["progress_50"].append(figures(times))
            whole, rows = whole_table(client, token, variables)
            results["progress_all"].append({"ms": round(whole, 1), "rows": rows})
            times = timed(client, token, FUNNEL, {}, given.requests)
            results["funnel"].append(figures(times))
            results["sentiment"].append(sentiment_run())
            print(f"run {run + 1}:", json.dumps({k: v[-1] for k, v in results.items()}),
                  flush=True)  # fmt: skip
    finally:
        base.stop(server)
    summary = {
        "progress_50_p95_ms": statistics.median(r["p95_ms"] for r in results["progress_50"]),
        "progress_all_ms": statistics.median(r["ms"] for r in results["progress_all"]),
        "funnel_p95_ms": statistics.median(r["p95_ms"] for r in results["funnel"]),
        "sentiment_job_s": statistics.median(r["job_s"] for r in results["sentiment"]),
    }
    print("medians:", json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
