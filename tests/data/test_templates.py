"""Imports people can prepare: the headers offices write, `importTemplates`, the template
files (which read back as imports), and reports that name people as the file did."""

from __future__ import annotations

import csv
import io
import re
from typing import Any
from urllib.parse import urlparse

from alumnet.domain.data import imports, templates
from alumnet.domain.data.tabular import open_table
from tests.data.conftest import Programme, status, upload
from tests.engagement.conftest import ok

TEMPLATES = """query($k: ImportKind) { importTemplates(kind: $k) { kind description csvUrl
  xlsxUrl fields { field required header synonyms description example inTemplate } } }"""
PERSON = """query($e: String!) { users(filter: {search: $e}) { edges { node { name email
  graduationYear profile { company jobTitle } } } } }"""
ROLLBACK = """mutation($n: ID!) { importRollback(input: {importId: $n}) { import { id status }
  userErrors { code } } }"""


async def person(p: Programme, email: str) -> Any:
    body = await p.gql("admin", PERSON, {"e": email})
    [edge] = body["data"]["users"]["edges"]
    return edge["node"]


async def test_the_headers_offices_write_are_understood(programme: Programme) -> None:
    p = programme
    alumni = (
        "E-mail Address,Full name,Year of graduation (YYYY),Phone number,Current Employer,"
        "Designation\n"
        "ama@example.org,Ama Mensah,2015,+233 20 123 4567,Acme,Engineer\n"
    )
    made = await upload(p, "admin", alumni.encode(), dryRun=False)
    done = await status(p, made["data"]["importUpload"]["import"]["id"])
    assert (done["status"], done["created"]) == ("COMPLETED", 1), done
    ama = await person(p, "ama@example.org")
    assert (ama["name"], ama["graduationYear"]) == ("Ama Mensah", 2015)
    assert ama["profile"] == {"company": "Acme", "jobTitle": "Engineer"}
    # First and last names in two columns make the name; a student's "Graduation Year" is
    # the year they expect to graduate.
    students = (
        "Email address;First Name;Surname;Graduation Year;Student No.;Sem\n"
        "kofi@example.org;Kofi;Boateng;2028;CS/2024/0042;2\n"
    )
    made = await upload(p, "admin", students.encode(), kind="STUDENTS", dryRun=False)
    done = await status(p, made["data"]["importUpload"]["import"]["id"])
    assert (done["status"], done["created"]) == ("COMPLETED", 1), done
    kofi = await person(p, "kofi@example.org")
    assert (kofi["name"], kofi["graduationYear"]) == ("Kofi Boateng", 2028)
    # One "Student" column holds an e-mail address or a student number.
    enrol = "Student,Mission Code\ns2@example.org,B1-B\nCS/2024/0042,B1-A\n12,B1-A\n"
    made = await upload(p, "admin", enrol.encode(), kind="ENROLLMENTS", dryRun=False)
    done = await status(p, made["data"]["importUpload"]["import"]["id"])
    assert (done["created"], done["rejected"]) == (2, 1), done
    assert done["rows"][2]["problems"][0]["code"] == "INVALID"
    assert (
        "neither an e-mail address nor a student number"
        in (done["rows"][2]["problems"][0]["message"])
    )


def test_every_synonym_and_template_header_reads_as_its_field() -> None:
    for kind in imports.KINDS:
        lookup = imports.header_fields(kind)
        for field in templates.fields(kind):
            for header in (field.header, *field.synonyms, f"{field.header} (required)"):
                assert lookup.get(imports.normalise(header)) == field.field, (kind, header)


async def test_import_templates_describe_every_column_for_importers_only(
    programme: Programme,
) -> None:
    p = programme
    body = await p.gql("admin", TEMPLATES)
    assert "errors" not in body, body
    found = {t["kind"]: t for t in body["data"]["importTemplates"]}
    assert set(found) == {
        "ALUMNI", "STUDENTS", "ENROLLMENTS", "MENTOR_ASSIGNMENTS", "GIFTS", "CURRICULUM"
    }  # fmt: skip
    alumni = {f["field"]: f for f in found["ALUMNI"]["fields"]}
    assert alumni["email"]["required"] and alumni["name"]["required"]
    assert not alumni["graduation_year"]["required"]
    assert {"E-mail address", "Email address"} <= set(alumni["email"]["synonyms"])
    assert "Year of graduation" in alumni["graduation_year"]["synonyms"]
    assert alumni["country"]["example"] == "GH" and alumni["country"]["description"]
    assert not alumni["first_name"]["inTemplate"]
    students = {f["field"]: f for f in found["STUDENTS"]["fields"]}
    assert "Graduation year" in students["expected_graduation_year"]["synonyms"]
    one = await p.gql("admin", TEMPLATES, {"k": "MENTOR_ASSIGNMENTS"})
    [assignments] = one["data"]["importTemplates"]
    required = {f["field"] for f in assignments["fields"] if f["required"]}
    assert required == {"mission", "mentor_email"}
    for who in ("manager", "sre", "s1"):  # imports are the admins' (`data:import`)
        kinds = [t["kind"] for t in (await p.gql(who, TEMPLATES))["data"]["importTemplates"]]
        # but a curriculum's: academics managers' (`academics:manage`)
        assert kinds == (["CURRICULUM"] if who == "manager" else [])
    anonymous = await p.api.gql(TEMPLATES)
    assert anonymous.get("data") is None or anonymous["data"]["importTemplates"] == []


