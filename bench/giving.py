"""Giving at scale on PostgreSQL: campaign progress, the participation report, LYBUNT, and
the payment provider's webhook under duplicate deliveries.

    python bench/giving.py [--gifts 1000000] [--donors 50000] [--runs 3]
                           [--deliveries 1000] [--clients 32] [--skip-seed]

Builds its own database (alumnet_bench_giving) with SQL alone (generate_series, no API):
--donors donors (four in five alumni with an account, graduating 1985-2024, the rest
outside donors), four funds, five campaigns (two running), and --gifts confirmed gifts
over the last ten years (about a third to the running annual fund), plus a refund in every
two hundred; then the running totals are recounted once with `alumnet giving recount
--fix`, as an operator would after a bulk load. It serves as in production (uvicorn, one
worker, Redis, the analytics cache off) and times, as a client sees them, one warm-up and
--runs requests each of:

- `campaignProgress` of the annual fund (goal: < 20 ms);
- `givingParticipation` for this year by graduation year (goal: < 300 ms);
- `lybunt` for this year, first page of 100 with its total (goal: < 500 ms);

then sends --deliveries signed `payment.succeeded` webhooks, a fifth of them repeats of
earlier ones, from --clients clients at once, and checks that each payment was recorded
exactly once. Prints each run, the medians, and the webhook throughput.

A small run, to check that it works: --gifts 20000 --donors 2000 --deliveries 200.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as base

base.DATABASE = "alumnet_bench_giving"
DSN = f"{base.PG}/{base.DATABASE}"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789-abcdefghij"
ENV = {
    "ALUMNET_ANALYTICS_CACHE_SECONDS": "0",
    "ALUMNET_TWO_FACTOR_ROLES": "none",
    "ALUMNET_PAYMENTS_PROVIDER": "signed",
    "ALUMNET_PAYMENTS_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "ALUMNET_PAYMENTS_CHECKOUT_URL": "https://pay.example.org/checkout",
}


def _sql(conn: psycopg.Connection, label: str, statement: str, **params: object) -> None:
    started = time.perf_counter()
    conn.execute(statement, params)  # type: ignore[arg-type]
    print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)


def seed(gifts: int, donors: int) -> None:
    for statement in (f"DROP DATABASE IF EXISTS {base.DATABASE} WITH (FORCE)",
                      f"CREATE DATABASE {base.DATABASE}"):  # fmt: skip
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", statement],
                       check=True)  # fmt: skip
    base.alumnet("migrate", "upgrade")
    people = donors * 4 // 5
    with psycopg.connect(DSN, autocommit=True) as conn:
        _sql(conn, "alumni", """
            INSERT INTO users (email, email_lower, name, status, graduation_year,
                               record_graduation_year, created_at, updated_at)
            SELECT 'giver' || g || '@bench.alumnet.dev', 'giver' || g || '@bench.alumnet.dev',
                   'Giver ' || g, 'active', 1985 + g %% 40, 1985 + g %% 40, now(), now()
            FROM generate_series(1, %(n)s) g""", n=people * 5 // 4)  # fmt: skip
        _sql(conn, "roles", """
            INSERT INTO user_roles (user_id, role)
            SELECT id, 'ALUMNUS' FROM users WHERE email_lower LIKE 'giver%%'""")  # fmt: skip
        _sql(conn, "donors", """
            INSERT INTO donors (user_id, name, email, email_key, created_at)
            SELECT u.id, u.name, u.email, NULL, now() FROM users u
            WHERE u.email_lower LIKE 'giver%%' ORDER BY u.id LIMIT %(people)s""",
             people=people)  # fmt: skip
        _sql(conn, "outside donors", """
            INSERT INTO donors (user_id, name, email, email_key, created_at)
            SELECT NULL, 'Friend ' || g, 'friend' || g || '@example.org',
                   'friend' || g || '@example.org', now()
            FROM generate_series(1, %(n)s) g""", n=donors - people)  # fmt: skip
        _sql(conn, "funds", """
            INSERT INTO funds (code, name, description, active, created_at)
            SELECT code, name, '', true, now() FROM (VALUES ('ANNUAL', 'Annual fund'),
              ('SCHOL', 'Scholarships'), ('LIBRARY', 'New library'), ('HARDSHIP', 'Hardship'))
              v(code, name)""")  # fmt: skip
        _sql(conn, "campaigns", """
            INSERT INTO campaigns (name, description, currency, goal_minor, starts_on, ends_on,
                                   status, donor_count, created_at, updated_at)
            SELECT name, '', 'USD', goal, starts, ends, status, 0, now(), now() FROM (VALUES
              ('Annual fund', 500000000, date_trunc('year', now())::date, NULL::date, 'active'),
              ('New library', 2000000000, (now() - interval '2 years')::date, NULL, 'active'),
              ('Scholarships 1', 100000000, (now() - interval '4 years')::date,
               (now() - interval '3 years')::date, 'closed'),
              ('Scholarships 2', 100000000, (now() - interval '6 years')::date,
               (now() - interval '5 years')::date, 'closed'),
              ('Hardship appeal', 50000000, (now() - interval '8 years')::date,
               (now() - interval '7 years')::date, 'closed')) v(name, goal, starts, ends, status)
            """)  # fmt: skip
        _sql(conn, "campaign funds", """
            INSERT INTO campaign_funds (campaign_id, fund_id, position)
            SELECT c.id, f.id, 0 FROM campaigns c JOIN funds f ON
              (c.name = 'Annual fund' AND f.code IN ('ANNUAL', 'HARDSHIP'))
              OR (c.name = 'New library' AND f.code = 'LIBRARY')
              OR (c.name LIKE 'Scholarships%%' AND f.code = 'SCHOL')
              OR (c.name = 'Hardship appeal' AND f.code = 'HARDSHIP')""")  # fmt: skip
        _sql(conn, "gifts", """
            WITH d AS (SELECT min(id) AS first, count(*) AS n FROM donors),
                 g AS (SELECT g, (now() - (g %% 3650) * interval '1 day')::date AS day
                       FROM generate_series(1, %(n)s) g)
            INSERT INTO gifts (kind, status, donor_id, amount_minor, currency, gift_date,
                               fund_id, campaign_id, payment_method, idempotency_key,
                               anonymous, source, receipt_year, receipt_seq, created_at,
                               confirmed_at)
            SELECT 'gift', 'confirmed', d.first + (g.g::bigint * 7919) %% d.n,
                   (1 + g.g %% 100) * 1000, 'USD', g.day,
                   (SELECT id FROM funds WHERE code = CASE
                      WHEN g.day >= date_trunc('year', now()) AND g.g %% 3 = 0 THEN 'ANNUAL'
                      WHEN g.day >= now() - interval '2 years' AND g.g %% 3 = 1 THEN 'LIBRARY'
                      WHEN g.g %% 5 = 0 THEN 'SCHOL' ELSE 'HARDSHIP' END),
                   CASE WHEN g.day >= date_trunc('year', now()) AND g.g %% 3 = 0
                          THEN (SELECT id FROM campaigns WHERE name = 'Annual fund')
                        WHEN g.day >= now() - interval '2 years' AND g.g %% 3 = 1
                          THEN (SELECT id FROM campaigns WHERE name = 'New library') END,
                   'card', 'bench:' || g.g, g.g %% 10 = 0, 'staff',
                   extract(year FROM g.day)::int, g.g, g.day, g.day
            FROM g, d""", n=gifts)  # fmt: skip
        _sql(conn, "refunds", """
            INSERT INTO gifts (kind, status, donor_id, amount_minor, currency, gift_date,
                               fund_id, campaign_id, payment_method, anonymous, source,
                               refund_of_id, created_at, confirmed_at)
            SELECT 'refund', 'confirmed', donor_id, -amount_minor, currency, gift_date,
                   fund_id, campaign_id, payment_method, anonymous, 'staff', id, now(), now()
            FROM gifts WHERE id %% 200 = 0""")  # fmt: skip
        _sql(conn, "receipt counters", """
            INSERT INTO receipt_counters (year, last_seq)
            SELECT receipt_year, max(receipt_seq) FROM gifts
            WHERE receipt_year IS NOT NULL GROUP BY receipt_year""")  # fmt: skip
    started = time.perf_counter()
    base.alumnet("giving", "recount", "--fix")
    print(f"  totals recounted: {time.perf_counter() - started:.1f} s", flush=True)
    subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", base.DATABASE,
                    "-c", "VACUUM ANALYZE"], check=True)  # fmt: skip


def staff_token(client: httpx.Client) -> str:
    base.alumnet("user", "create-admin", "--email", "advancement@bench.alumnet.dev",
                 "--name", "Bench Advancement", "--password", "bench-password-123",
                 extra=ENV)  # fmt: skip
    signed = base.gql(
        client,
        """mutation { tokenCreate(input: {email:
        "advancement@bench.alumnet.dev", password: "bench-password-123"}) { accessToken } }""",
    )
    return str(signed["data"]["tokenCreate"]["accessToken"])


def timed(client: httpx.Client, token: str, query: str, variables: dict[str, Any],
          runs: int) -> list[float]:  # fmt: skip
    base.gql(client, query, variables, token)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.post("/graphql", json={"query": query, "variables": variables},
                               headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        times.append((time.perf_counter() - started) * 1000)
        body = response.json()
        if "errors" in body:
            raise RuntimeError(body["errors"])
    return times


def signed(body: bytes, now: int) -> dict[str, str]:
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256)
    return {"Alumnet-Signature": f"t={now},v1={mac.hexdigest()}",
            "Content-Type": "application/json"}  # fmt: skip


async def deliveries(count: int, clients: int, intents: list[tuple[str, str]]) -> dict[str, Any]:
    """``count`` deliveries of payment.succeeded for the intents (reference, amount), a fifth
    of them repeats, from ``clients`` clients at once."""
    rng = random.Random(26)
    unique = count - count // 5
    events = [
        {"id": f"evt_{n}", "type": "payment.succeeded", "created": int(time.time()),
         "data": {"payment_id": f"pay_{n}", "reference": intents[n][0],
                  "amount": intents[n][1], "currency": "USD"}}
        for n in range(unique)
    ]  # fmt: skip
    sent = events + [rng.choice(events) for _ in range(count - unique)]
    rng.shuffle(sent)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for event in sent:
        queue.put_nowait(event)
    statuses: dict[int, int] = {}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{base.PORT}", timeout=30) as c:
            while not queue.empty():
                event = queue.get_nowait()
                body = json.dumps(event).encode()
                answer = await c.post("/webhooks/payments", content=body,
                                      headers=signed(body, int(time.time())))  # fmt: skip
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "per_second": round(count / seconds, 1),
            "statuses": statuses, "unique": unique}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gifts", type=int, default=1_000_000)
    parser.add_argument("--donors", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--skip-seed", action="store_true")
    given = parser.parse_args()
    if not given.skip_seed:
        seed(given.gifts, given.donors)
    old_env = base.env
    base.env = lambda: {**old_env(), **ENV}  # type: ignore[assignment]
    server, client = base.serve(1)
    try:
        token = staff_token(client)
        year = datetime.now(UTC).year
        with psycopg.connect(DSN) as conn:
            campaign = conn.execute(
                "SELECT id FROM campaigns WHERE name = 'Annual fund'"
            ).fetchone()
        assert campaign is not None
        from strawberry.relay import to_base64

        results: dict[str, Any] = {}
        for name, query, variables in QUERIES(to_base64("Campaign", campaign[0]), year):
            times = timed(client, token, query, variables, given.runs)
            results[name] = {"runs_ms": [round(t, 1) for t in times],
                             "median_ms": round(statistics.median(times), 1)}  # fmt: skip
            print(name, json.dumps(results[name]), flush=True)
        intents = open_intents(given.deliveries)
        before = count_gifts()
        hooks = asyncio.run(deliveries(given.deliveries, given.clients, intents))
        hooks["recorded"] = count_gifts() - before
        hooks["exactly_once"] = hooks["recorded"] == hooks["unique"]
        print("webhooks", json.dumps(hooks), flush=True)
    finally:
        base.stop(server)


def QUERIES(campaign: str, year: int) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (
            "campaign progress",
            """query($id: ID!) { node(id: $id) { ... on Campaign {
            progress { raised { amount } pledged { amount } donors gifts percentOfGoal
              byFund { raised { amount } gifts } } } } }""",
            {"id": campaign},
        ),
        (
            "participation",
            """query($y: Int!) { givingParticipation(year: $y) {
            rows { graduationYear alumni donors rate } } }""",
            {"y": year},
        ),
        (
            "lybunt",
            """query($y: Int!) { lybunt(year: $y, first: 100) { totalCount
            edges { node { id name } } } }""",
            {"y": year},
        ),
    ]


def open_intents(count: int) -> list[tuple[str, str]]:
    """Open payment intents, as donors' checkouts leave them, one per delivered payment
    (written in SQL: the checkout's own limit is a few an hour per person)."""
    unique = count - count // 5
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("""
            INSERT INTO payment_intents (reference, provider, donor_id, amount_minor, currency,
                                         fund_id, anonymous, status, created_at, expires_at)
            SELECT 'bench_' || g, 'signed', (SELECT min(id) FROM donors) + g,
                   (10 + g %% 50) * 100, 'USD', (SELECT id FROM funds WHERE code = 'ANNUAL'),
                   false, 'open', now(), now() + interval '1 day'
            FROM generate_series(0, %(n)s - 1) g
            ON CONFLICT (reference) DO NOTHING""", {"n": unique})  # fmt: skip
    return [(f"bench_{n}", f"{10 + n % 50}.00") for n in range(unique)]


def count_gifts() -> int:
    with psycopg.connect(DSN) as conn:
        row = conn.execute("SELECT count(*) FROM gifts").fetchone()
    assert row is not None
    return int(row[0])


if __name__ == "__main__":
    main()
