"""`alumnet worker --burst` as tests run it on Redis, in a fresh process that starts in
a fraction of a second.

A new `python -m alumnet.cli` spends 1.5 s of CPU (3.5 s where bytecode is not written)
importing alumnet and setting up before it does anything, and the suite starts the
worker ~100 times. So each test process keeps one fork server that has imported alumnet
once; a command is a child forked from it (~0.2 s, the work aside) that takes the test
set-up's environment and runs `alumnet.cli.main()`, the entry point of `python -m
alumnet.cli`, with the command's arguments. It is still a process of its own, sharing
nothing with the tests but the modules imported (no connection, no runtime, no event
loop), and the worker still forks a work horse per job, as RQ does in production.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.orm import configure_mappers

import alumnet.bootstrap
import alumnet.cli
import alumnet.workers.jobs
import alumnet.workers.runner  # noqa: F401 (what RQ's work horse calls)

# Once per process rather than at a command's first query (~0.4 s).
configure_mappers()

# What the fork server imports: what `alumnet worker` needs, with what is otherwise imported
# late (PostgreSQL's driver at the first engine, Typer's argument parsing at the first
# argument), then this module if the fork server finds it (it does from the repository's
# root, where `make test` runs). A module it cannot import is imported by the child.
_forks = multiprocessing.get_context("forkserver")
_forks.set_forkserver_preload(
    [
        "alumnet.cli",
        "alumnet.bootstrap",
        "alumnet.workers.jobs",
        "psycopg",
        "sqlalchemy.dialects.postgresql.psycopg",
        "typer._adapters",
        "tests.commands",
    ]
)


def _command(args: list[str], env: dict[str, str], output: str) -> None:
    """In the child: the environment and the output a subprocess would have, then the CLI."""
    os.setpgrp()  # its own group, which a timeout ends with whatever it started
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(output, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.argv = ["alumnet", *args]
    from alumnet.cli import main

    main()


def run(args: list[str], env: Mapping[str, str], timeout: float = 120) -> None:
    """Run `alumnet ARGS` with ENV to its end; raise with its output if it fails."""
    with tempfile.NamedTemporaryFile(prefix="alumnet-command-", suffix=".log") as output:
        child = _forks.Process(target=_command, args=(args, dict(env), output.name))
        child.start()
        child.join(timeout)
        timed_out = child.exitcode is None
        if timed_out and child.pid is not None:
            # Stopped as an operator stops a worker, twice (the second time RQ kills the
            # work horse it forked); then whatever of its group is left, killed.
            for _ in range(2):
                child.terminate()
                child.join(5)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.join()
        exitcode = child.exitcode
        child.close()
        said = Path(output.name).read_text(errors="replace")
    if said:
        sys.stderr.write(said)  # shown with the test's captured output
    if timed_out or exitcode != 0:
        ended = f"timed out after {timeout} s" if timed_out else f"exited with {exitcode}"
        raise RuntimeError(f"`alumnet {' '.join(args)}` {ended}:\n{said}")
