"""The floor `bench/run.py` measures beside alumnet: a bare Starlette app on the same
server (uvicorn, same workers) that reads the request and answers scenario (a)'s JSON,
with nothing in between. alumnet's throughput as a ratio of it is comparable across
machines and across a noisy machine's moods."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ANSWER = os.environ.get("BENCH_FLOOR_ANSWER", '{"data":{"viewer":null}}').encode()


async def graphql(request: Request) -> Response:
    await request.body()
    return Response(ANSWER, media_type="application/json")


app = Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])
