"""The cohorts benchmark: seed PostgreSQL, serve as in production, drive a bounded load.

    python bench/run.py [--seconds 10] [--connections 8] [--keep-database]

Needs PostgreSQL and Redis on 127.0.0.1 (trust auth) and `wrk` (Debian package). Every
run is bounded: each scenario runs for --seconds, against 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PORT = 8811
DATABASE = "alumnet_bench"
PG = "postgresql://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/14"
SECRET = "bench-secret-key-not-for-production-use-0123456789"

ROSTER_FIRST = """query Roster($id: ID!) { node(id: $id) { ... on Mission {
  enrollments(first: 1000) { pageInfo { hasNextPage endCursor }
    edges { node { id status student { id name email } mentors { id name } } } } } } }"""
ROSTER_NEXT = """query Roster($id: ID!, $after: String) { node(id: $id) { ... on Mission {
  enrollments(first: 1000, after: $after) { pageInfo { hasNextPage endCursor }
    edges { node { id status student { id name email } mentors { id name } } } } } } }"""
PAGE_100 = """query RosterPage($id: ID!) { node(id: $id) { ... on Mission {
  enrollments(first: 100) { totalCount pageInfo { hasNextPage endCursor }
    edges { node { id status student { id name email } mentors { id name } } } } } } }"""
VIEWER = "query Viewer { viewer { id name email roles } }"
ASSIGN = """mutation Assign($m: ID!, $s: ID!, $t: ID!) {
  mentorAssign(input: {missionId: $m, studentId: $s, mentorId: $t}) {
    created userErrors { code } } }"""


def env() -> dict[str, str]:
    return {
        **os.environ,
        "ALUMNET_ENV": "production",
        "ALUMNET_SECRET_KEY": SECRET,
        "ALUMNET_DATABASE_URL": f"{PG}/{DATABASE}",
        "ALUMNET_REDIS_URL": REDIS,
        "ALUMNET_LOG_LEVEL": "WARNING",
        "ALUMNET_ACCESS_TOKEN_TTL": "7200",
        "ALUMNET_VAR_DIR": str(ROOT / "var" / "bench"),
    }


def alumnet(*args: str, extra: dict[str, str] | None = None) -> None:
    subprocess.run([str(BIN / "alumnet"), *args], env={**env(), **(extra or {})}, check=True)


def prepare_database() -> None:
    subprocess.run(
        [
            "psql",
            "-q",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-c",
            f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)",
        ],
        check=True,
    )
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"CREATE DATABASE {DATABASE}"],
        check=True,
    )
    alumnet("migrate", "upgrade")
    started = time.perf_counter()
    # The demo seed refuses production; seed as development against the same database.
    alumnet("seed", "--demo", extra={"ALUMNET_ENV": "development"})
    print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", DATABASE, "-c", "VACUUM ANALYZE"],
        check=True,
    )


def serve(workers: int) -> tuple[subprocess.Popen[bytes], httpx.Client]:
    """`alumnet serve` as in production, and a client once it answers /readyz."""
    server = subprocess.Popen(
        [str(BIN / "alumnet"), "serve", "--port", str(PORT), "--workers", str(workers)],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=30)
    for _ in range(100):
        try:
            if client.get("/readyz").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return server, client


def serve_floor(workers: int, answer: str) -> subprocess.Popen[bytes]:
    """bench/floor.py under uvicorn as alumnet is served (same workers, uvloop, httptools),
    on alumnet's port: run it while alumnet is not running."""
    server = subprocess.Popen(
        [str(BIN / "python"), "-m", "uvicorn", "floor:app", "--app-dir", str(ROOT / "bench"),
         "--port", str(PORT), "--workers", str(workers), "--log-level", "warning",
         "--no-access-log"],
        env={**os.environ, "BENCH_FLOOR_ANSWER": answer},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            if httpx.post(f"http://127.0.0.1:{PORT}/graphql", content=b"{}").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return server


def peak_rss_mb(server: subprocess.Popen[bytes]) -> list[float]:
    """The peak resident memory (VmHWM) of the server's worker processes, in MB."""
    children = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(server.pid)], capture_output=True, text=True
    ).stdout.split()
    peaks = []
    for pid in children:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(round(int(line.split()[1]) / 1024, 1))
    return peaks


def stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def gql(
    client: httpx.Client,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    if "errors" in body:
        raise RuntimeError(body["errors"])
    return body


def wrk(
    bodies: list[dict[str, Any]], token: str, seconds: int, connections: int, follow: bool = False
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        for body in bodies:
            own = body.get("_token")
            payload = {k: v for k, v in body.items() if k != "_token"}
            handle.write((f"{own}\t" if own else "") + json.dumps(payload) + "\n")
    threads = connections if follow else min(2, connections)
    result = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "graphql.lua"),
            f"http://127.0.0.1:{PORT}/graphql",
        ],
        env={
            **os.environ,
            "BENCH_TOKEN": token,
            "BENCH_BODIES": handle.name,
            "BENCH_FOLLOW": "1" if follow else "0",
        },
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    os.unlink(handle.name)
    match = re.search(r"BENCH_RESULT (\{.*\})", result.stdout)
    assert match, result.stdout + result.stderr
    data: dict[str, Any] = json.loads(match.group(1))
    data["rps"] = round(data["requests"] / data["seconds"], 1)
    return data


