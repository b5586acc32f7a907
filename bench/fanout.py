"""A notice to 3,000 students on the embedded default: requests while its e-mails go out.

    python bench/fanout.py

Does what a newcomer does after `make serve`: a fresh embedded database (SQLite, the
in-process queue, e-mail into the outbox folder) with the demo data, served by
`alumnet serve`; the manager posts a notice to B2026A-FND (3,000 students), then asks
`{ viewer { id } }` 20 times while the 30 e-mail jobs run. Prints the notice's time, the
slowest of the 20 requests, and how long until all 3,000 e-mails were in the outbox.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import run as base

PORT = 8812


def main() -> None:
    var = Path(tempfile.mkdtemp()) / "var"
    env = {**os.environ, "ALUMNET_VAR_DIR": str(var), "ALUMNET_LOG_LEVEL": "WARNING"}
    for name in ("ALUMNET_DATABASE_URL", "ALUMNET_REDIS_URL", "ALUMNET_SMTP_URL", "ALUMNET_ENV"):
        env.pop(name, None)
    cli = str(base.BIN / "alumnet")
    subprocess.run([cli, "migrate", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([cli, "seed", "--demo"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [cli, "serve", "--port", str(PORT)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=120)
        for _ in range(100):
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        signed = base.gql(
            client,
            'mutation { tokenCreate(input: {email: "manager@demo.alumnet.dev", '
            'password: "alumnet-demo"}) { accessToken } }',
        )
        token = signed["data"]["tokenCreate"]["accessToken"]
        batches = base.gql(
            client,
            "{ batches { edges { node { missions { edges { node { id code } } } } } } }",
            token=token,
        )
        [mission] = [
            m["node"]["id"]
            for b in batches["data"]["batches"]["edges"]
            for m in b["node"]["missions"]["edges"]
            if m["node"]["code"] == "B2026A-FND"
        ]
        outbox = var / "outbox"
        before = len(list(outbox.glob("*.eml"))) if outbox.exists() else 0
        started = time.perf_counter()
        base.gql(
            client,
            'mutation($m: ID!) { noticePost(input: {missionId: $m, title: "Week 3", '
            'body: "Read **chapter 3**."}) { notice { id } } }',
            {"m": mission},
            token,
        )
        posted = time.perf_counter() - started
        slowest = 0.0
        for _ in range(20):
            asked = time.perf_counter()
            base.gql(client, "{ viewer { id } }", token=token)
            slowest = max(slowest, time.perf_counter() - asked)
        while len(list(outbox.glob("*.eml"))) - before < 3000:
            if time.perf_counter() - started > 300:
                raise RuntimeError("the e-mails did not all go out in 5 minutes")
            time.sleep(0.2)
        sent = time.perf_counter() - started
        print(
            f"noticePost {posted * 1000:.0f} ms; slowest of 20 requests meanwhile "
            f"{slowest * 1000:.0f} ms; 3,000 e-mails in the outbox after {sent:.1f} s"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(var.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
