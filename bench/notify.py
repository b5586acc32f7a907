"""The communication benchmark: notifying a whole mission, and an institution.

    python bench/notify.py [--repeat 3] [--skip-seed]

Seeds PostgreSQL like bench/run.py (the mission B2026A-FND has 3,000 students) and runs,
through the production ASGI app in this process (PostgreSQL + Redis, as in production):

- `noticePost` to B2026A-FND: 3,000 in-app notifications, 3,000 queued e-mails and their
  jobs, 3,000 live events, in one transaction;
- `noticeRemind` of the same notice (all 3,000 still pending);
- `announcementPost` to everyone.

Each is timed end to end (development settings with debug timing, otherwise as in
production) (request to response, including the RQ enqueue and the pub/sub
publish after commit) and its SQL statement count is printed. The e-mails are not sent:
the bench's Redis database is emptied afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as base

DSN = f"{base.PG}/{base.DATABASE}"
NOTICE = """mutation($m: ID!, $t: String!) { noticePost(input: {missionId: $m, title: $t,
  body: "Please read the **week 3** guidelines before Monday."}) {
  notice { id } userErrors { code } } }"""
REMIND = (
    """mutation($n: ID!) { noticeRemind(input: {noticeId: $n}) { reminded userErrors { code } } }"""
)
ANNOUNCE = """mutation($t: String!) {
  announcementPost(input: {title: $t, body: "Campus is closed."}) {
  announcement { id } userErrors { code } } }"""


def staff_token(email: str) -> str:
    """An access token for a demo staff member: a session written straight into the
    database (no password sign-in needed)."""
    from alumnet.config import load_settings
    from alumnet.domain.identity.jwt_tokens import issue_access_token

    settings = load_settings()
    with psycopg.connect(DSN, autocommit=True) as conn:
        user_id, session_id = conn.execute(
            "INSERT INTO sessions (user_id, created_at) SELECT id, now() FROM users "
            "WHERE email_lower = %s RETURNING user_id, id",
            (email,),
        ).fetchone()  # type: ignore[misc]
    return issue_access_token(settings, user_id, session_id)[0]


async def timed(client: httpx.AsyncClient, token: str, query: str, variables: Any) -> Any:
    started = time.perf_counter()
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    elapsed = (time.perf_counter() - started) * 1000
    body = response.json()
    assert "errors" not in body, body
    payload = next(iter(body["data"].values()))
    assert payload["userErrors"] == [], payload
    # The Server-Timing header counts the request's SQL statements.
    found = re.search(r'desc="(\d+) statements"', response.headers["server-timing"])
    assert found, response.headers["server-timing"]
    return elapsed, int(found.group(1)), payload


async def main(repeat: int) -> None:
    from redis import Redis

    from alumnet.app import create_app

    with psycopg.connect(DSN, autocommit=True) as conn:
        mission = conn.execute("SELECT id FROM missions WHERE code = 'B2026A-FND'").fetchone()
        students = conn.execute(
            "SELECT count(*) FROM enrollments e JOIN missions m ON m.id = e.mission_id "
            "WHERE m.code = 'B2026A-FND' AND e.status = 'active'"
        ).fetchone()
        people = conn.execute("SELECT count(*) FROM users WHERE status = 'active'").fetchone()
    assert mission is not None
    assert students is not None
    assert people is not None
    from strawberry.relay import to_base64

    mission_id = to_base64("Mission", mission[0])
    sre = staff_token("sre@demo.alumnet.dev")
    manager = staff_token("manager@demo.alumnet.dev")
    app = create_app()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await timed(client, sre, NOTICE, {"m": mission_id, "t": "warm-up"})
            posts, notice_id, statements = [], None, 0
            for i in range(repeat):
                ms, statements, payload = await timed(
                    client, sre, NOTICE, {"m": mission_id, "t": f"Week {i}"}
                )
                posts.append(ms)
                notice_id = payload["notice"]["id"]
            print(
                f"noticePost to {students[0]} students: median {statistics.median(posts):.0f} ms "
                f"(runs {', '.join(f'{m:.0f}' for m in posts)} ms), {statements} SQL statements"
            )
            ms, statements, payload = await timed(client, sre, REMIND, {"n": notice_id})
            print(
                f"noticeRemind of {payload['reminded']} students: {ms:.0f} ms, "
                f"{statements} SQL statements"
            )
            ms, statements, _ = await timed(client, manager, ANNOUNCE, {"t": "Closed on Friday"})
            print(
                f"announcementPost to all {people[0]} people: {ms:.0f} ms, {statements} statements"
            )
    finally:
        await app.state.runtime.database.engine.dispose()
        Redis.from_url(base.REDIS).flushdb()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-seed", action="store_true")
    args = parser.parse_args()
    os.environ.update(base.env())
    if not args.skip_seed:
        base.prepare_database()
    # Debug mode (development only) adds the SQL statement count to each response.
    os.environ.update({"ALUMNET_ENV": "development", "ALUMNET_DEBUG": "1"})
    asyncio.run(main(args.repeat))
