"""The restore drill of docs/OPERATIONS.md ("Backups and restore"), with its own commands:
data made through the API (people, missions with students, attendance, an uploaded
spreadsheet), dumped with `pg_dump --format=custom`, restored into a new database with
`createdb` and `pg_restore`, brought to the latest migration with `alumnet migrate
upgrade`, checked table by table with `psql`, and served by a staging app: a restored user
signs in, a token issued before the dump still works (the same secret key), the objects
read the same, and the uploaded file, kept in the database, is imported there."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url

from tests import commands
from tests.cohorts.conftest import Programme, programme  # noqa: F401  (the fixture)
from tests.conftest import TEST_DATABASE_URL, Api, app_api, env_for
from tests.data.conftest import status, upload

TOOLS = ("pg_dump", "pg_restore", "createdb", "dropdb", "psql")
on_postgresql = pytest.mark.skipif(
    not TEST_DATABASE_URL or any(shutil.which(tool) is None for tool in TOOLS),
    reason="a drill of PostgreSQL's own backup tools: runs on the PostgreSQL + Redis run of "
    "the suite (SQLite is backed up with its own `.backup`)",
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md"
# The drill's commands as the docs give them, for the database `alumnet`, its copy
# `alumnet_restore` and the file `alumnet.dump`; the test runs them on its own names.
DUMP = "pg_dump --format=custom --file=alumnet.dump alumnet"
CREATE = "createdb alumnet_restore"
RESTORE = "pg_restore --no-owner --single-transaction --dbname=alumnet_restore alumnet.dump"
QUIET_WEBHOOKS = (
    'psql --dbname=alumnet_restore --command="UPDATE webhook_endpoints SET enabled = false"'
)
MIGRATE = "alumnet migrate upgrade"
COUNT = (
    "psql --dbname=alumnet --no-align --tuples-only --command=\"SELECT table_name, (xpath('/row/n/"
    "text()', query_to_xml(format('SELECT count(*) AS n FROM %I', table_name), false, true, ''))"
    ")[1]::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = "
    "'BASE TABLE' ORDER BY table_name\""
)
DROP = "dropdb alumnet_restore"

MISSION = """query($m: ID!) { node(id: $m) { ... on Mission { id title status
  enrollments(first: 50) { totalCount edges { node { id status student { id name email } } } }
  attendance(first: 50) { totalCount edges { node { id day status enrollment { id } } } } } } }"""
RUN = """mutation($n: ID!) { importRun(input: {importId: $n}) { userErrors { code message } } }"""
PEOPLE = """query { users(first: 100) { totalCount edges { node { email } } } }"""


def _run(command: str, source: str, copy: str, cwd: Path, env: dict[str, str]) -> str:
    """A command of the docs, on this test's databases, as an operator's shell runs it."""
    names = {"alumnet": source, "alumnet_restore": copy}
    args = []
    for word in shlex.split(command):
        option, _, value = word.partition("=") if word.startswith("--dbname=") else ("", "", "")
        args.append(f"{option}={names[value]}" if option else names.get(word, word))
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (command, done.stderr)
    return done.stdout


def test_the_docs_give_the_drills_commands() -> None:
    docs = DOCS.read_text()
    for command in (DUMP, CREATE, RESTORE, QUIET_WEBHOOKS, MIGRATE, COUNT, DROP):
        assert command in docs, command


@on_postgresql
async def test_a_dump_restored_into_a_new_database_serves_the_same_data(
    programme: Programme,  # noqa: F811
    tmp_path: Path,
) -> None:
    api: Api = programme.api
    source_url = make_url(api.settings.database_url)
    source = source_url.database or ""
    copy = f"{source}_restore"
    env = env_for(api.settings)
    # libpq's variables say where the server is, as in an operator's shell.
    env.update(PGHOST=source_url.host or "127.0.0.1", PGPORT=str(source_url.port or 5432),
               PGUSER=source_url.username or "postgres",
               PGPASSWORD=source_url.password or "")  # fmt: skip

    # Data through the API: the programme's people, missions and enrolments, a day's
    # attendance, and a spreadsheet uploaded and previewed (the file is in the database).
    submit = """mutation($m: ID!) { attendanceSubmit(input: {missionId: $m}) {
      userErrors { code } } }"""
    body = await programme.gql("s1", submit, {"m": programme.ids["ma"]})
    assert body["data"]["attendanceSubmit"]["userErrors"] == [], body
    sheet = b"email,name,graduation year\nrestored@example.org,Restored Person,2016\n"
    uploaded = await upload(programme, "admin", sheet)
    import_id = uploaded["data"]["importUpload"]["import"]["id"]
    assert (await status(programme, import_id))["status"] == "PREVIEWED"
    before = await programme.gql("admin", MISSION, {"m": programme.ids["ma"]})
    assert before["data"]["node"]["attendance"]["totalCount"] == 1, before

    _run(DROP.replace("dropdb", "dropdb --if-exists"), source, copy, tmp_path, env)
    try:
        # The nightly dump, and its restore into a new database.
        _run(DUMP, source, copy, tmp_path, env)
        assert (tmp_path / "alumnet.dump").stat().st_size > 0
        _run(CREATE, source, copy, tmp_path, env)
        _run(RESTORE, source, copy, tmp_path, env)
        # Staging's settings: the copy, the same secret key, no Redis (nothing reaches the
        # live queues), no SMTP (mail to var/outbox), webhooks off in the copy.
        copy_url = source_url.set(database=copy).render_as_string(hide_password=False)
        staging = {**env, "ALUMNET_DATABASE_URL": copy_url}
        staging.pop("ALUMNET_REDIS_URL", None)
        staging.pop("ALUMNET_SMTP_URL", None)
        _run(QUIET_WEBHOOKS, source, copy, tmp_path, env)
        commands.run(shlex.split(MIGRATE)[1:], staging)
        # Every table holds as many rows as the source's.
        counted = _run(COUNT, source, copy, tmp_path, env)
        assert "users|" in counted and "alembic_version|1" in counted.splitlines()
        on_copy = COUNT.replace("--dbname=alumnet ", "--dbname=alumnet_restore ")
        assert _run(on_copy, source, copy, tmp_path, env) == counted

        async for restored in app_api(api, database_url=copy_url, redis_url=None, smtp_url=None):
            # A restored user signs in; a token issued before the dump still works.
            token = await restored.sign_in("s1@example.org")
            body = await restored.gql("{ viewer { id email } }", token=token)
            assert body["data"]["viewer"] == {"id": programme.ids["s1"], "email": "s1@example.org"}
            after = await restored.gql(MISSION, {"m": programme.ids["ma"]},
                                       token=programme.tokens["admin"])  # fmt: skip
            assert after["data"] == before["data"]
            # The uploaded spreadsheet came back with the database: it imports there.
            ran = await restored.gql(RUN, {"n": import_id}, token=programme.tokens["admin"])
            assert ran["data"]["importRun"]["userErrors"] == [], ran
            await restored.run_jobs()
            people: Any = await restored.gql(PEOPLE, token=programme.tokens["admin"])
            emails = {e["node"]["email"] for e in people["data"]["users"]["edges"]}
            assert "restored@example.org" in emails
        # …and only there: the source is untouched.
        people = await programme.gql("admin", PEOPLE)
        assert "restored@example.org" not in {
            e["node"]["email"] for e in people["data"]["users"]["edges"]
        }
    finally:
        _run(DROP.replace("dropdb", "dropdb --if-exists --force"), source, copy, tmp_path, env)
