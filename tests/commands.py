"""`alumnet` commands as tests run them (`worker --burst` on Redis, the servers, the
operator's commands), each in a fresh process that starts in a fraction of a second.

A new `python -m alumnet.cli` spends 1.5 s of CPU (3.5 s where bytecode is not written)
importing alumnet and setting up before it does anything, and the suite starts the
worker ~100 times, servers and other commands ~60 times. So each test process keeps one
fork server that has imported alumnet once; a command is a child forked from it (~0.2 s,
the work aside) that takes the test set-up's environment and runs `alumnet.cli.main()`,
the entry point of `python -m alumnet.cli`, with the command's arguments. It is still a
process of its own, sharing nothing with the tests but the modules imported (no
connection, no runtime, no event loop), and the worker still forks a work horse per job,
as RQ does in production.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import signal
import subprocess
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
        # What `alumnet worker` loads before it works (the GraphQL schema of bulk jobs).
        "alumnet.schema.data.bulk",
        "alumnet.app",  # and what `alumnet serve` loads
        "psycopg",
        "sqlalchemy.dialects.postgresql.psycopg",
        "typer._adapters",
        "tests.commands",
    ]
)


def _command(args: list[str], env: dict[str, str], output: str, errors: str | None = None) -> None:
    """In the child: the environment and the output a subprocess would have, then the CLI.
    Its standard error goes to ``errors`` when given, else with its output."""
    os.setpgrp()  # its own group, which a timeout ends with whatever it started
    os.environ.clear()
    os.environ.update(env)
    for target, fds in ((output, (1,) if errors else (1, 2)), (errors, (2,))):
        if target is None:
            continue
        fd = os.open(target, os.O_WRONLY | os.O_APPEND)
        for to in fds:
            os.dup2(fd, to)
        os.close(fd)
    sys.argv = ["alumnet", *args]
    from alumnet.cli import main

    try:
        main()
    finally:
        # multiprocessing ends a child with os._exit, which skips what an interpreter runs
        # at exit (spans sent by the tracer, as a stopped server sends them): run it here.
        atexit._run_exitfuncs()


def _child(
    args: list[str], env: Mapping[str, str], timeout: float, output: str, errors: str | None
) -> int | None:
    """Run `alumnet ARGS` to its end; its exit code, or None if it timed out (and was ended)."""
    child = _forks.Process(target=_command, args=(args, dict(env), output, errors))
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
    return None if timed_out else exitcode


def run(args: list[str], env: Mapping[str, str], timeout: float = 120) -> None:
    """Run `alumnet ARGS` with ENV to its end; raise with its output if it fails."""
    with tempfile.NamedTemporaryFile(prefix="alumnet-command-", suffix=".log") as output:
        exitcode = _child(args, env, timeout, output.name, None)
        said = Path(output.name).read_text(errors="replace")
    if said:
        sys.stderr.write(said)  # shown with the test's captured output
    if exitcode != 0:
        ended = f"timed out after {timeout} s" if exitcode is None else f"exited with {exitcode}"
        raise RuntimeError(f"`alumnet {' '.join(args)}` {ended}:\n{said}")


def complete(
    args: list[str], env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `alumnet ARGS` with ENV to its end, as `subprocess.run(..., capture_output=True,
    text=True)` would: its exit code, output and errors apart; a timeout raises."""
    with (
        tempfile.NamedTemporaryFile(prefix="alumnet-command-", suffix=".out") as output,
        tempfile.NamedTemporaryFile(prefix="alumnet-command-", suffix=".err") as errors,
    ):
        exitcode = _child(args, env, timeout, output.name, errors.name)
        stdout = Path(output.name).read_text(errors="replace")
        stderr = Path(errors.name).read_text(errors="replace")
    if exitcode is None:
        raise subprocess.TimeoutExpired(["alumnet", *args], timeout, stdout, stderr)
    return subprocess.CompletedProcess(["alumnet", *args], exitcode, stdout, stderr)


def fork(args: list[str], env: Mapping[str, str], log: Path) -> multiprocessing.process.BaseProcess:
    """`alumnet ARGS` with ENV, started and not waited for (a worker, a scheduler, a server):
    a process group of its own, its output and errors to ``log``."""
    log.touch()
    child = _forks.Process(target=_command, args=(args, dict(env), str(log)))
    child.start()
    return child


def ended(child: multiprocessing.process.BaseProcess, log: Path, seconds: float = 120) -> None:
    """Wait for a forked command to end (killed with its group past ``seconds``); it must
    have ended well, else its log is shown."""
    child.join(seconds)
    if child.exitcode is None and child.pid is not None:
        os.killpg(child.pid, signal.SIGKILL)
        child.join()
        raise AssertionError(f"`alumnet` did not end:\n{log.read_text()}")
    assert child.exitcode == 0, log.read_text()


class Started:
    """A command started and not waited for (a server), with what tests use of a Popen."""

    def __init__(self, child: multiprocessing.process.BaseProcess) -> None:
        self.child = child
        self.pid = child.pid

    def poll(self) -> int | None:
        return self.child.exitcode

    def terminate(self) -> None:
        self.child.terminate()

    def kill(self) -> None:
        self.child.kill()

    def wait(self, timeout: float | None = None) -> int:
        self.child.join(timeout)
        if self.child.exitcode is None:
            raise subprocess.TimeoutExpired(["alumnet"], timeout or 0)
        return self.child.exitcode


def start(args: list[str], env: Mapping[str, str], errors: str = os.devnull) -> Started:
    """Start `alumnet ARGS` with ENV (its output discarded, its errors to ``errors``)."""
    child = _forks.Process(target=_command, args=(args, dict(env), os.devnull, errors))
    child.start()
    return Started(child)
