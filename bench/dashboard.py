"""The manager dashboard: p95 at 8 clients, cold (the analytics cache off) and cached.

    python bench/dashboard.py [--seconds 10] [--clients 8] [--runs 3] [--skip-seed]
                              [--database alumnet_bench] [--redis redis://127.0.0.1:6379/14]
                              [--port 8813]

Seeds PostgreSQL like bench/run.py (the demo: 4,200 students, B2026A-FND with 3,000), gives
every mission bench/attendance.py's history (60 days of attendance, 30 assignments with
their submissions) and dates it around today, then serves as in production (uvicorn, two
workers, Redis) twice: with `ALUMNET_ANALYTICS_CACHE_SECONDS=0` (every request computes
the section: cold) and with the cache on (the first request computes, the others read
it). Each time, --clients clients send the manager's whole section (docs/DASHBOARDS.md's
query: every mission, four weeks, weekly trends) as fast as it answers for --seconds,
--runs times; it prints each run's p50, p95 and requests a second, and the medians of the
runs. The goals (issue 24): p95 < 150 ms cold and < 20 ms cached.

Needs PostgreSQL and Redis on 127.0.0.1 (trust auth). `--database` is dropped and
created again unless --skip-seed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import attendance
import run as base

QUERY = """query ManagerDashboard {
  dashboard {
    manager(interval: WEEK, first: 20) {
      range { from to days } interval missionCount
      missions {
        mission { id } code title status students banned delisted unmentored
        attendanceRate attendanceTrend { label date value }
        assignmentsDue submissionsHandedIn submissionsLate submissionRate
        points { count mean lowest p25 median p75 highest }
        atRisk openAppeals notices acknowledgementRate mentors studentsPerMentor withheld
      }
      batches { batch { id } code name missions students attendanceRate submissionRate
        acknowledgementRate atRisk banned openAppeals }
      attendanceTrend { label date value } atRiskByMission { label value }
      acknowledgementByMission { label value } mentorLoad { label value }
      loadOver mentorsOverLoad
    }
  }
}"""
SIGN_IN = """mutation { tokenCreate(input: {email: "manager@demo.alumnet.dev",
  password: "alumnet-demo"}) { accessToken } }"""


def use(database: str, redis: str, port: int) -> None:
    """Point bench/run.py's and bench/attendance.py's helpers at this database, Redis and
    port."""
    base.DATABASE = database
    base.PORT = port
    base.REDIS = redis
    attendance.DSN = f"{base.PG}/{database}"


def history() -> dict[str, Any]:
    """Every mission active, from 59 days ago to a month ahead, with 60 days of attendance
    and 30 assignments (bench/attendance.py's)."""
    with psycopg.connect(attendance.DSN, autocommit=True) as conn:
        missions = [int(m) for (m,) in conn.execute("SELECT id FROM missions ORDER BY id")]
    seeded = {}
    for mission_id in missions:
        attendance.prepare_mission(mission_id)
        seeded[mission_id] = attendance.seed_history(mission_id)
    return {"missions": len(missions), "rows": seeded}


def ready(client: httpx.Client, seconds: float = 120) -> None:
    """Wait (longer than bench/run.py does: a busy machine starts slowly) for /readyz."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the server did not start")


async def load(token: str, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` clients sending the query back to back for ``seconds``."""
    timings: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    body = {"query": QUERY}

    async def client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{base.PORT}", timeout=30) as http:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await http.post("/graphql", json=body, headers=headers)
                took = (time.perf_counter() - started) * 1000
                if response.status_code != 200 or "errors" in response.json():
                    errors += 1
                else:
                    timings.append(took)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    spent = time.perf_counter() - began
    timings.sort()
    return {
        "requests": len(timings),
        "errors": errors,
        "p50_ms": round(statistics.median(timings), 2) if timings else None,
        "p95_ms": round(timings[max(0, int(len(timings) * 0.95) - 1)], 2) if timings else None,
        "rps": round(len(timings) / spent, 1),
    }


def measure(label: str, cache_seconds: str, args: argparse.Namespace) -> dict[str, Any]:
    """Serve with the cache setting given, warm up the pools, then --runs runs."""
    original = base.env

    def env() -> dict[str, str]:
        # The demo's manager has no authenticator: production's two-factor roles would
        # withhold MANAGER from a password sign-in. The query-cost budget is what the
        # bench does not measure: 8 clients back to back would spend a manager's at once.
        return {
            **original(),
            "ALUMNET_ANALYTICS_CACHE_SECONDS": cache_seconds,
            "ALUMNET_TWO_FACTOR_ROLES": "none",
            "ALUMNET_QUERY_BUDGETS": "MANAGER=1000000000000/1000000000000",
        }

    base.env = env
    try:
        server, client = base.serve(args.workers)
    finally:
        base.env = original
    ready(client)
    try:
        token = base.gql(client, SIGN_IN)["data"]["tokenCreate"]["accessToken"]
        first = base.gql(client, QUERY, token=token)
        answer = first["data"]["dashboard"]["manager"]
        cost = first.get("extensions", {}).get("cost")
        asyncio.run(load(token, args.clients, 2))  # warm up every worker
        runs = [asyncio.run(load(token, args.clients, args.seconds)) for _ in range(args.runs)]
        peaks = base.peak_rss_mb(server)
    finally:
        base.stop(server)
    for n, r in enumerate(runs, 1):
        print(f"{label} run {n}: {json.dumps(r)}", flush=True)
    return {
        "missions": answer["missionCount"],
        "students": sum(m["students"] for m in answer["missions"]),
        "query_cost": cost,
        "runs": runs,
        "median_p50_ms": statistics.median(r["p50_ms"] for r in runs if r["p50_ms"] is not None),
        "median_p95_ms": statistics.median(r["p95_ms"] for r in runs if r["p95_ms"] is not None),
        "median_rps": statistics.median(r["rps"] for r in runs),
        "peak_rss_mb_per_worker": peaks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--database", default=base.DATABASE)
    parser.add_argument("--redis", default=base.REDIS)
    parser.add_argument("--port", type=int, default=8813)
    args = parser.parse_args()
    use(args.database, args.redis, args.port)
    results: dict[str, Any] = {}
    if not args.skip_seed:
        base.prepare_database()
        results["history"] = history()["missions"]
    results["cold"] = measure("cold", "0", args)
    results["cached"] = measure("cached", "300", args)
    results["settings"] = {
        "workers": args.workers,
        "clients": args.clients,
        "seconds": args.seconds,
        "runs": args.runs,
    }
    out = base.ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "dashboard.json").write_text(json.dumps(results, indent=2))
    print(
        f"manager dashboard, {args.clients} clients, medians of {args.runs} runs: "
        f"cold p95 {results['cold']['median_p95_ms']} ms, "
        f"cached p95 {results['cached']['median_p95_ms']} ms "
        f"({results['cold']['missions']} missions, {results['cold']['students']} students)"
    )


if __name__ == "__main__":
    main()
