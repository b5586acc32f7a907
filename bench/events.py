"""The events benchmark: a registration rush, and a user's calendar feed.

    python bench/events.py [--people 500] [--seats 100] [--connections 64] [--runs 3]
                           [--skip-seed]

Seeds PostgreSQL like bench/run.py (the demo data), serves as in production (uvicorn,
2 workers, Redis), and for each run publishes a new event with --seats places (a staff
token, through the API) and has --people alumni register for it at once, each with their
own access token, over --connections keep-alive connections (a small raw-HTTP client:
httpx would take the CPU the server needs). It prints registrations per second and
latency percentiles, and checks that exactly --seats were confirmed and the rest
waitlisted, numbered 1 to --people. As a reference it times the same registrations spread over ten
events (so that few wait for any one event's lock). Then it registers one alumnus for
200 events and
times their calendar feed (GET, 30 times after a warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as base

DSN = f"{base.PG}/{base.DATABASE}"
CREATE = """mutation Create($i: EventCreateInput!) { eventCreate(input: $i) {
  event { id } userErrors { code message } } }"""
PUBLISH = """mutation Publish($id: ID!) { eventPublish(input: {id: $id}) {
  userErrors { code message } } }"""
REGISTER = """mutation Register($e: ID!) { eventRegister(input: {eventId: $e}) {
  registration { status } userErrors { code } } }"""
FEED = "query Feed { viewer { calendarFeedUrl } }"


def tokens_of(role: str, count: int) -> list[tuple[int, str]]:
    """(user id, access token) for ``count`` people of a role: sessions written straight
    into the database (hundreds of password sign-ins would take minutes of hashing)."""
    os.environ.update(base.env())
    from alumnet.config import load_settings
    from alumnet.domain.identity.jwt_tokens import issue_access_token

    settings = load_settings()
    with psycopg.connect(DSN, autocommit=True) as conn:
        rows = conn.execute(
            "INSERT INTO sessions (user_id, created_at) SELECT user_id, now() FROM ("
            "SELECT user_id FROM user_roles WHERE role = %s ORDER BY user_id LIMIT %s) AS u "
            "RETURNING user_id, id",
            (role, count),
        ).fetchall()
    return [(u, issue_access_token(settings, u, s)[0]) for u, s in rows]


def new_event(client: Any, token: str, seats: int, title: str) -> str:
    start = datetime.now(UTC) + timedelta(days=30)
    given = {"title": title, "kind": "REUNION", "mode": "IN_PERSON", "venue": "Great Hall",
             "startsAt": start.isoformat(), "endsAt": (start + timedelta(hours=3)).isoformat(),
             "timeZone": "Africa/Accra", "capacity": seats}  # fmt: skip
    made = base.gql(client, CREATE, {"i": given}, token)["data"]["eventCreate"]
    assert made["userErrors"] == [], made
    event = str(made["event"]["id"])
    published = base.gql(client, PUBLISH, {"id": event}, token)["data"]["eventPublish"]
    assert published["userErrors"] == [], published
    return event


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes, token: str
) -> tuple[int, bytes]:
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def rush(events: list[str], people: list[str], connections: int) -> dict[str, Any]:
    """Every person registers once (for one of ``events``, in turn), over ``connections``
    connections at once."""
    bodies = [json.dumps({"query": REGISTER, "variables": {"e": e}}).encode() for e in events]
    queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
    for index, token in enumerate(people):
        queue.put_nowait((bodies[index % len(bodies)], token))
    latencies: list[float] = []
    statuses: dict[str, int] = {}

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", base.PORT)
        try:
            while not queue.empty():
                body, token = queue.get_nowait()
                started = time.perf_counter()
                status, answer = await _post(reader, writer, body, token)
                latencies.append(time.perf_counter() - started)
                found = json.loads(answer) if status == 200 else {}
                payload = (found.get("data") or {}).get("eventRegister") or {}
                key = (payload.get("registration") or {}).get("status") or (
                    f"error {status} {[e['code'] for e in payload.get('userErrors', [])]}"
                )
                statuses[key] = statuses.get(key, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

    return {
        "registrations": len(latencies), "seconds": round(seconds, 3),
        "per_second": round(len(latencies) / seconds, 1), "p50_ms": pct(0.50),
        "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": round(ordered[-1] * 1000, 1),
        "answers": statuses,
    }  # fmt: skip


def check(event: str, seats: int, people: int) -> dict[str, Any]:
    pk = int(base64.b64decode(event).decode().split(":")[1])
    with psycopg.connect(DSN) as conn:
        rows = conn.execute(
            "SELECT status, arrival FROM event_registrations WHERE event_id = %s ORDER BY arrival",
            (pk,),
        ).fetchall()
        taken = conn.execute("SELECT seats_taken FROM events WHERE id = %s", (pk,)).fetchone()
    confirmed = [a for s, a in rows if s == "confirmed"]
    return {
        "confirmed": len(confirmed),
        "waitlisted": sum(1 for s, _ in rows if s == "waitlisted"),
        "arrivals_in_order": [a for _, a in rows] == list(range(1, people + 1)),
        "first_come_confirmed": confirmed == list(range(1, seats + 1)),
        "seats_taken": taken[0] if taken else None,
        "exact": len(confirmed) == seats and len(rows) == people and bool(taken)
        and taken[0] == seats,
    }  # fmt: skip


def feed_timing(client: Any, staff: str, user: tuple[int, str], count: int) -> dict[str, Any]:
    """``count`` events with the user registered, then their feed fetched 30 times."""
    start = datetime.now(UTC) + timedelta(days=1)
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("DELETE FROM event_registrations WHERE user_id = %s", (user[0],))
        ids = [
            r[0]
            for r in conn.execute(
                "INSERT INTO events (title, description_markdown, description_html, kind, mode,"
                " venue, city, starts_at, ends_at, time_zone, guests_max, questions, status,"
                " seats_taken, arrivals, created_at, updated_at, published_at) "
                "SELECT 'Feed event ' || n, 'A talk.', '<p>A talk.</p>', 'talk', 'hybrid',"
                " 'Room ' || n, 'Accra', %s + n * interval '1 day', %s + n * interval '1 day'"
                " + interval '1 hour', (ARRAY['Africa/Accra','Europe/London','Asia/Kolkata',"
                "'America/New_York'])[1 + n %% 4], 0, '[]', 'published', 1, 1, now(), now(),"
                " now() FROM generate_series(1, %s) AS n RETURNING id",
                (start, start, count),
            ).fetchall()
        ]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO event_registrations (event_id, user_id, status, arrival, guests,"
                " seats, answers, listed, walk_in, registered_at, confirmed_at) VALUES"
                " (%s, %s, 'confirmed', 1, 0, 1, '{}', true, false, now(), now())",
                [(i, user[0]) for i in ids],
            )
    url = base.gql(client, FEED, {}, user[1])["data"]["viewer"]["calendarFeedUrl"]
    path = "/" + url.split("/", 3)[3]
    times = []
    size = 0
    for i in range(33):
        started = time.perf_counter()
        response = client.get(path)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        size = len(response.content)
        if i >= 3:
            times.append(elapsed * 1000)
    times.sort()
    return {"events": count, "bytes": size, "median_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[int(0.95 * len(times))], 1),
            "vevents": response.text.count("BEGIN:VEVENT")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--seats", type=int, default=100)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-seed", action="store_true")
    args = parser.parse_args()
    if not args.skip_seed:
        base.prepare_database()
    people = tokens_of("ALUMNUS", args.people)
    [(_, staff)] = tokens_of("MANAGER", 1)
    server, client = base.serve(args.workers)
    results: dict[str, Any] = {"runs": []}
    try:
        for run in range(args.runs):
            event = new_event(client, staff, args.seats, f"Rush {run} {time.time():.0f}")
            found = asyncio.run(rush([event], [t for _, t in people], args.connections))
            found["check"] = check(event, args.seats, args.people)
            # The reference: the same registrations spread over ten events (little waiting
            # for any one event's lock), for the cost of the lock's queue by the ratio.
            spread = [new_event(client, staff, args.seats, f"Spread {run} {i} {time.time():.0f}")
                      for i in range(10)]  # fmt: skip
            reference = asyncio.run(rush(spread, [t for _, t in people], args.connections))
            found["reference_ten_events"] = {k: reference[k] for k in (
                "per_second", "p50_ms", "p95_ms", "p99_ms")}  # fmt: skip
            results["runs"].append(found)
        rates = sorted(r["per_second"] for r in results["runs"])
        p99s = sorted(r["p99_ms"] for r in results["runs"])
        results["median"] = {"per_second": rates[len(rates) // 2],
                             "p99_ms": p99s[len(p99s) // 2]}  # fmt: skip
        results["feed"] = feed_timing(client, staff, people[0], 200)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    results["settings"] = {"people": args.people, "seats": args.seats,
                           "connections": args.connections, "workers": args.workers}  # fmt: skip
    out = base.ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "events.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
