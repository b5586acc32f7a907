"""Time the full roster (3,000 enrolments with their mentors) and a mentor's mentees
against a running server with the demo data, for an A/B of two versions of the code.

    alumnet seed --demo; alumnet serve --port 8898 &
    python bench/roster_probe.py --port 8898 --label head

Each query is warmed up three times, then timed 15 times; the median and the 90th
percentile are printed. Bounded: about 60 requests in all, against 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

ROSTER = """query R($id: ID!, $after: String) { node(id: $id) { ... on Mission {
  enrollments(first: 1000, after: $after) { pageInfo { hasNextPage endCursor }
    edges { node { id status student { id name email } mentors { id name } } } } } } }"""
MENTEES = """{ viewer { mentees(first: 100) { totalCount
  edges { node { id student { name } mentors { name } } } } } }"""
MISSIONS = "{ batches { edges { node { missions { edges { node { id code } } } } } } }"
SIGN_IN = """mutation($e: String!) { tokenCreate(input: {email: $e, password: "alumnet-demo"}) {
  accessToken } }"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8898)
    parser.add_argument("--label", default="run")
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}/graphql"
    with httpx.Client(timeout=60) as client:

        def ask(query: str, token: str, **variables: object) -> dict:
            headers = {"Authorization": f"Bearer {token}"}
            body = client.post(url, json={"query": query, "variables": variables}, headers=headers)
            return body.json()["data"]

        def token(email: str) -> str:
            found = client.post(url, json={"query": SIGN_IN, "variables": {"e": email}}).json()
            return str(found["data"]["tokenCreate"]["accessToken"])

        manager, mentor = token("manager@demo.alumnet.dev"), token("mentor@demo.alumnet.dev")
        batches = ask(MISSIONS, manager)["batches"]["edges"]
        [mission] = [m["node"]["id"] for b in batches for m in b["node"]["missions"]["edges"]
                     if m["node"]["code"] == "B2026A-FND"]  # fmt: skip

        def roster() -> int:
            after, count = None, 0
            while True:
                page = ask(ROSTER, manager, id=mission, after=after)["node"]["enrollments"]
                count += len(page["edges"])
                if not page["pageInfo"]["hasNextPage"]:
                    return count
                after = page["pageInfo"]["endCursor"]

        def mentees() -> int:
            return int(ask(MENTEES, mentor)["viewer"]["mentees"]["totalCount"])

        for probe in (roster, mentees):
            for _ in range(3):
                probe()
            times = []
            for _ in range(15):
                started = time.perf_counter()
                count = probe()
                times.append((time.perf_counter() - started) * 1000)
            print(f"{args.label} {probe.__name__}: {count} rows, median "
                  f"{statistics.median(times):.1f} ms, p90 {sorted(times)[13]:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
