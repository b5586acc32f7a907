"""The bulk query benchmark: every directory profile, as JSON Lines, by one worker.

    python bench/bulk.py [--profiles 100000] [--skip-seed]

Seeds PostgreSQL as `bench/directory.py` does (the demo plus generated alumni), serves
as in production, submits `bulkQueryRun` as the demo admin, then runs the `data.bulk`
job with `alumnet worker --burst` (one process) and prints its wall time, its peak
memory (RSS), the page size chosen, the pages, the rows and the file's size.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import directory
import run as base

QUERY = """{ directory(orderBy: {field: NAME}) { edges { node { id name headline company jobTitle
  city country graduationYear skills { name } } } } }"""
SUBMIT = """mutation($q: String!) { bulkQueryRun(input: {query: $q}) {
  job { id } pageSize userErrors { code message } } }"""
JOB = """query($j: ID!) { node(id: $j) { ... on Job { status lastError result
  file { size } } } }"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--skip-seed", action="store_true")
    args = parser.parse_args()
    os.environ.update(base.env())
    if not args.skip_seed:
        directory.seed(args.profiles)
    server, client = base.serve(1)
    try:
        token = base.gql(
            client,
            'mutation { tokenCreate(input: {email: "admin@demo.alumnet.dev", '
            'password: "alumnet-demo"}) { accessToken } }',
        )["data"]["tokenCreate"]["accessToken"]
        submitted = base.gql(client, SUBMIT, {"q": QUERY}, token)["data"]["bulkQueryRun"]
        assert not submitted["userErrors"], submitted
        started = time.perf_counter()
        subprocess.run(
            [str(base.BIN / "alumnet"), "worker", "--burst"], env=base.env(), check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        job = base.gql(client, JOB, {"j": submitted["job"]["id"]}, token)["data"]["node"]
        assert job["status"] == "SUCCEEDED", job
        result = job["result"]
        print(
            f"bulk query: {result['rows']} rows in {result['pages']} pages of "
            f"{submitted['pageSize']}, {job['file']['size'] / 1e6:.1f} MB, {elapsed:.1f} s "
            f"({result['rows'] / elapsed:,.0f} rows/s), peak RSS of the worker {peak:.0f} MB"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