async def _fetch(p: Programme, link: str) -> Any:
    url = urlparse(link)
    return await p.api.client.get(f"{url.path}?{url.query}")


async def test_template_files_download_and_read_back_as_imports(programme: Programme) -> None:
    from openpyxl import load_workbook

    p = programme
    body = await p.gql("admin", TEMPLATES)
    for template in body["data"]["importTemplates"]:
        kind = template["kind"].lower()
        headers = [f["header"] for f in template["fields"] if f["inTemplate"]]
        as_csv = await _fetch(p, template["csvUrl"])
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        assert "attachment" in as_csv.headers["content-disposition"]
        assert as_csv.headers["cache-control"] == "no-store"
        assert list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig")))) == [headers]
        as_xlsx = await _fetch(p, template["xlsxUrl"])
        assert as_xlsx.status_code == 200
        book = load_workbook(io.BytesIO(as_xlsx.content))
        sheet = book.active
        assert sheet is not None
        rows = list(sheet.iter_rows(values_only=True))
        assert [list(r) for r in rows] == [headers]  # the header row, no data
        assert sheet["A1"].comment is not None and "Example" in sheet["A1"].comment.text
        for content in (as_csv.content, as_xlsx.content):
            table = open_table(io.BytesIO(content))
            mapped = imports.map_columns(table.headers, kind, None)
            assert len(mapped) == len(headers)
    # A filled-in template imports.
    [alumni] = (await p.gql("admin", TEMPLATES, {"k": "ALUMNI"}))["data"]["importTemplates"]
    book = load_workbook(io.BytesIO((await _fetch(p, alumni["xlsxUrl"])).content))
    sheet = book.active
    assert sheet is not None
    sheet.append(["filled@example.org", "Filled In", "2016", None, "+233 20 000 0000"])
    out = io.BytesIO()
    book.save(out)
    made = await upload(p, "admin", out.getvalue(), "alumni.xlsx", dryRun=False)
    done = await status(p, made["data"]["importUpload"]["import"]["id"])
    assert (done["status"], done["created"]) == ("COMPLETED", 1), done
    assert (await person(p, "filled@example.org"))["graduationYear"] == 2016
    # Links are signed: a changed one is refused.
    forged = await _fetch(p, alumni["csvUrl"].replace("token=", "token=x"))
    assert forged.status_code == 404
    other = templates.link(p.api.settings, 1, "nonsense", "csv")
    assert (await _fetch(p, other)).status_code == 404


async def test_reports_name_rows_as_the_file_does_never_by_id(programme: Programme) -> None:
    """Previews and row reports show e-mail addresses, student numbers, mission and
    programme codes, never a database id (a programme's id stays internal, and a rollback
    still restores it)."""
    from sqlalchemy import insert

    from alumnet.persistence.models import Programme as ProgrammeModel

    p = programme
    runtime = p.api.app.state.runtime
    async with runtime.transaction() as uow:
        for code in ("BSC-CS", "BA-ECON"):
            await uow.session.execute(insert(ProgrammeModel).values(
                code=code, name=code, first_graduation_year=2000))  # fmt: skip
    first = "email,name,programme\nalumnus@example.org,ALUMNUS Person,bsc-cs\n"
    made = await upload(p, "admin", first.encode(), dryRun=False)
    await status(p, made["data"]["importUpload"]["import"]["id"])
    second = "email,name,programme\nalumnus@example.org,ALUMNUS Person,BA-ECON\n"
    made = await upload(p, "admin", second.encode(), dryRun=False)
    changed = made["data"]["importUpload"]["import"]["id"]
    report = await status(p, changed)
    [row] = report["rows"]
    assert row["naturalKey"] == "alumnus@example.org"
    assert row["before"]["programme"] == "BSC-CS" and row["after"]["programme"] == "BA-ECON"
    assert "programme_id" not in row["before"] and "programme_id" not in row["after"]
    await ok(p, "admin", ROLLBACK, {"n": changed}, "importRollback")
    assert (await status(p, changed))["status"] == "ROLLED_BACK"
    again = await upload(p, "admin", first.encode())
    assert (await status(p, again["data"]["importUpload"]["import"]["id"]))["unchanged"] == 1

    sheet = (
        "student,mission,mentor\ns1@example.org,B1-A,m2@example.org\n"
        "s1@example.org,B1-A,s2@example.org\nnobody@example.org,B1-A,m1@example.org\n"
        "s3@example.org,B1-A,m1@example.org\n"
    )
    made = await upload(p, "admin", sheet.encode(), kind="MENTOR_ASSIGNMENTS")
    preview = await status(p, made["data"]["importUpload"]["import"]["id"])
    keys = [r["naturalKey"] for r in preview["rows"]]
    assert keys == [
        "s1@example.org / B1-A / m2@example.org", "s1@example.org / B1-A / s2@example.org",
        "nobody@example.org / B1-A / m1@example.org", "s3@example.org / B1-A / m1@example.org",
    ]  # fmt: skip
    numbers = re.compile(r"(?<![\w./-])\d+(?![\w./-])")  # a bare number, as an id would be
    for r in preview["rows"]:
        for text in [r["naturalKey"], *(q["message"] for q in r["problems"])]:
            assert not numbers.search(text), text
