"""Imports: upload, preview, run, idempotence, rollback, and every kind of bad file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from alumnet.persistence.models import Profile, User
from tests.data.conftest import Programme, status, upload
from tests.engagement.conftest import call, codes, ok

RUN = """mutation($n: ID!) { importRun(input: {importId: $n}) { import { id status }
  userErrors { code } } }"""
ROLLBACK = """mutation($n: ID!) { importRollback(input: {importId: $n}) { import { id status }
  job { id } userErrors { code } } }"""
WHO = """query($e: String!) { users(filter: {search: $e}) { edges { node { name email } } } }"""

ALUMNI = (
    "\ufeffE-mail;Full Name;Class of;Employer;Country;DOB\n"
    "new.one@example.org;New One;2015;Acme;gh;12/03/1990\n"
    "alumnus@example.org;Alumnus Renamed;2010;Baobab;GB;1991-01-01\n"
    "not-an-email;X;2015;;;\n"
    "new.one@example.org;Twice;2015;;;\n"
    "old@example.org;Old Timer;1800;;Ghana;yesterday\n"
)


async def names(p: Programme) -> set[str]:
    body = await p.gql("admin", "{ users(first: 100) { edges { node { name } } } }")
    return {e["node"]["name"] for e in body["data"]["users"]["edges"]}


async def test_preview_run_again_and_roll_back(programme: Programme) -> None:
    p = programme
    made = await upload(p, "admin", ALUMNI.encode("utf-8"))
    assert made["data"]["importUpload"]["userErrors"] == [], made
    imported = made["data"]["importUpload"]["import"]["id"]
    preview = await status(p, imported)
    assert preview["status"] == "PREVIEWED"
    assert (preview["created"], preview["updated"], preview["rejected"]) == (1, 1, 3)
    actions = {r["rowNumber"]: r["action"] for r in preview["rows"]}
    assert actions == {2: "CREATE", 3: "UPDATE", 4: "REJECT", 5: "REJECT", 6: "REJECT"}
    row6 = {q["field"]: q["code"] for q in preview["rows"][4]["problems"]}
    assert row6 == {"graduation_year": "OUT_OF_RANGE", "country": "INVALID",
                    "date_of_birth": "INVALID"}  # fmt: skip
    assert preview["rows"][3]["problems"][0]["code"] == "DUPLICATE_IN_FILE"
    assert "New One" not in await names(p)  # a preview writes nothing

    await ok(p, "admin", RUN, {"n": imported}, "importRun")
    done = await status(p, imported)
    assert (done["status"], done["created"], done["updated"], done["rejected"]) == (
        "COMPLETED", 1, 1, 3,
    )  # fmt: skip
    assert {"New One", "Alumnus Renamed"} <= await names(p)

    again = await upload(p, "admin", ALUMNI.encode("utf-8"), dryRun=False)
    second = await status(p, again["data"]["importUpload"]["import"]["id"])
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 2)

    await ok(p, "admin", ROLLBACK, {"n": imported}, "importRollback")
    undone = await status(p, imported)
    assert undone["status"] == "ROLLED_BACK"
    after = await names(p)
    assert "New One" not in after and "Alumnus Renamed" not in after
    assert "ALUMNUS Person" in after  # the update was reverted


async def test_rollback_leaves_what_changed_since(programme: Programme) -> None:
    p = programme
    csv = "email,name\nfresh@example.org,Fresh Person\n"
    made = await upload(p, "admin", csv.encode(), dryRun=False)
    imported = made["data"]["importUpload"]["import"]["id"]
    await status(p, imported)
    renamed = "email,name\nfresh@example.org,Fresh Renamed\n"
    await upload(p, "admin", renamed.encode(), dryRun=False)  # a later import changes it
    await p.api.run_jobs()
    await ok(p, "admin", ROLLBACK, {"n": imported}, "importRollback")
    await status(p, imported)
    assert "Fresh Renamed" in await names(p)  # changed since: kept, not overwritten


async def test_excel_latin_1_tabs_and_mapping(programme: Programme) -> None:
    from openpyxl import Workbook

    p = programme
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Email Address", "Name", "Graduation"])
    sheet.append(["xl@example.org", "Excel Person", 2011])
    buffer = io.BytesIO()
    book.save(buffer)
    made = await upload(p, "admin", buffer.getvalue(), "people.xlsx", dryRun=False)
    done = await status(p, made["data"]["importUpload"]["import"]["id"])
    assert (done["status"], done["created"]) == ("COMPLETED", 1)
    latin = "courriel\tnom complet\tpromotion\nzoe@example.org\tZoé Lefèvre\t2012\n"
    mapping = [{"column": "courriel", "field": "email"}, {"column": "nom complet",
               "field": "name"}, {"column": "promotion", "field": "graduation_year"}]  # fmt: skip
    made = await upload(p, "admin", latin.encode("latin-1"), dryRun=False, mapping=mapping)
    done = await status(p, made["data"]["importUpload"]["import"]["id"])
    assert done["created"] == 1 and "Zoé Lefèvre" in await names(p)


async def test_bad_files_are_refused_clearly(programme: Programme) -> None:
    p = programme
    empty = await upload(p, "admin", b"")
    assert [e["code"] for e in empty["data"]["importUpload"]["userErrors"]] == ["EMPTY"]
    twice = await upload(p, "admin", b"email,e-mail,name\na@example.org,b@example.org,A\n")
    failed = await status(p, twice["data"]["importUpload"]["import"]["id"])
    assert failed["status"] == "FAILED" and "Two columns" in failed["error"]
    no_name = await upload(p, "admin", b"email\na@example.org\n")
    failed = await status(p, no_name["data"]["importUpload"]["import"]["id"])
    assert failed["status"] == "FAILED" and "name" in failed["error"]
    ragged = await upload(p, "admin", b"email,name\nr@example.org,R,extra,cells\n")
    report = await status(p, ragged["data"]["importUpload"]["import"]["id"])
    assert report["rows"][0]["problems"][0]["code"] == "RAGGED_ROW"
    binary = await upload(p, "admin", b"PK\x03\x04not really a spreadsheet", "x.xlsx")
    failed = await status(p, binary["data"]["importUpload"]["import"]["id"])
    assert failed["status"] == "FAILED" and ".xlsx" in failed["error"]
    refused = await upload(p, "sre", b"email,name\na@example.org,A\n")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_all_or_nothing_writes_nothing_on_a_bad_row(programme: Programme) -> None:
    p = programme
    csv = "email,name\ngood@example.org,Good Person\nbad,Bad\n"
    made = await upload(p, "admin", csv.encode(), dryRun=False, allOrNothing=True)
    done = await status(p, made["data"]["importUpload"]["import"]["id"])
    assert done["status"] == "FAILED" and "nothing was written" in done["error"]
    assert "Good Person" not in await names(p)
    assert [r["action"] for r in done["rows"]] == ["REJECTED"]


async def test_enrolments_and_mentor_assignments(programme: Programme) -> None:
    p = programme
    enrol = "student email,mission\ns3@example.org,B1-A\ns3@example.org,NOPE\nnobody@x.org,B1-A\n"
    made = await upload(p, "admin", enrol.encode(), kind="ENROLLMENTS", dryRun=False)
    done = await status(p, made["data"]["importUpload"]["import"]["id"])
    assert (done["created"], done["rejected"]) == (1, 2)
    assign = (
        "email,mission,mentor\ns3@example.org,B1-A,m1@example.org\n"
        "s3@example.org,B1-A,s1@example.org\n"
    )
    made = await upload(p, "admin", assign.encode(), kind="MENTOR_ASSIGNMENTS", dryRun=False)
    done = await status(p, made["data"]["importUpload"]["import"]["id"])
    assert (done["created"], done["rejected"]) == (1, 1)  # s1 is no mentor
    mine = await p.gql("s3", "{ viewer { mentors { mentor { name } } } }")
    assert {"mentor": {"name": "M1 Person"}} in mine["data"]["viewer"]["mentors"]
    assert (
        codes(
            await call(
                p,
                "admin",
                ROLLBACK,
                {"n": made["data"]["importUpload"]["import"]["id"]},
                "importRollback",
            )
        )
        == []
    )


async def test_the_command_line_previews_runs_and_refuses_big_files(
    programme: Programme, tmp_path: Path
) -> None:
    from dataclasses import replace

    from tests.test_cli import alumnet

    p = programme
    sheet = tmp_path / "people.csv"
    sheet.write_text("Email|Name|Class of\ncli@example.org|Cli Person|2014\nbad|Bad|x\n")
    preview = alumnet(p.api.settings, "import", str(sheet), "--kind", "alumni", "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert "2 rows: 1 to create, 0 to update" in preview.stdout and "row 3" in preview.stdout
    assert "Cli Person" not in await names(p)
    run = alumnet(p.api.settings, "import", str(sheet), "--kind", "alumni")
    assert "2 rows: 1 created, 0 updated" in run.stdout and "Cli Person" in await names(p)
    small = replace(p.api.settings, import_max_bytes=10)
    refused = alumnet(small, "import", str(sheet), "--kind", "alumni")
    assert refused.returncode == 2 and "larger than the limit" in refused.stderr


async def test_an_import_runs_once_and_rollback_keeps_what_was_used(
    programme: Programme,
) -> None:
    p = programme
    csv = "email,name\nonce@example.org,Once Person\n"
    made = await upload(p, "admin", csv.encode(), dryRun=False)
    imported = made["data"]["importUpload"]["import"]["id"]
    await status(p, imported)
    again = await call(p, "admin", RUN, {"n": imported}, "importRun")
    assert codes(again) == ["INVALID"]  # upload it again to run it again
    enrol = "email,mission\nonce@example.org,B1-A\n"
    await upload(p, "admin", enrol.encode(), kind="ENROLLMENTS", dryRun=False)
    await p.api.run_jobs()
    await ok(p, "admin", ROLLBACK, {"n": imported}, "importRollback")
    await status(p, imported)
    assert "Once Person" in await names(p)  # enrolled since: not deleted with its data


async def test_multipart_requests_still_refuse_escaped_nul(programme: Programme) -> None:
    import json as json_

    p = programme
    query = (
        'mutation { tokenCreate(input: {email: "a\\u0000b@x.org", password: "x"}) { accessToken } }'
    )
    response = await p.api.client.post(
        "/graphql",
        data={"operations": json_.dumps({"query": query}), "map": "{}"},
        files={"unused": ("x", b"x")},
    )
    assert response.status_code == 400


async def test_import_progress_streams_across_processes(programme: Programme, server: str) -> None:
    """Previewed here; run by a worker (Redis) or by the server itself (embedded default);
    a subscriber of the server hears every change until the import completes."""
    import asyncio
    import json

    from tests.conftest import post_to, subscribe, token_at

    p = programme
    rows = "".join(f"person{i}@example.org,Person {i},2012\n" for i in range(2500))
    made = await upload(p, "admin", f"email,name,graduation year\n{rows}".encode())
    imported = made["data"]["importUpload"]["import"]["id"]
    assert (await status(p, imported))["status"] == "PREVIEWED"
    token = await token_at(server, "admin@example.org")
    ws = await subscribe(
        server, token, "subscription($n: ID!) { importProgress(importId: $n) { status processed "
        "created } }", {"n": imported},
    )  # fmt: skip
    if p.api.settings.redis_url:
        await ok(p, "admin", RUN, {"n": imported}, "importRun")
        await p.api.run_jobs()
    else:
        body = await post_to(server, RUN, {"n": imported}, token)
        assert body["data"]["importRun"]["userErrors"] == [], body
    seen = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if message["type"] == "complete":
            break
        seen.append(message["payload"]["data"]["importProgress"])
    await ws.close()
    assert seen[-1] == {"status": "COMPLETED", "processed": 2500, "created": 2500}
    assert any(s["status"] == "RUNNING" and 0 < s["processed"] < 2500 for s in seen), seen


async def test_a_gigabyte_upload_is_refused_before_it_is_read(programme: Programme) -> None:
    """Declared too large: refused before a byte is read. Streamed without a length: cut
    off once past the limit, not after the whole gigabyte."""
    import dataclasses
    import json

    from alumnet.app import create_app

    p = programme
    # The body cap is the largest upload any field accepts, so every limit is lowered.
    names = ("import_max_bytes", "submission_max_bytes", "resource_max_bytes", "photo_max_bytes")
    limits = dict.fromkeys(names, 1024 * 1024)
    app = create_app(dataclasses.replace(p.api.settings, **limits))
    operations = json.dumps({"query": "mutation($i: ImportUploadInput!) { importUpload(input: "
                             "$i) { userErrors { code } } }",
                             "variables": {"i": {"file": None, "kind": "ALUMNI"}}})  # fmt: skip
    head = (
        f'--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{operations}\r\n'
        '--b\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0": ["variables.i.file"]}'
        '\r\n--b\r\nContent-Disposition: form-data; name="0"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\nemail,name\r\n"
    ).encode()
    for declared in (True, False):
        read = {"bytes": 0}

        async def receive() -> dict[str, object]:
            chunk = head if read["bytes"] == 0 else b"a@example.org,A\r\n" * 16384
            read["bytes"] += len(chunk)
            assert read["bytes"] < 64 * 1024 * 1024, "read far past the limit"
            return {"type": "http.request", "body": chunk, "more_body": True}

        sent: list[dict[str, object]] = []

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        headers = [(b"content-type", b"multipart/form-data; boundary=b"),
                   (b"authorization", f"Bearer {p.tokens['admin']}".encode())]  # fmt: skip
        if declared:
            headers.append((b"content-length", str(1024**3).encode()))
        scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": headers,
                 "query_string": b"", "http_version": "1.1", "scheme": "http", "root_path": "",
                 "server": ("testserver", 80), "client": ("127.0.0.1", 1)}  # fmt: skip
        await app(scope, receive, send)
        assert sent[0]["status"] == 413, declared
        body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))  # type: ignore[misc]
        assert body["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert read["bytes"] == 0 if declared else read["bytes"] < 4 * 1024 * 1024
    listed = await p.gql("admin", "{ imports { totalCount } }")
    assert listed["data"]["imports"]["totalCount"] == 0


async def test_rollback_takes_back_the_role_and_profile_it_gave(programme: Programme) -> None:
    """A student listed among alumni becomes one (a role, and a profile from the row); the
    rollback takes both back, and leaves a profile edited since."""
    p = programme
    roles = """query($e: String!) { users(filter: {search: $e}) { edges { node { roles } } } }"""
    profile = """query($e: String!) { users(filter: {search: $e}) { edges { node {
      profile { company } } } } }"""

    async def of(query: str, email: str) -> Any:
        return (await p.gql("admin", query, {"e": email}))["data"]["users"]["edges"][0]["node"]

    csv = (
        "email,name,employer\ns1@example.org,S1 Person,Acme\ns2@example.org,S2 Person,Baobab\n"
        "s3@example.org,S3 Person,Cedar\n"
    )
    made = await upload(p, "admin", csv.encode(), dryRun=False)
    imported = made["data"]["importUpload"]["import"]["id"]
    done = await status(p, imported)
    assert (done["updated"], done["unchanged"]) == (3, 0)
    assert [r["action"] for r in done["rows"]] == ["UPDATED"] * 3
    assert "ALUMNUS" in (await of(roles, "s1@example.org"))["roles"]
    assert (await of(profile, "s1@example.org"))["profile"]["company"] == "Acme"
    again = await upload(p, "admin", csv.encode(), dryRun=True)
    assert (await status(p, again["data"]["importUpload"]["import"]["id"]))["unchanged"] == 3
    # s2 edits their new profile before the rollback: the profile stays.
    edit = """mutation($i: ProfileUpdateInput!) { profileUpdate(input: $i) {
      userErrors { code } } }"""
    await ok(p, "s2", edit, {"i": {"headline": "Now an alumna"}}, "profileUpdate")
    # s3's record goes for verification, which leaves updated_at alone: it stays too.
    runtime = p.api.app.state.runtime
    async with runtime.transaction() as uow:
        await uow.session.execute(
            update(Profile)
            .where(Profile.user_id == select(User.id).where(User.email == "s3@example.org")
                   .scalar_subquery())
            .values(record_status="pending")
        )  # fmt: skip
    await ok(p, "admin", ROLLBACK, {"n": imported}, "importRollback")
    assert (await status(p, imported))["status"] == "ROLLED_BACK"
    for who in ("s1@example.org", "s2@example.org", "s3@example.org"):
        assert "ALUMNUS" not in (await of(roles, who))["roles"]
        assert "STUDENT" in (await of(roles, who))["roles"]
    assert (await of(profile, "s1@example.org"))["profile"] is None
    assert (await of(profile, "s2@example.org"))["profile"]["company"] is None
    assert (await of(profile, "s3@example.org"))["profile"]["company"] is None


async def test_people_created_by_a_run_can_be_invited(programme: Programme) -> None:
    """A preview sends nothing; a run with `invite` e-mails each person it created (not the
    ones it updated) a one-time link, and the token in it sets their password."""
    import email
    import re
    from email import policy

    p = programme
    csv = ("email,name\ninvited.one@example.org,Invited One\ninvited.two@example.org,"
           "Invited Two\nalumnus@example.org,Alumnus Again\n")  # fmt: skip
    made = await upload(p, "admin", csv.encode(), invite=True)
    imported = made["data"]["importUpload"]["import"]["id"]
    assert (await status(p, imported))["status"] == "PREVIEWED"
    assert p.api.mailbox.to("invited.one@example.org") == []
    await ok(p, "admin", RUN, {"n": imported}, "importRun")
    assert (await status(p, imported))["created"] == 2
    await p.api.run_jobs()
    [raw] = p.api.mailbox.to("invited.one@example.org")
    letter = email.message_from_string(raw, policy=policy.default)
    assert letter["Subject"] == "Your alumnet account" and letter["List-Unsubscribe"] is None
    assert len(p.api.mailbox.to("invited.two@example.org")) == 1
    assert p.api.mailbox.to("alumnus@example.org") == []  # updated, not created
    body = letter.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    token = re.search(r"passwordReset mutation:\s+(\S+)", body)
    assert token is not None
    reset = """mutation($t: String!, $p: String!) { passwordReset(input: {token: $t, password: $p})
      { reset userErrors { code } } }"""
    done = await p.api.gql(reset, {"t": token.group(1), "p": "a brand new passphrase"})
    assert done["data"]["passwordReset"] == {"reset": True, "userErrors": []}
    assert await p.api.sign_in("invited.one@example.org", "a brand new passphrase")
    # Without `invite`, nobody is e-mailed.
    quiet = "email,name\nquiet.one@example.org,Quiet One\n"
    await upload(p, "admin", quiet.encode(), dryRun=False)
    await p.api.run_jobs()
    assert p.api.mailbox.to("quiet.one@example.org") == []


ROWS = """query($n: ID!, $after: String, $f: ImportRowFilter) { node(id: $n) { ... on Import {
  name filename rows(first: 2, after: $after, filter: $f) { totalCount
    pageInfo { hasNextPage endCursor } edges { cursor node { id rowNumber action } } } } } }"""
LISTED = """{ imports(first: 10) { totalCount edges { node { name rows(first: 2) { totalCount
  edges { node { rowNumber naturalKey problems { code } } } } } } } }"""


async def test_rows_are_a_connection_and_their_sql_does_not_grow(programme: Programme) -> None:
    p = programme
    made = await upload(p, "admin", ALUMNI.encode("utf-8"), "alumni list.csv")
    imported = made["data"]["importUpload"]["import"]["id"]
    await status(p, imported)
    page = (await p.gql("admin", ROWS, {"n": imported}))["data"]["node"]
    assert page["name"] == page["filename"] == "alumni list.csv"
    rows = page["rows"]
    assert rows["totalCount"] == 5 and rows["pageInfo"]["hasNextPage"]
    assert [e["node"]["rowNumber"] for e in rows["edges"]] == [2, 3]
    after = {"n": imported, "after": rows["pageInfo"]["endCursor"]}
    rest = (await p.gql("admin", ROWS, after))["data"]["node"]["rows"]
    assert [e["node"]["rowNumber"] for e in rest["edges"]] == [4, 5]
    refused = {"n": imported, "f": {"actions": ["REJECT"]}}
    rejected = (await p.gql("admin", ROWS, refused))["data"]["node"]["rows"]
    assert rejected["totalCount"] == 3
    assert [e["node"]["action"] for e in rejected["edges"]] == ["REJECT", "REJECT"]
    # A row is a node, for importers only.
    row_id = rows["edges"][0]["node"]["id"]
    query = "query($n: ID!) { node(id: $n) { ... on ImportRowResult { rowNumber } } }"
    assert (await p.gql("admin", query, {"n": row_id}))["data"]["node"] == {"rowNumber": 2}
    for who in ("sre", "manager"):
        assert (await p.gql(who, query, {"n": row_id}))["data"]["node"] is None
        assert (await p.gql(who, ROWS, {"n": imported}))["data"]["node"] is None
    # The rows of every import on a page come in the same number of statements.
    one, body = await p.api.sql_count(LISTED, token=p.tokens["admin"])
    assert body["data"]["imports"]["edges"][0]["node"]["rows"]["totalCount"] == 5
    for _ in range(3):
        await upload(p, "admin", b"email,name\nx@example.org,X\n")
    await p.api.run_jobs()
    more, body = await p.api.sql_count(LISTED, token=p.tokens["admin"])
    assert body["data"]["imports"]["totalCount"] == 4
    assert more == one
    too_many = await p.gql("admin", """query($n: ID!) { node(id: $n) { ... on Import {
      rows(first: 1001) { totalCount } } } }""", {"n": imported})  # fmt: skip
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
