"""The ``alumnet`` command: serve, worker, migrate, seed, export-schema, user, token, cache."""

from __future__ import annotations

import asyncio
import atexit
import getpass
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from alumnet.config import ConfigurationError, Settings, load_settings

T = TypeVar("T")

app = typer.Typer(
    help="alumnet: the GraphQL backend of an alumni and student-mentorship network.\n\n"
    "Configure it with ALUMNET_* environment variables (see README.md); with none set it "
    "runs on SQLite under ./var with jobs in-process.",
    no_args_is_help=True,
    add_completion=False,
    # Plain help, as most command-line tools print it: `--dry-run`, `--port INTEGER`
    # (Typer's rich panels print `--dry-run <bool>`).
    rich_markup_mode=None,
)
migrate_app = typer.Typer(help="Apply or inspect database migrations.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users from the command line.", no_args_is_help=True)
token_app = typer.Typer(help="Personal access tokens for scripts.", no_args_is_help=True)
operations_app = typer.Typer(
    help="Registered GraphQL operations (persisted queries).", no_args_is_help=True
)
cache_app = typer.Typer(
    help="The cache of heavy aggregates (dashboards' and reports' figures).",
    no_args_is_help=True,
)
app.add_typer(migrate_app, name="migrate")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(operations_app, name="operations")
app.add_typer(cache_app, name="cache")
giving_app = typer.Typer(help="Giving: checks of the running totals.", no_args_is_help=True)
app.add_typer(giving_app, name="giving")

FIRST_QUERY = """query FirstLook {
  viewer { id name email roles permissions emailVerified }
}"""


