"""Registration takes as long for an address that has an account as for a new one.

    python bench/registration.py [--rounds 40]

Runs `userRegister` through the ASGI app in this process on a fresh SQLite database with
the production argon2 parameters, alternating a new address and one that has an account
(each round from a client address of its own, so that the per-address limit stays out of
the way), and prints the median and the quartiles of each, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from alumnet.app import create_app
from alumnet.config import load_settings
from alumnet.persistence import migrations

REGISTER = """mutation($e: String!) { userRegister(input: {email: $e, name: "Nia Njeri",
  password: "correct horse battery", role: STUDENT}) { accepted } }"""


async def main(rounds: int) -> None:
    var = Path(tempfile.mkdtemp()) / "var"
    var.mkdir()
    settings = load_settings(
        {"ALUMNET_ENV": "test", "ALUMNET_VAR_DIR": str(var), "ALUMNET_LOG_LEVEL": "WARNING"}
    )
    migrations.upgrade(settings.database_url)
    app = create_app(settings)
    times: dict[str, list[float]] = {"new": [], "taken": []}

    async def once(ip: str, email: str) -> float:
        transport = httpx.ASGITransport(app=app, client=(ip, 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            started = time.perf_counter()
            response = await client.post(
                "/graphql", json={"query": REGISTER, "variables": {"e": email}}
            )
            took = time.perf_counter() - started
        assert response.json()["data"]["userRegister"]["accepted"], response.text
        return took

    await once("10.0.0.1", "taken@example.org")
    for i in range(rounds):
        times["new"].append(await once(f"10.1.{i // 250}.{i % 250}", f"new{i}@example.org"))
        times["taken"].append(await once(f"10.2.{i // 250}.{i % 250}", "taken@example.org"))
    await app.state.dispatcher.queue.drain()
    for path, measured in times.items():
        q1, median, q3 = statistics.quantiles(measured, n=4)
        print(f"{path:>5}: median {median * 1000:6.1f} ms  (quartiles {q1 * 1000:.1f}–"
              f"{q3 * 1000:.1f} ms, {len(measured)} requests)")  # fmt: skip
    ratio = statistics.median(times["taken"]) / statistics.median(times["new"])
    print(f"taken / new: {ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    asyncio.run(main(parser.parse_args().rounds))
