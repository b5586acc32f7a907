"""Heavy queries do not hold the server: health checks answered while the costliest
queries run.

    python bench/heavy.py [--skip-seed] [--rounds 3]

Seeds PostgreSQL like bench/run.py (the demo: 4,200 students, B2026A-FND has 3,000) and
serves it with one uvicorn worker (one event loop: what one request could hold), then,
as a manager:

- sends the attacks of issue 30 (200 mission ids with 1,000-row rosters each; a student's
  40,000 profile ids) and reports whether they were refused and how long that took;
- runs the costliest roster query the limits allow (nodes over 45 copies of the big
  mission, enrollments(first: 1000) with students and mentors: cost about 900,000),
  while another client asks /healthz every 20 ms, and reports the query's time and the
  slowest health check (median of --rounds).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from typing import Any

import httpx
import run as base

ROSTERS = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Mission {
  enrollments(first: 1000) { edges { node { id status points
    student { id name email } mentors { name } } } } } } }"""
PROFILES = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Profile { id headline } } }"


def timed(client: httpx.Client, query: str, variables: dict[str, Any], token: str) -> Any:
    started = time.perf_counter()
    response = client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=600,
    )
    return time.perf_counter() - started, response.json()


def watched(client: httpx.Client, query: str, variables: dict[str, Any], token: str) -> Any:
    """Run the query while /healthz is asked every 20 ms; the query's time, its answer and
    the slowest health check."""
    slowest = [0.0]
    done = threading.Event()

    def health() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{base.PORT}", timeout=120) as probe:
            while not done.is_set():
                started = time.perf_counter()
                probe.get("/healthz")
                slowest[0] = max(slowest[0], time.perf_counter() - started)
                time.sleep(0.02)

    thread = threading.Thread(target=health)
    thread.start()
    try:
        took, body = timed(client, query, variables, token)
    finally:
        done.set()
        thread.join()
    return took, body, slowest[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not args.skip_seed:
        base.prepare_database()
    server, client = base.serve(workers=1)
    try:
        manager = base.gql(
            client,
            'mutation { tokenCreate(input: {email: "manager@demo.alumnet.dev", '
            'password: "alumnet-demo"}) { accessToken } }',
        )["data"]["tokenCreate"]["accessToken"]
        student = base.gql(
            client,
            'mutation { tokenCreate(input: {email: "student@demo.alumnet.dev", '
            'password: "alumnet-demo"}) { accessToken } }',
        )["data"]["tokenCreate"]["accessToken"]
        batches = base.gql(
            client,
            "{ batches { edges { node { missions { edges { node { id code } } } } } } }",
            token=manager,
        )
        [mission] = [
            m["node"]["id"]
            for b in batches["data"]["batches"]["edges"]
            for m in b["node"]["missions"]["edges"]
            if m["node"]["code"] == "B2026A-FND"
        ]
        from strawberry.relay import to_base64

        for name, query, variables, token in [
            ("200 rosters (manager)", ROSTERS, {"ids": [mission] * 200}, manager),
            ("40,000 profiles (student)", PROFILES,
             {"ids": [to_base64("Profile", i) for i in range(1, 40_001)]}, student),
        ]:  # fmt: skip
            took, body = timed(client, query, variables, token)
            codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
            print(f"{name}: {codes or 'ANSWERED'} in {took * 1000:.0f} ms")
        results = []
        for _ in range(args.rounds):
            took, body, slowest = watched(client, ROSTERS, {"ids": [mission] * 45}, manager)
            assert "errors" not in body, body["errors"]
            rows = sum(len(n["enrollments"]["edges"]) for n in body["data"]["nodes"])
            results.append((took, slowest, rows))
        took = statistics.median(r[0] for r in results)
        slowest = statistics.median(r[1] for r in results)
        print(
            f"45 rosters of 1,000 ({results[0][2]:,} enrolments, cost "
            f"{body['extensions']['cost']['requested']:,}): median {took:.1f} s; slowest "
            f"health check meanwhile (median of {args.rounds}): {slowest * 1000:.0f} ms"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
