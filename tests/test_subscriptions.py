"""Subscriptions over graphql-transport-ws against a real server process."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from alumnet.config import Settings
from tests.conftest import PASSWORD, Api, env_for


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(api: Api) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "alumnet.cli", "serve", "--port", str(port)],
        env=env_for(api.settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("server did not start")
    yield base
    process.terminate()
    process.wait(timeout=10)


async def _post(
    base: str, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"http://{base}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
        )
    return response.json()  # type: ignore[no-any-return]


async def _connect(base: str, token: str | None) -> Any:
    ws = await websockets.connect(f"ws://{base}/graphql", subprotocols=["graphql-transport-ws"])
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


async def test_connection_init_authenticates(api: Api, server: str) -> None:
    ws = await _connect(server, "not-a-valid-token")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd.code == 4403


async def test_job_updates_stream_across_processes(
    api: Api, server: str, settings: Settings
) -> None:
    await api.create_user("admin@example.org", ["ADMIN"])
    await api.create_user("stu@example.org", ["STUDENT"])
    signed = await _post(
        server,
        'mutation($p: String!) { tokenCreate(input: {email: "admin@example.org", '
        "password: $p}) { accessToken } }",
        {"p": PASSWORD},
    )
    token = signed["data"]["tokenCreate"]["accessToken"]
    await _post(
        server, 'mutation { passwordResetRequest(input: {email: "stu@example.org"}) { accepted } }'
    )
    jobs = await _post(server, "{ jobs(first: 1) { edges { node { id } } } }", token=token)
    job_id = jobs["data"]["jobs"]["edges"][0]["node"]["id"]

    ws = await _connect(server, token)
    raw = await asyncio.wait_for(ws.recv(), 10)
    assert isinstance(raw, str), "browser clients need text frames"
    ack = json.loads(raw)
    assert ack["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": "subscription($id: ID!) { jobUpdated(id: $id) { status attempts } }",
                    "variables": {"id": job_id},
                },
            }
        )
    )
    statuses: list[str] = []
    worker = None
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if message["type"] == "complete":
            break
        assert message["type"] == "next", message
        status = message["payload"]["data"]["jobUpdated"]["status"]
        statuses.append(status)
        if status == "PENDING" and worker is None:
            # The job waits in Redis: a worker in another process runs it, and its
            # updates reach this server's subscriber through Redis pub/sub.
            worker = asyncio.create_task(api.run_jobs())
    if worker is not None:
        await worker
    await ws.close()
    assert statuses[-1] == "SUCCEEDED"
    if settings.redis_url:
        assert statuses[0] == "PENDING"
        assert "RUNNING" in statuses


async def test_anonymous_subscribers_see_nothing(api: Api, server: str) -> None:
    await api.create_user("stu@example.org", ["STUDENT"])
    await _post(
        server, 'mutation { passwordResetRequest(input: {email: "stu@example.org"}) { accepted } }'
    )
    ws = await _connect(server, None)
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    from strawberry.relay import to_base64

    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": "subscription($id: ID!) { jobUpdated(id: $id) { status } }",
                    "variables": {"id": to_base64("Job", 1)},
                },
            }
        )
    )
    first = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert first["payload"]["data"] == {"jobUpdated": None}
    await ws.close()
