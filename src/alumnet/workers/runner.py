"""The entry point RQ calls in a worker process: one job id, run through the domain."""

from __future__ import annotations

import asyncio

from alumnet.config import load_settings
from alumnet.domain.ops.jobs import execute
from alumnet.workers.jobs import HANDLERS


def run_job(job_id: int) -> str:
    """Raises when the job failed, so that RQ retries it and keeps it in its failed registry."""
    return asyncio.run(_run(job_id))


async def _run(job_id: int) -> str:
    from alumnet.bootstrap import build_runtime  # the composition root, imported late

    runtime, _ = build_runtime(load_settings(), worker=True)
    try:
        return await execute(runtime, job_id, HANDLERS)
    finally:
        await runtime_close(runtime)


async def runtime_close(runtime: object) -> None:
    from alumnet.bootstrap import close_runtime

    await close_runtime(runtime)  # type: ignore[arg-type]