def _count(number: int, noun: str) -> str:
    """ "1 row", "2 rows", "1,000 rows"."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


def _settings() -> Settings:
    try:
        settings = load_settings().checked()
    except ConfigurationError as exc:
        typer.secho(f"alumnet: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    if settings.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _with_runtime(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from alumnet.bootstrap import build_runtime, close_runtime

    # Commands (seed, import, …) are background work: the workers' statement timeout.
    background = replace(settings, db_statement_timeout=settings.worker_statement_timeout)

    async def main() -> T:
        runtime, dispatcher = build_runtime(background)
        try:
            return await work(runtime)
        finally:
            await dispatcher.queue.drain()
            await close_runtime(runtime, dispatcher)

    return asyncio.run(main())


def _listening_url(host: str, port: int) -> str:
    """The address a browser on this machine uses for a server listening on host:port."""
    every = ("", "0.0.0.0", "::")  # noqa: S104 (recognised, not bound to)
    shown = "[::1]" if host == "::" else "127.0.0.1" if host in every else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _check_port_free(host: str, port: int) -> None:
    """Refuse at once, saying which setting to change, when the port cannot be had."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            why = {
                errno.EADDRINUSE: "is in use by another program (another alumnet?)",
                errno.EACCES: "needs privileges this user does not have",
                errno.EADDRNOTAVAIL: "is on an address this machine does not have",
            }.get(exc.errno or 0, f"cannot be opened ({exc.strerror})")
            typer.secho(
                f"alumnet: port {port} on {host or 'every interface'} {why}. Choose another "
                "with --port (make serve PORT=8765) or another address with --host.",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(2) from None


# Seconds `alumnet serve` waits, once asked to stop, beyond a request's deadline.
SHUTDOWN_MARGIN_SECONDS = 5


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _before_exit() -> None:
    """At the end of a long-running command: the objects left are frozen, so that the
    interpreter's last collections do not walk them all (about a second of CPU for
    alumnet's modules, under 0.1 s frozen), time taken from the few seconds a stopping
    process is given (honcho's five)."""
    import gc

    gc.freeze()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (uvicorn).")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the API and GraphiQL at http://HOST:PORT/graphql."""
    # uvicorn stops gracefully on SIGTERM (or Ctrl+C), then raises that signal again with
    # the handler it found: this one, so that a stop asked for ends with status 0 rather
    # than death by the signal, which process managers report as a failure. (Asked before
    # uvicorn starts, it stops at once, also with 0.)
    for stopping in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stopping, _exit_quietly)
    import uvicorn

    # Links in e-mails and downloads lead here unless ALUMNET_PUBLIC_URL says otherwise.
    listening = _listening_url(host, port)
    os.environ.setdefault("ALUMNET_PUBLIC_URL", listening)
    settings = _settings()
    _check_port_free(host, port)
    from alumnet.persistence import migrations

    if migrations.current(settings.database_url) != migrations.head():
        typer.secho(
            "The database is not at the latest migration: run `alumnet migrate upgrade`.",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if not settings.is_production:
        typer.echo(
            f"\n  alumnet on {listening}/graphql  (GraphiQL in your browser)\n"
            "  Demo sign-in: admin@demo.alumnet.dev / alumnet-demo (also developer@, manager@,"
            " sre@, mentor@, student@, alumnus@)\n"
            "  Get a token in GraphiQL:\n"
            '    mutation { tokenCreate(input: {email: "admin@demo.alumnet.dev", password: '
            '"alumnet-demo"}) { accessToken userErrors { code message } } }\n'
            '  then set the header {"Authorization": "Bearer <accessToken>"} and run:\n'
            + "\n".join("    " + line for line in FIRST_QUERY.splitlines())
            + "\n",
            err=True,
        )
    if workers > 1 and not settings.redis_url:
        typer.secho(
            "--workers above 1 needs ALUMNET_REDIS_URL: without Redis, jobs and live "
            "updates stay inside one process. Run one worker, or configure Redis.",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    typer.echo(f"  Secret key: {settings.secret_source}", err=True)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = settings.var_dir / "prometheus"
        metrics_dir.mkdir(parents=True, exist_ok=True)
        for stale in metrics_dir.glob("*.db"):
            stale.unlink()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    atexit.register(_before_exit)
    uvicorn.run(
        "alumnet.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        access_log=False,
        log_level="warning",
        # On SIGTERM: no new connections; subscriptions are closed (1012, service restart);
        # requests in flight are answered, for up to their deadline and a little more.
        timeout_graceful_shutdown=int(settings.request_deadline) + SHUTDOWN_MARGIN_SECONDS,
        # The app reads the proxies' headers itself (create_app: ALUMNET_TRUSTED_PROXIES),
        # after the tracing has seen which peer sent a request.
        proxy_headers=False,
    )


@app.command()
def scheduler() -> None:
    """Record scheduled jobs when they are due (RQ's cron scheduler; needs Redis). Two may
    run side by side: each slot's job is recorded once. SIGTERM or Ctrl+C stops it."""
    settings = _settings()
    if not settings.redis_url:
        typer.secho(
            "ALUMNET_REDIS_URL is not set: without Redis, `alumnet serve` runs the schedule "
            "itself.",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    from redis import Redis

    from alumnet.workers.queue import rq_queue_name
    from alumnet.workers.schedule import AT_START, SCHEDULE, Scheduler, catch_up, run_scheduled

    cron = Scheduler(connection=Redis.from_url(settings.redis_url))
    for name, args, expression in SCHEDULE:
        cron.register(
            run_scheduled,
            rq_queue_name(settings.queue_prefix, "default"),
            args=(name, args, expression),
            cron=expression,
            # Its own name in RQ's registry of cron jobs (`rq cron` lists them).
            name=f"{settings.queue_prefix}:{name}",
        )
        typer.echo(f"{name}: {expression} (UTC)")
    recorded = _with_runtime(settings, catch_up)
    for name, _ in AT_START:
        if name in recorded:
            typer.echo(f"{name}: now, to catch up")
        else:
            typer.echo(f"{name}: caught up by another scheduler this quarter hour")
    atexit.register(_before_exit)
    if cron.stop_requested:
        typer.echo("Stopped before starting, as asked.", err=True)
        return
    cron.start()  # type: ignore[no-untyped-call]


@app.command()
def worker(
    queues: Annotated[
        list[str] | None, typer.Argument(help="Queues to work on (default: all of them).")
    ] = None,
    burst: Annotated[bool, typer.Option(help="Stop when the queues are empty.")] = False,
) -> None:
    """Run an RQ worker for the named queues (needs ALUMNET_REDIS_URL)."""
    settings = _settings()
    if not settings.redis_url:
        typer.secho(
            "ALUMNET_REDIS_URL is not set: without Redis, jobs run inside `alumnet serve`; "
            "there is nothing for a separate worker to do.",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    from redis import Redis
    from rq import Queue

    from alumnet.workers.jobs import QUEUES
    from alumnet.workers.queue import RQWorker, rq_queue_name

    names = queues or list(QUEUES)
    unknown = sorted(set(names) - set(QUEUES))
    if unknown:
        typer.secho(
            f"Unknown queue(s): {', '.join(unknown)}. Known: {', '.join(QUEUES)}.",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)

    connection = Redis.from_url(settings.redis_url)
    rq_queues = [
        Queue(rq_queue_name(settings.queue_prefix, n), connection=connection) for n in names
    ]
    worker = RQWorker(rq_queues, connection=connection)
    # Stopped while it starts (honcho and deploys start and stop everything together), it
    # ends as cleanly as RQ's warm shutdown does once it works.
    worker.listen_for_stop()
    stale = _with_runtime(settings, lambda runtime: runtime.after_commit.requeue_stale())
    if stale:
        typer.echo(f"Re-enqueued {stale} job(s) that were committed but never queued.", err=True)
    # RQ forks a process for each job: the GraphQL schema that bulk queries, exports and
    # reports run through, loaded here once, is in every fork (~1.4 s of CPU a job less).
    import alumnet.schema.data.bulk  # noqa: F401

    atexit.register(_before_exit)
    worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")


@migrate_app.command("upgrade")
def migrate_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Bring the database up to REVISION (default: the latest)."""
    from alumnet.persistence import migrations

    settings = _settings()
    migrations.upgrade(settings.database_url, revision)
    typer.echo(f"Database at revision {migrations.current(settings.database_url)}.")
    _forget_aggregates(settings, quiet=True)


@migrate_app.command("downgrade")
def migrate_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
) -> None:
    """Step the database back to REVISION."""
    from alumnet.persistence import migrations

    settings = _settings()
    migrations.downgrade(settings.database_url, revision)
    typer.echo(f"Database at revision {migrations.current(settings.database_url)}.")
    _forget_aggregates(settings, quiet=True)


@migrate_app.command("current")
def migrate_current() -> None:
    """Print the database's revision and the latest one."""
    from alumnet.persistence import migrations

    settings = _settings()
    typer.echo(f"current: {migrations.current(settings.database_url)}")
    typer.echo(f"latest:  {migrations.head()}")


@cache_app.command("clear")
def cache_clear() -> None:
    """Forget every cached aggregate, in every process sharing Redis (after writes alumnet
    did not make: psql, a restore)."""
    if not _forget_aggregates(_settings(), quiet=False):
        raise typer.Exit(1)


def _forget_aggregates(settings: Settings, *, quiet: bool) -> bool:
    """Make the cached aggregates of every process sharing Redis unreachable (migrations
    change what they were computed from). False when Redis could not be reached."""
    if settings.analytics_cache_seconds <= 0:
        if not quiet:
            typer.echo("The aggregates cache is off (ALUMNET_ANALYTICS_CACHE_SECONDS=0).")
        return True
    if not settings.redis_url:
        if not quiet:
            typer.echo(
                "Without Redis each `alumnet serve` keeps its own cache: restart it to clear "
                "it, or wait ALUMNET_ANALYTICS_CACHE_SECONDS."
            )
        return True
    from alumnet.domain.analytics.cache import forget

    if _with_runtime(settings, forget):
        if not quiet:
            typer.echo("Cached aggregates forgotten.")
        return True
    typer.secho(
        "Redis could not be reached: cached aggregates may be served until they expire; "
        "run `alumnet cache clear` once it is back.",
        fg=typer.colors.RED if not quiet else typer.colors.YELLOW,
        err=True,
    )
    return False


@giving_app.command("recount")
def giving_recount(
    fix: Annotated[
        bool, typer.Option("--fix", help="Write the recount over the kept totals.")
    ] = False,
) -> None:
    """Recount campaign progress and donors' yearly totals from the gifts and pledges, and
    say where the kept totals differ (after writes alumnet did not make: psql, a restore).
    Exits 1 when they differ and --fix was not given."""
    from alumnet.domain.giving import recount

    async def work(runtime: Any) -> list[str]:
        async with runtime.transaction() as uow:
            found = await recount.differences(uow)
            if found and fix:
                await recount.rewrite(uow)
            return found

    found = _with_runtime(_settings(), work)
    for line in found[:50]:
        typer.echo(line)
    if not found:
        typer.echo("The giving totals add up.")
    elif fix:
        typer.echo(f"{len(found)} totals rewritten from the recount.")
    else:
        typer.echo(f"{len(found)} totals differ; run with --fix to rewrite them.")
        raise typer.Exit(1)


@app.command()
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo data set.")] = False,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Only when the database has no users.")
    ] = False,
) -> None:
    """Load data into the database (today: the demo data set)."""
    if not demo:
        typer.secho("Say what to load: --demo.", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    settings = _settings()
    if settings.is_production:
        typer.secho(
            "Refusing to load demo data with ALUMNET_ENV=production.", fg=typer.colors.RED, err=True
        )
        raise typer.Exit(2)
    from alumnet.domain import demo as demo_data

    async def work(runtime: Any) -> int | None:
        if if_empty and not await demo_data.is_empty(runtime):
            return None
        return await demo_data.seed_demo(runtime)

    created = _with_runtime(settings, work)
    if created is None:
        typer.echo("The database has data already; demo data not loaded.")
    else:
        typer.echo(
            f"Demo data loaded ({created} new users). Password for every demo user: "
            f"{demo_data.DEMO_PASSWORD}"
        )


@app.command("import")
def import_file(
    path: Annotated[
        Path, typer.Argument(help="A .csv or .xlsx file.", exists=True, dir_okay=False)
    ],
    kind: Annotated[
        str,
        typer.Option(
            help="alumni, students, enrollments, mentor-assignments, gifts or curriculum."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Preview: report every row, write nothing.")
    ] = False,
    all_or_nothing: Annotated[
        bool, typer.Option("--all-or-nothing", help="Write nothing if any row is rejected.")
    ] = False,
    invite: Annotated[
        bool,
        typer.Option(
            "--invite", help="E-mail each person created an invitation to choose a password."
        ),
    ] = False,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help='"Column header=field" (repeatable); "Header=" ignores it.'),
    ] = None,
) -> None:
    """Import a spreadsheet, with a progress bar; the same checks and report as GraphQL."""
    from alumnet.domain.data import imports
    from alumnet.domain.errors import DomainError
    from alumnet.domain.identity.permissions import Viewer
    from alumnet.persistence.models import ImportRow
    from alumnet.persistence.uow import Origin

    settings = _settings()
    mapping = dict(m.split("=", 1) for m in map_ or [] if "=" in m)
    with path.open("rb") as counting:
        estimate = max(
            0, sum(chunk.count(b"\n") for chunk in iter(lambda: counting.read(1 << 20), b"")) - 1
        )

    async def work(runtime: Any) -> tuple[Any, list[Any]]:
        from sqlalchemy import select

        with path.open("rb") as source:

            async def read(size: int) -> bytes:
                return source.read(size)

            try:
                async with runtime.transaction(origin=Origin(via="cli")) as uow:
                    record = await imports.create(
                        uow, Viewer(via="cli"), kind=kind.replace("-", "_"), filename=path.name,
                        read=read, mapping=mapping, all_or_nothing=all_or_nothing,
                        dry_run=dry_run, limit=settings.import_max_bytes, invite=invite,
                    )  # fmt: skip
            except DomainError as exc:
                typer.secho(exc.problems[0].message, fg=typer.colors.RED, err=True)
                raise typer.Exit(2) from None
        with typer.progressbar(length=estimate or 1, label="Rows", file=sys.stderr) as bar:
            shown = {"n": 0}

            async def progress(done: Any) -> None:
                bar.update(done.processed - shown["n"])
                shown["n"] = done.processed

            await imports.execute(runtime, record.id, progress)
        async with runtime.database.session() as session:
            from alumnet.persistence.models import Import

            final = await session.get(Import, record.id)
            rejected = (
                await session.execute(
                    select(ImportRow.row_number, ImportRow.problems)
                    .where(ImportRow.import_id == record.id, ImportRow.action.in_(
                        ("reject", "rejected")))
                    .order_by(ImportRow.row_number).limit(20)
                )
            ).all()  # fmt: skip
        return final, rejected

    final, rejected = _with_runtime(settings, work)
    counts = (
        f"{final.created:,} to create, {final.updated:,} to update"
        if dry_run
        else f"{final.created:,} created, {final.updated:,} updated"
    )
    typer.echo(
        f"{'Preview' if dry_run else 'Import'} of {path.name} ({final.status}): "
        f"{_count(final.total, 'row')}: {counts}, {final.unchanged:,} unchanged, "
        f"{final.rejected:,} rejected."
    )
    if final.error:
        typer.secho(final.error, fg=typer.colors.RED, err=True)
    for number, problems in rejected:
        reasons = "; ".join(f"{p['field'] or 'row'}: {p['message']}" for p in problems or [])
        typer.echo(f"  row {number}: {reasons}")
    if final.status == "failed":
        raise typer.Exit(1)


@app.command("export-schema")
def export_schema(
    output: Annotated[Path, typer.Option(help="Where to write the SDL.")] = Path("schema.graphql"),
) -> None:
    """Write the GraphQL schema (SDL) to a file, default ./schema.graphql."""
    from alumnet.schema import build_schema

    sdl = build_schema(load_settings()).as_str() + "\n"
    output.write_text(sdl)
    typer.echo(f"Wrote {output} ({_count(len(sdl.splitlines()), 'line')}).")


def _password(given: str | None) -> str:
    if given:
        return given
    env = os.environ.get("ALUMNET_ADMIN_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        typer.secho(
            "Give --password, ALUMNET_ADMIN_PASSWORD, or run in a terminal.",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        typer.secho("The passwords differ.", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    return first


@user_app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The administrator's e-mail address.")],
    name: Annotated[str, typer.Option(help="Full name.")] = "Administrator",
    password: Annotated[
        str | None,
        typer.Option(help="Password (else ALUMNET_ADMIN_PASSWORD, else asked for)."),
    ] = None,
) -> None:
    """Create an ADMIN user (does nothing if the address exists)."""
    settings = _settings()
    secret = _password(password)
    from alumnet.domain.errors import DomainError
    from alumnet.domain.identity.permissions import Role
    from alumnet.domain.identity.users import ensure_user
    from alumnet.persistence.uow import Origin

    async def work(runtime: Any) -> bool:
        async with runtime.transaction(origin=Origin(via="cli")) as uow:
            _, created = await ensure_user(
                runtime, uow, email=email, name=name, roles=[Role.ADMIN], password=secret
            )
            return bool(created)

    try:
        created = _with_runtime(settings, work)
    except DomainError as exc:
        for p in exc.problems:
            typer.secho(f"{p.code}: {p.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(
        "Administrator created." if created else "A user with this address exists; nothing changed."
    )


@user_app.command("two-factor-reset")
def two_factor_reset(
    email: Annotated[str, typer.Option(help="Whose two-factor sign-in to turn off.")],
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")],
) -> None:
    """Turn off someone's two-factor sign-in (a lost phone and lost recovery codes), when no
    other administrator can (twoFactorReset); audited, and the user is told by e-mail."""
    settings = _settings()
    from alumnet.domain.errors import DomainError
    from alumnet.domain.identity import two_factor
    from alumnet.domain.identity.permissions import Role, Viewer
    from alumnet.domain.identity.users import user_by_email
    from alumnet.persistence.uow import Origin

    async def work(runtime: Any) -> None:
        async with runtime.transaction(origin=Origin(via="cli")) as uow:
            user = await user_by_email(uow, email)
            if user is None:
                raise DomainError.of("NOT_FOUND", f"No user with the address {email}.")
            # The operator at the machine, acting for the user on their own account.
            operator = Viewer(user_id=user.id, roles=frozenset({Role.ADMIN}), via="cli")
            await two_factor.reset(runtime, uow, operator, user.id, reason)

    try:
        _with_runtime(settings, work)
    except DomainError as exc:
        for p in exc.problems:
            typer.secho(f"{p.code}: {p.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Two-factor sign-in of {email} is off; they may enrol again.")


@user_app.command("two-factor-rekey")
def two_factor_rekey() -> None:
    """Re-encrypt every authenticator secret with the first of ALUMNET_TWO_FACTOR_KEYS
    (after putting a new key first); then the old key may be dropped."""
    settings = _settings()
    from alumnet.domain.identity import two_factor
    from alumnet.persistence.uow import Origin

    async def work(runtime: Any) -> tuple[int, int]:
        async with runtime.transaction(origin=Origin(via="cli")) as uow:
            return await two_factor.rekey(runtime, uow)

    changed, unreadable = _with_runtime(settings, work)
    typer.echo(f"{_count(changed, 'secret')} re-encrypted with the first key.")
    if unreadable:
        typer.secho(
            f"{_count(unreadable, 'secret')} no key reads: reset those users' two-factor "
            "sign-in (two-factor-reset).",
            fg=typer.colors.YELLOW,
            err=True,
        )


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Option(help="Whose token (an existing, active user).")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "script",
    scope: Annotated[
        str, typer.Option(help="read, write or admin: how much of the user's permissions.")
    ] = "write",
    expires_in_days: Annotated[
        int, typer.Option(help="Days until it expires (at most 365).", min=1, max=365)
    ] = 90,
) -> None:
    """Create a personal access token and print its secret (shown only once)."""
    settings = _settings()
    if scope not in ("read", "write", "admin"):
        typer.secho("--scope is read, write or admin.", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    from alumnet.domain.errors import DomainError
    from alumnet.domain.identity import auth
    from alumnet.domain.identity.permissions import Role, TokenScope, Viewer
    from alumnet.domain.identity.users import ACTIVE, roles_of, user_by_email
    from alumnet.persistence.uow import Origin

    async def work(runtime: Any) -> str:
        async with runtime.transaction(origin=Origin(via="cli")) as uow:
            user = await user_by_email(uow, email)
            if user is None or user.status != ACTIVE:
                raise DomainError.of("NOT_FOUND", f"No active user with the address {email}.")
            roles: list[Role] = await roles_of(uow, user.id)
            uow.actor_id = user.id
            viewer = Viewer(user_id=user.id, email=user.email, roles=frozenset(roles), via="cli")
            created = await auth.create_personal_access_token(
                runtime, uow, viewer, name=name, scope=TokenScope(scope),
                expires_at=datetime.now(UTC) + timedelta(days=expires_in_days),
            )  # fmt: skip
            return created.secret

    try:
        secret = _with_runtime(settings, work)
    except DomainError as exc:
        for p in exc.problems:
            typer.secho(f"{p.code}: {p.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(secret)


def _documents_in(path: Path) -> list[str]:
    """The GraphQL documents a file holds: a .graphql/.gql file is one document (its
    exact text); a .json file is an Apollo persisted-query manifest (``{"operations":
    [{"id": …, "body": …}]}``) or an object of hash → document."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() != ".json":
        return [text]
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("operations"), list):
        bodies = [o.get("body") for o in data["operations"] if isinstance(o, dict)]
    elif isinstance(data, dict):
        bodies = list(data.values())
    else:
        bodies = []
    texts = [b for b in bodies if isinstance(b, str)]
    if not texts or len(texts) != len(bodies):
        raise ValueError(
            'a .json file must be a persisted-query manifest ({"operations": [{"id", '
            '"body"}]}) or an object of hash to document'
        )
    return texts


@operations_app.command("register")
def operations_register(
    files: Annotated[
        list[Path],
        typer.Argument(help=".graphql files (one document each) or JSON manifests.", exists=True),
    ],
) -> None:
    """Register documents, each validated against the schema; print each one's SHA-256
    (what clients send as extensions.persistedQuery.sha256Hash). Nothing is registered
    if any document is not valid."""
    from graphql import GraphQLError, parse, validate

    from alumnet.domain.ops import operations
    from alumnet.schema import build_schema
    from alumnet.schema.persisted import operation_names, sha256_of

    settings = _settings()
    schema = build_schema(settings)._schema
    documents: dict[str, tuple[str, list[str]]] = {}
    failed = False
    for path in files:
        try:
            bodies = _documents_in(path)
        except (ValueError, UnicodeDecodeError) as exc:
            typer.secho(f"{path}: {exc}", fg=typer.colors.RED, err=True)
            failed = True
            continue
        for body in bodies:
            try:
                document = parse(body)
            except GraphQLError as exc:
                typer.secho(f"{path}: {exc.message}", fg=typer.colors.RED, err=True)
                failed = True
                continue
            errors = validate(schema, document)
            names = operation_names(document)
            if errors:
                label = ", ".join(names) or "an anonymous operation"
                for error in errors[:5]:
                    typer.secho(f"{path} ({label}): {error.message}", fg=typer.colors.RED,
                                err=True)  # fmt: skip
                failed = True
                continue
            documents[sha256_of(body)] = (body, names)
    if failed:
        typer.secho("Nothing was registered.", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)

    async def work(runtime: Any) -> int:
        async with runtime.transaction() as uow:
            return await operations.register(uow, documents)

    added = _with_runtime(settings, work)
    for sha256, (_, names) in documents.items():
        typer.echo(f"{sha256}  {', '.join(names) or '(anonymous)'}")
    already = len(documents) - added
    typer.echo(f"{added} registered" + (f", {already} already registered." if already else "."))


@operations_app.command("list")
def operations_list() -> None:
    """The registered operations: SHA-256, names, when registered."""
    from alumnet.domain.ops import operations

    async def work(runtime: Any) -> list[Any]:
        return await operations.registered(runtime.database)

    for found in _with_runtime(_settings(), work):
        when = found.registered_at.strftime("%Y-%m-%d %H:%M")
        typer.echo(f"{found.sha256}  {when}  {found.names or '(anonymous)'}")


# How help names each kind of value (Typer would print `<str>`, `<list[str]>`, `{path}`).
METAVARS: dict[Any, str] = {str: "TEXT", int: "INTEGER", float: "NUMBER", Path: "FILE"}


def _plain_metavars(command: Any) -> Any:
    for param in getattr(command, "params", []):
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        if param.metavar is not None or getattr(param, "is_flag", False):
            continue
        if param.param_type_name == "argument":  # by its name: `import {PATH}`
            param.metavar = (param.name or "value").upper()
            param.display_type_rich = lambda ctx: None  # its help says what it takes
        else:  # by its kind of value (a repeatable option takes one at a time)
            element = getattr(annotation, "__args__", (annotation,))[0]
            param.metavar = METAVARS.get(element, "VALUE")
    for sub in getattr(command, "commands", {}).values():
        _plain_metavars(sub)
    return command


def main() -> None:
    _plain_metavars(typer.main.get_command(app))()


if __name__ == "__main__":
    main()