def single_client_roster(
    client: httpx.Client, token: str, mission: str, rounds: int
) -> dict[str, float]:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        after = None
        while True:
            body = gql(
                client,
                ROSTER_NEXT if after else ROSTER_FIRST,
                {"id": mission, "after": after},
                token,
            )
            page = body["data"]["node"]["enrollments"]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "median_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-seed", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    if not args.skip_seed:
        prepare_database()
    server, client = serve(args.workers)
    results: dict[str, Any] = {}
    try:
        token = gql(
            client,
            'mutation { tokenCreate(input: {email: "manager@demo.alumnet.dev", '
            'password: "alumnet-demo"}) { accessToken } }',
        )["data"]["tokenCreate"]["accessToken"]
        missions = gql(
            client,
            "{ batches(orderBy: {field: CODE, direction: ASC}) { edges { "
            "node { code missions { edges { node { id code enrollments { totalCount } "
            "} } } } } } }",
            token=token,
        )
        batch = missions["data"]["batches"]["edges"][0]["node"]
        biggest = max(
            batch["missions"]["edges"], key=lambda e: e["node"]["enrollments"]["totalCount"]
        )["node"]
        mission = biggest["id"]
        roster_size = biggest["enrollments"]["totalCount"]
        print(f"mission {biggest['code']}: {roster_size} enrolments", flush=True)

        # Warm up every worker's caches and pools.
        wrk([{"query": VIEWER}], token, 2, args.connections)
        results["a_viewer"] = wrk([{"query": VIEWER}], token, args.seconds, args.connections)
        viewer_answer = json.dumps(gql(client, VIEWER, token=token)["data"])
        results["b_page_of_100"] = wrk(
            [{"query": PAGE_100, "variables": {"id": mission}}],
            token,
            args.seconds,
            args.connections,
        )
        roster_bodies = [
            {"query": ROSTER_FIRST, "variables": {"id": mission}},
            {"query": ROSTER_NEXT, "variables": {"id": mission, "after": "__CURSOR__"}},
        ]
        wrk(roster_bodies, token, 2, args.connections, follow=True)
        full = wrk(roster_bodies, token, args.seconds, args.connections, follow=True)
        full["rosters_per_second"] = round(full["rosters"] / full["seconds"], 1)
        results["c_full_roster"] = full
        results["c_single_client"] = single_client_roster(client, token, mission, 30)

        students = [
            e["node"]["student"]["id"]
            for e in gql(
                client,
                "query($id: ID!) { node(id: $id) { ... on Mission { enrollments(first: 1000) "
                "{ edges { node { student { id } } } } } } }",
                {"id": mission},
                token,
            )["data"]["node"]["enrollments"]["edges"]
        ]
        mentors = [
            e["node"]["id"]
            for e in gql(
                client,
                "{ users(first: 100, filter: {roles: [MENTOR]}) { edges { node { id } } } }",
                token=token,
            )["data"]["users"]["edges"]
        ]
        assign = [
            {
                "query": ASSIGN,
                "variables": {"m": mission, "s": students[i], "t": mentors[(i * 7) % len(mentors)]},
            }
            for i in range(len(students))
        ]
        results["d_mentor_assign"] = wrk(assign, token, args.seconds, args.connections)
        results["peak_rss_mb_per_worker"] = peak_rss_mb(server)
    finally:
        stop(server)
    # The floor, under the same load: a bare app answering (a)'s JSON.
    floor_server = serve_floor(args.workers, '{"data":' + viewer_answer + "}")
    try:
        wrk([{"query": VIEWER}], token, 2, args.connections)
        floor = results["floor"] = wrk([{"query": VIEWER}], token, args.seconds, args.connections)
    finally:
        stop(floor_server)
    for name, scenario in results.items():
        if name != "floor" and isinstance(scenario, dict) and "rps" in scenario:
            scenario["floor_ratio"] = round(scenario["rps"] / floor["rps"], 4)
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    results["settings"] = {
        "workers": args.workers,
        "connections": args.connections,
        "seconds": args.seconds,
        "roster_size": roster_size,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(f"floor (bare Starlette, same load): {floor['rps']} req/s")
    print(f"peak RSS per worker: {results.get('peak_rss_mb_per_worker')} MB")
    for name, scenario in results.items():
        if isinstance(scenario, dict) and "floor_ratio" in scenario:
            print(f"{name}: {scenario['rps']} req/s = {scenario['floor_ratio']:.3f} of the floor")


if __name__ == "__main__":
    main()
