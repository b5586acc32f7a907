"""Imports: upload (GraphQL multipart request), preview, run, rollback, the per-row report,
history, and the live `importProgress` subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import replace
from datetime import UTC, date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self, TypeVar, cast

import strawberry
from sqlalchemy import func, select
from strawberry import relay
from strawberry.file_uploads import Upload
from strawberry.scalars import JSON

from alumnet.domain.data import exports, files, imports, templates
from alumnet.persistence.loaders.common import by_id
from alumnet.persistence.models import Import as ImportModel
from alumnet.persistence.models import ImportRow, StoredFile
from alumnet.schema.analytics.reports import ReportFilter
from alumnet.schema.cohorts.types import EnrollmentFilter
from alumnet.schema.context import Info
from alumnet.schema.engagement.types import AttendanceFilter
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.mutations import (
    CODE_DESCRIPTION,
    INVALID,
    arg,
    pk_of,
    run_in_transaction,
    uploaded,
)
from alumnet.schema.nodes import (
    global_id,
    global_pk,
    int_ids,
    optional_pk,
    readable_rows,
    visible_user,
)
from alumnet.schema.ops.types import Job, job_node
from alumnet.schema.pagination import (
    MAX_PAGE,
    CountedConnection,
    KeysetQuery,
    SortDirection,
    SortKey,
    reads_loader,
)
from alumnet.schema.people.types import DirectoryFilter, directory_filter

if TYPE_CHECKING:
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value


T = TypeVar("T")


async def _importers_only(
    info: Info, table: Any, node_ids: Iterable[str], from_row: Callable[[Any], T]
) -> list[T | None]:
    """Nodes of an import (the import, its rows) by id: for those who may import its kind
    only (gifts: `giving`; a curriculum: `academics:manage`; the others: `data:import`)."""
    ids = int_ids(node_ids)
    kinds = imports.kinds_for(info.context.viewer)
    if not kinds:
        return [None for _ in ids]
    of_kinds = None
    if len(kinds) < len(imports.KINDS):
        of_kinds = (
            table.c.kind.in_(kinds) if table is ImportModel.__table__
            else table.c.import_id.in_(select(ImportModel.id).where(ImportModel.kind.in_(kinds)))
        )  # fmt: skip
    found = await readable_rows(info, table, ids, of_kinds)
    return [from_row(found[i]) if i in found else None for i in ids]


@strawberry.enum(
    description="What a file imports (`importTemplates` lists each kind's columns, the headers "
    "it understands, and template files)."
)
class ImportKind(Enum):
    ALUMNI = ev("alumni", description="Alumni: email, name, graduation year, programme code, "
                "phone, company, job title, city, country, date of birth.")  # fmt: skip
    STUDENTS = ev("students", description="Students: email, name, student number, programme "
                  "code, expected graduation year, semester, phone, date of birth.")  # fmt: skip
    ENROLLMENTS = ev("enrollments", description="Enrolments: student (email or student "
                     "number) and mission code.")  # fmt: skip
    MENTOR_ASSIGNMENTS = ev("mentor_assignments", description="Mentor assignments: student "
                            "(email or student number), mission code, mentor email.")  # fmt: skip
    GIFTS = ev("gifts", description="Historical gifts (`giving`, not `data:import`): donor "
               "email (and name for an outside donor), amount, currency, date, fund code, "
               "campaign name, payment method, reference, anonymous, tribute, key. Each gift "
               "is recorded once however often it is imported.")  # fmt: skip
    CURRICULUM = ev("curriculum", description="A curriculum (`academics:manage`, not "
                    "`data:import`): subject code and name, topic code, title and description, "
                    "position, estimated hours, prerequisites (topic codes separated by `;`: "
                    "`T1` in the row's subject, `SUBJ/T1` in another), programme code. Subjects "
                    "and topics are created or updated by code; prerequisites never make a "
                    "circle.")  # fmt: skip


@strawberry.enum(description="Where an import stands.")
class ImportStatus(Enum):
    UPLOADED = ev("uploaded", description="Stored; not read yet.")
    RUNNING = ev("running", description="Being previewed or run (or, its worker gone, about "
                 "to go on from the rows it recorded: within minutes, at once when a worker "
                 "starts on its machine).")  # fmt: skip
    PREVIEWED = ev("previewed", description="Checked row by row; nothing written.")
    COMPLETED = ev("completed", description="Run: every valid row written.")
    FAILED = ev("failed", description="Stopped: see `error`. Nothing written if all or nothing "
                "(or a preview); otherwise the rows before it stopped were written and "
                "recorded (`rows`): `importRun` goes on from there, `importRollback` undoes "
                "them.")  # fmt: skip
    ROLLING_BACK = ev("rolling_back", description="Being undone.")
    ROLLED_BACK = ev("rolled_back", description="Undone (except rows changed since).")


@strawberry.enum(description="What an import did, or in a preview would do, with a row.")
class RowAction(Enum):
    CREATE = ev("create", description="Would create.")
    UPDATE = ev("update", description="Would update.")
    UNCHANGED = ev("unchanged", description="Already as the row says.")
    REJECT = ev("reject", description="Refused in a preview; see the problems.")
    CREATED = ev("created", description="Created.")
    UPDATED = ev("updated", description="Updated.")
    REJECTED = ev("rejected", description="Refused; see the problems.")
    ROLLED_BACK = ev("rolled_back", description="Undone by a rollback.")


@strawberry.type(description="Why a cell or a row was refused.")
class RowProblem:
    field: str = strawberry.field(description="The field at fault (empty: the whole row).")
    code: str = strawberry.field(description="For programs: INVALID, REQUIRED, NOT_FOUND, …")
    message: str = strawberry.field(description="For people.")


@strawberry.type(description="One row of an imported file and what became of it.")
class ImportRowResult(relay.Node):
    id: relay.NodeID[int]
    row_number: int = strawberry.field(description="The row in the file (the header is 1).")
    action: RowAction = strawberry.field(description="What happened, or would.")
    natural_key: str | None = strawberry.field(
        description="Who or what the row is about, as the file names it: the e-mail address "
        "(people), or the student's e-mail or number, the mission code and the mentor's "
        "e-mail (enrolments, mentor assignments), joined by ` / `; a gift by its key, or its "
        "donor's e-mail, date, amount and currency. Never an id."
    )
    problems: list[RowProblem] = strawberry.field(description="Why it was refused.")
    target_id: strawberry.ID | None = strawberry.field(
        description="The global id of what it created or changed."
    )
    likely_duplicate_ids: list[strawberry.ID] = strawberry.field(
        description="Existing people this new one may duplicate (same name and year, or the "
        "same e-mail written differently)."
    )
    before: JSON | None = strawberry.field(
        description="Values before (updates), by field; a programme by its code."
    )
    after: JSON | None = strawberry.field(
        description="Values written (or to be written), by field; a programme by its code."
    )

    @classmethod
    def from_row(cls, row: Any) -> Self:
        target = (
            strawberry.ID(global_id(row.target_type, row.target_id))
            if row.target_type and row.target_id
            else None
        )
        return cls(
            id=row.id, row_number=row.row_number, action=RowAction(row.action),
            natural_key=row.natural_key,
            problems=[RowProblem(field=p.get("field", ""), code=p.get("code", "INVALID"),
                                 message=p.get("message", "")) for p in row.problems or []],
            target_id=target,
            likely_duplicate_ids=[strawberry.ID(global_id("User", i))
                                  for i in row.duplicates or []],
            before=row.before, after=row.after,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await _importers_only(info, ImportRow.__table__, node_ids, cls.from_row)


@strawberry.type(description="Rows of an import and what became of them, a page at a time.")
class ImportRowConnection(CountedConnection[ImportRowResult]):
    pass


@strawberry.input(description="Narrows `Import.rows`; every condition given must hold.")
class ImportRowFilter:
    actions: list[RowAction] | None = strawberry.field(
        default=None, description="Only rows with these outcomes (default: every row)."
    )


@strawberry.type(description="An import: who ran it, the file, how its columns were read, "
                 "progress and counts, and the outcome of every row.")  # fmt: skip
class Import(relay.Node):
    id: relay.NodeID[int]
    kind: ImportKind = strawberry.field(description="What it imports.")
    status: ImportStatus = strawberry.field(description="Where it stands.")
    name: str = strawberry.field(
        description="The uploaded file's name, as sent (files are named by `name` everywhere, "
        "as `ExportFile.name`)."
    )
    sha256: str = strawberry.field(description="The file's SHA-256 checksum (hex).")
    size: int = strawberry.field(description="The file's size in bytes.")
    mapping: JSON = strawberry.field(description="Column header → field, as given.")
    all_or_nothing: bool = strawberry.field(description="Whether one bad row stops it all.")
    dry_run: bool = strawberry.field(description="A preview: nothing is written.")
    invite: bool = strawberry.field(
        description="Whether the people a run creates get an e-mail inviting them to choose a "
        "password (a one-time link, valid 7 days)."
    )
    processed: int = strawberry.field(description="Rows read so far.")
    created: int = strawberry.field(description="Rows that created (or would create).")
    updated: int = strawberry.field(description="Rows that updated (or would).")
    unchanged: int = strawberry.field(description="Rows already as they say.")
    rejected: int = strawberry.field(description="Rows refused.")
    error: str | None = strawberry.field(description="Why the import as a whole failed.")
    created_at: datetime = strawberry.field(description="Uploaded (UTC).")
    finished_at: datetime | None = strawberry.field(description="Finished (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, kind=ImportKind(row.kind), status=ImportStatus(row.status),
            name=row.filename, sha256=row.sha256, size=row.size,
            mapping=cast(JSON, row.mapping or {}),
            all_or_nothing=row.all_or_nothing, dry_run=row.dry_run, invite=row.invite,
            processed=row.processed,
            created=row.created, updated=row.updated, unchanged=row.unchanged,
            rejected=row.rejected, error=row.error, created_at=row.created_at,
            finished_at=row.finished_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await _importers_only(info, ImportModel.__table__, node_ids, cls.from_row)

    @strawberry.field(
        description="The uploaded file's name.",
        deprecation_reason="Use `name`, as every file is named (`ExportFile.name`).",
    )
    def filename(self) -> str:
        return self.name

    @strawberry.field(description="Who ran it (null for the command line).")
    async def created_by(self, info: Info) -> Annotated[User, strawberry.lazy(
            "alumnet.schema.identity.types")] | None:  # fmt: skip
        return await visible_user(info, self._row.created_by_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The job previewing, running or rolling it back.")
    async def job(self, info: Info) -> Job | None:
        return await job_node(info, self._row.job_id)

    @relay.connection(
        ImportRowConnection,
        description="The outcome of each row, in file order (`data:import`).",
        max_results=MAX_PAGE,
    )
    def rows(
        self,
        info: Info,
        filter: Annotated[
            ImportRowFilter | None, strawberry.argument(description="Which rows.")
        ] = None,
    ) -> Iterable[ImportRowResult]:
        query = select(ImportRow.__table__)
        actions = tuple(sorted({str(a.value) for a in filter.actions or []})) if filter else ()
        if actions:
            query = query.where(ImportRow.action.in_(actions))
        return KeysetQuery(
            query, [SortKey(ImportRow.row_number)], ImportRowResult.from_row,
            info.context.reads, partition=(ImportRow.import_id, self.id),
            batch_key=("import_rows", actions),
        )  # fmt: skip


@strawberry.type(description="Imports, a page at a time.")
class ImportConnection(CountedConnection[Import]):
    pass


@strawberry.enum(description="Why an import mutation failed.")
class ImportErrorCode(Enum):
    TOO_LARGE = ev("TOO_LARGE", description="The file is larger than allowed.")
    EMPTY = ev("EMPTY", description="The file is empty.")
    NOT_FOUND = ev("NOT_FOUND", description="No such import.")
    NOT_ROLLBACKABLE = ev("NOT_ROLLBACKABLE", description="Only a completed run, or a run "
                          "that stopped part way, rolls back.")  # fmt: skip
    ALREADY_RUNNING = ev("ALREADY_RUNNING", description="This import, or another of the same "
                         "file (the same `sha256`), is being previewed, run or rolled back now "
                         "(or its job waits): the payload's `alreadyRunning` is that import. "
                         "Follow it, or wait for it to end; `force` runs a file while another "
                         "import of it runs.")  # fmt: skip
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(name="ImportError", description="A problem with an import mutation's input.")
class ImportProblem(UserError):
    code: ImportErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.enum(description="Why an export mutation failed.")
class ExportErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="The mission, assignment or other object named is "
                   "not there, or not yours to export.")  # fmt: skip
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with an export mutation's input.")
class ExportError(UserError):
    code: ExportErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="Read a column as a field (or ignore it).")
class ColumnMappingInput:
    column: str = strawberry.field(description="The column's header, as in the file.")
    field: str | None = strawberry.field(
        description="The field (e.g. `email`, `graduation_year`: `importTemplates` lists them); "
        "null ignores the column."
    )


FORCE = (
    "With `dryRun: false`: run even while another import of the same file (the same "
    "`sha256`) is being run, instead of answering `ALREADY_RUNNING`; the people, enrolments "
    "and assignments it writes meanwhile count as unchanged here, so each is written once. "
    "Never while that import is being rolled back."
)


@strawberry.input(description="A spreadsheet to import (multipart request).")
class ImportUploadInput:
    file: Upload = strawberry.field(description="A .csv (any delimiter or encoding) or .xlsx.")
    kind: ImportKind = strawberry.field(description="What it holds.")
    mapping: list[ColumnMappingInput] | None = strawberry.field(
        default=None, description="Override the automatic matching of headers to fields."
    )
    all_or_nothing: bool = strawberry.field(
        default=False, description="Write nothing if any row is rejected."
    )
    dry_run: bool = strawberry.field(
        default=True, description="Preview first (the default): report, write nothing."
    )
    invite: bool = strawberry.field(
        default=False,
        description="When run, e-mail each person it creates an invitation to choose a "
        "password. Without it they exist but cannot sign in until they reset their password.",
    )
    force: bool = strawberry.field(default=False, description=FORCE)


@strawberry.input(description="Run (or preview again) an uploaded import.")
class ImportRunInput:
    import_id: relay.GlobalID = strawberry.field(description="The import.")
    dry_run: bool = strawberry.field(default=False, description="Preview instead.")
    invite: bool | None = strawberry.field(
        default=None, description="Invite the people it creates (null: as uploaded)."
    )
    force: bool = strawberry.field(default=False, description=FORCE)


@strawberry.input(description="Undo an import.")
class ImportRollbackInput:
    import_id: relay.GlobalID = strawberry.field(
        description="A completed import, or a run that stopped part way (FAILED)."
    )


@strawberry.type(description="The import and the job working on it.")
class ImportPayload:
    import_: Import | None = strawberry.field(name="import", description="The import.")
    job: Job | None = strawberry.field(description="Follow it with `importProgress`.")
    already_running: Import | None = strawberry.field(
        description="With `ALREADY_RUNNING`: the import at work now (this one, or another of "
        "the same file); follow it with `importProgress`. Null otherwise."
    )
    user_errors: list[ImportProblem] = strawberry.field(description="Empty on success.")


async def _payload(info: Info, change: Callable[[Any], Any]) -> ImportPayload:
    """An import mutation's answer: ``change`` in one transaction; the import it changed,
    or the problems and, with ALREADY_RUNNING, the import at work (named in the message
    by its global id)."""
    at_work: list[int] = []

    async def noting(uow: Any) -> Any:
        try:
            return await change(uow)
        except imports.AlreadyRunning as exc:
            at_work.append(exc.import_id)
            raise

    found, problems = await run_in_transaction(info, noting)
    node = running = None
    if found is not None:
        [node] = await Import.resolve_nodes(info=info, node_ids=[str(found.id)])
    if at_work:
        [running] = await Import.resolve_nodes(info=info, node_ids=[str(at_work[0])])
        named = global_id("Import", at_work[0])
        problems = [replace(p, message=f"{p.message} (import {named})")
                    if p.code == "ALREADY_RUNNING" else p for p in problems]  # fmt: skip
    return ImportPayload(
        import_=node, job=await job_node(info, found.job_id) if found is not None else None,
        already_running=running,
        user_errors=user_errors(ImportProblem, ImportErrorCode, problems),
    )  # fmt: skip


@strawberry.type(description="A column an import reads.")
class ImportTemplateField:
    field: str = strawberry.field(
        description="The field it fills, as `ColumnMappingInput.field` names it."
    )
    required: bool = strawberry.field(
        description="Whether a file must have this column. For enrolments and mentor "
        "assignments, each row names its student by `email`, `student_number` or `student` "
        "(one of these columns is needed; none of them is required alone)."
    )
    header: str = strawberry.field(description="The header the template uses.")
    synonyms: list[str] = strawberry.field(
        description="Other headers read as this field. Headers are compared ignoring letter "
        "case, spaces, punctuation and anything in brackets, so `E-mail Address` and "
        "`Graduation year (YYYY)` match."
    )
    description: str = strawberry.field(description="What goes in the column.")
    example: str = strawberry.field(description="A value as it could be written.")
    in_template: bool = strawberry.field(
        description="Whether the template files have this column (false: an alternative to "
        "columns they have, such as `First name` and `Last name` for `Full name`)."
    )


@strawberry.type(description="What an import of one kind reads, and empty files to fill in.")
class ImportTemplate:
    kind: ImportKind = strawberry.field(description="The kind of import.")
    description: str = strawberry.field(description="What a row of it is.")
    fields: list[ImportTemplateField] = strawberry.field(
        description="Its columns, in the template's order."
    )
    _user_id: strawberry.Private[int]

    @strawberry.field(
        description="A link to a CSV template (UTF-8 with a byte-order mark, the header row "
        "only), valid for 15 minutes."
    )
    def csv_url(self, info: Info) -> str:
        settings = info.context.runtime.settings
        return templates.link(settings, self._user_id, str(self.kind.value), "csv")

    @strawberry.field(
        description="A link to an Excel template (the header row, each header's description "
        "and example as a note, text cells), valid for 15 minutes."
    )
    def xlsx_url(self, info: Info) -> str:
        settings = info.context.runtime.settings
        return templates.link(settings, self._user_id, str(self.kind.value), "xlsx")


def import_template(kind: ImportKind, user_id: int) -> ImportTemplate:
    name = str(kind.value)
    return ImportTemplate(
        kind=kind, description=templates.description(name),
        fields=[ImportTemplateField(
            field=f.field, required=f.required, header=f.header, synonyms=list(f.synonyms),
            description=f.description, example=f.example, in_template=f.in_template,
        ) for f in templates.fields(name)],
        _user_id=user_id,
    )  # fmt: skip


@strawberry.type
class DataQuery:
    @strawberry.field(
        description="The columns each kind of import reads (the header to use, the other "
        "headers understood, what goes in each) and template files to fill in: the kinds "
        "the viewer may import (`data:import`; gifts: `giving`; a curriculum: "
        "`academics:manage`); empty for anyone else."
    )
    def import_templates(
        self,
        info: Info,
        kind: Annotated[
            ImportKind | None, strawberry.argument(description="Only this kind (default: all).")
        ] = None,
    ) -> list[ImportTemplate]:
        viewer = info.context.viewer
        allowed = imports.kinds_for(viewer)
        if viewer.user_id is None:
            return []
        kinds = [kind] if kind is not None else list(ImportKind)
        return [import_template(k, viewer.user_id) for k in kinds if str(k.value) in allowed]

    @relay.connection(
        ImportConnection, description="Every import, newest first, of the kinds the viewer may "
        "import (`data:import`; gifts: `giving`; a curriculum: `academics:manage`).",
        max_results=1000,
    )  # fmt: skip
    def imports(self, info: Info) -> Iterable[Import]:
        query = select(ImportModel.__table__)
        kinds = imports.kinds_for(info.context.viewer)
        if not kinds:
            query = query.where(ImportModel.id < 0)
        elif len(kinds) < len(imports.KINDS):
            query = query.where(ImportModel.kind.in_(kinds))
        return KeysetQuery(query, [SortKey(ImportModel.id, descending=True)], Import.from_row,
                           info.context.reads)  # fmt: skip


@strawberry.type
class DataMutation:
    @strawberry.mutation(
        description="Upload a spreadsheet (GraphQL multipart request) and preview it (the "
        "default) or run it, as a job (`data:import`)."
    )
    async def import_upload(
        self, info: Info, input: Annotated[ImportUploadInput, arg("The file.")]
    ) -> ImportPayload:
        viewer, limit = info.context.viewer, info.context.runtime.settings.import_max_bytes
        upload: Any = input.file
        mapping = {m.column: m.field or "" for m in input.mapping or []}

        async def change(uow: Any) -> Any:
            filename, read = uploaded(upload)
            record = await imports.create(
                uow, viewer, kind=str(input.kind.value), filename=filename, read=read,
                mapping=mapping, all_or_nothing=input.all_or_nothing, dry_run=input.dry_run,
                limit=limit, invite=input.invite,
            )  # fmt: skip
            await imports.start(uow, record, dry_run=input.dry_run, force=input.force)
            return record

        return await _payload(info, change)

    @strawberry.mutation(
        description="Run (or preview again) an uploaded import, as a job. A run that stopped "
        "part way (FAILED, or RUNNING with its worker gone) goes on from the rows it recorded. "
        "`ALREADY_RUNNING` while it, or another import of the same file, is at work."
    )
    async def import_run(
        self, info: Info, input: Annotated[ImportRunInput, arg("The import.")]
    ) -> ImportPayload:
        viewer = info.context.viewer
        return await _payload(info, lambda uow: imports.run(
            uow, viewer, pk_of(input.import_id, "Import", "importId"), dry_run=input.dry_run,
            invite=input.invite, force=input.force,
        ))  # fmt: skip

    @strawberry.mutation(
        description="Undo what a completed import (or a run that stopped part way) created "
        "or changed, except rows changed since (reported in the job's result, not "
        "overwritten). `ALREADY_RUNNING` while another import of the same file is at work."
    )
    async def import_rollback(
        self, info: Info, input: Annotated[ImportRollbackInput, arg("The import.")]
    ) -> ImportPayload:
        viewer = info.context.viewer
        return await _payload(info, lambda uow: imports.request_rollback(
            uow, viewer, pk_of(input.import_id, "Import", "importId")
        ))  # fmt: skip


@strawberry.type
class DataSubscription:
    @strawberry.subscription(
        description="The import each time its progress or status changes (`data:import`; "
        "gifts: `giving`; a curriculum: `academics:manage`)."
    )
    async def import_progress(
        self,
        info: Info,
        import_id: Annotated[relay.GlobalID, strawberry.argument(description="The import.")],
    ) -> AsyncGenerator[Import, None]:
        pk = global_pk(import_id, "Import")
        if pk is None or not imports.kinds_for(info.context.viewer):
            return
        # Ended at once for an import the caller may not see (its kind, as the node).
        [visible] = await Import.resolve_nodes(info=info, node_ids=[str(pk)])
        if visible is None:
            return
        async with info.context.runtime.bus.subscription(imports.channel(pk)) as events:
            async for _ in events:
                if not await info.context.still_signed_in():
                    return
                info.context.reset_loaders()
                [found] = await Import.resolve_nodes(info=info, node_ids=[str(pk)])
                if found is None:
                    return
                yield found
                if found.status not in (ImportStatus.RUNNING, ImportStatus.UPLOADED,
                                        ImportStatus.ROLLING_BACK):  # fmt: skip
                    return


@strawberry.enum(description="What to export.")
class ExportKind(Enum):
    ROSTER = ev("roster", description="A mission's students: name, email, status, points.")
    ATTENDANCE = ev("attendance", description="A mission's attendance, day by day.")
    SUBMISSIONS = ev("submissions", description="A mission's submissions.")
    POINTS = ev("points", description="A mission's points, highest first.")
    DIRECTORY = ev("directory", description="Directory results, as you may see them.")
    ATTENDANCE_REPORT = ev(
        "attendance_report", description="`attendanceReport`'s rows (`report` says which)."
    )
    SUBMISSIONS_REPORT = ev("submissions_report", description="`submissionsReport`'s rows.")
    MENTORS_REPORT = ev("mentors_report", description="`mentorsReport`'s rows.")
    NOTICES_REPORT = ev("notices_report", description="`noticesReport`'s rows.")
    ENGAGEMENT_REPORT = ev("engagement_report", description="`engagementReport`'s rows.")
    ALUMNI_REPORT = ev("alumni_report", description="`alumniReport`'s figures.")
    LYBUNT = ev(
        "lybunt", description="`lybunt`'s donors of `year` (`giving`): a row per currency of "
        "their last year of giving, with its total.",
    )  # fmt: skip
    SYBUNT = ev("sybunt", description="`sybunt`'s donors of `year` (`giving`), as LYBUNT.")
    GIVING_PARTICIPATION = ev(
        "giving_participation",
        description="`givingParticipation`'s rows for `year` (`giving`): alumni and donors "
        "by graduation year on record.",
    )
    TOPIC_PROGRESS = ev(
        "topic_progress",
        description="`subjectProgress`'s rows for `subjectId` (and `missionId` or `batchId`, "
        "if given), as you may read them (`data:export`): one per student, by name.",
    )
    STUDENTS_BEHIND = ev(
        "students_behind",
        description="As TOPIC_PROGRESS, only the students behind the plan, most behind first.",
    )


@strawberry.enum(description="The file format.")
class ExportFormat(Enum):
    CSV = ev("csv", description="CSV (UTF-8, comma-separated, a header row).")
    XLSX = ev("xlsx", description="Excel, with a header row and typed columns.")
    JSONL = ev("jsonl", description="JSON Lines: one object per row.")


@strawberry.input(description="Which report to export (the `…_REPORT` kinds), as its query "
                  "takes it: the file holds the query's rows, as you may read them.")  # fmt: skip
class ReportExportInput:
    start: date | None = strawberry.field(
        default=None, name="from", description="The first day. Default: 27 days before `to`."
    )
    end: date | None = strawberry.field(
        default=None, name="to", description="The last day (within five years). Default: today."
    )
    filter: ReportFilter | None = strawberry.field(
        default=None, description="One mission or batch (programme reports)."
    )
    group_by: str | None = strawberry.field(
        default=None,
        description="How rows are grouped, as the report query's `groupBy` (or "
        "`engagementReport`'s `interval`) says it: `WEEK`, `STUDENT` …; default: the "
        "query's.",
    )


@strawberry.input(description="An export to make, narrowed by the same filters as the list "
                  "it mirrors.")  # fmt: skip
class ExportCreateInput:
    kind: ExportKind = strawberry.field(description="What.")
    format: ExportFormat = strawberry.field(description="Which file format.")
    mission_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The mission (all kinds but DIRECTORY)."
    )
    enrollments: EnrollmentFilter | None = strawberry.field(
        default=None, description="ROSTER and POINTS: as `Mission.enrollments(filter:)`."
    )
    attendance: AttendanceFilter | None = strawberry.field(
        default=None, description="ATTENDANCE: as `Mission.attendance(filter:)`."
    )
    assignment_id: relay.GlobalID | None = strawberry.field(
        default=None, description="SUBMISSIONS: only this assignment's (default: every one)."
    )
    query: str | None = strawberry.field(
        default=None, description="DIRECTORY: as `directory(query:)`."
    )
    directory: DirectoryFilter | None = strawberry.field(
        default=None, description="DIRECTORY: as `directory(filter:)`."
    )
    report: ReportExportInput | None = strawberry.field(
        default=None, description="The `…_REPORT` kinds: the range and filters of the report."
    )
    year: int | None = strawberry.field(
        default=None,
        description="LYBUNT, SYBUNT and GIVING_PARTICIPATION: the calendar year (default: "
        "this year, UTC).",
    )
    subject_id: relay.GlobalID | None = strawberry.field(
        default=None, description="TOPIC_PROGRESS and STUDENTS_BEHIND: the `Subject`."
    )
    batch_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="TOPIC_PROGRESS and STUDENTS_BEHIND: the `Batch` (or give `missionId`).",
    )


@strawberry.type(description="The job making the export; its result names the file.")
class ExportPayload:
    job: Job | None = strawberry.field(description="Follow it with `jobUpdated`.")
    user_errors: list[ExportError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="A file you exported.")
class ExportFile(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="The file's name (as `Import.name`).")
    size: int = strawberry.field(description="Bytes.")
    created_at: datetime = strawberry.field(description="Made (UTC).")
    expires_at: datetime | None = strawberry.field(description="Deleted after (UTC).")

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        mine = StoredFile.owner_id == (info.context.viewer.user_id or -1)
        found = await readable_rows(info, StoredFile.__table__, ids, mine)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.id, name=row.name, size=row.size, created_at=row.created_at,
                   expires_at=row.expires_at)  # fmt: skip

    @strawberry.field(description="A link to download it, valid for 15 minutes.")
    def download_url(self, info: Info) -> str:
        return files.download_url(
            info.context.runtime.settings, info.context.viewer.user_id or 0, self.id
        )


async def _files_by_id(reads: Any, ids: list[int]) -> list[Any]:
    return await by_id(reads, [StoredFile.__table__], StoredFile.id, ids)


async def produced_file(info: Info, result: Any) -> ExportFile | None:
    """The file a job produced (its result's `fileId`), for the person it belongs to."""
    file_id = result.get("fileId") if isinstance(result, dict) else None
    if not isinstance(file_id, int):
        return None
    row = await reads_loader(info, ("objects", "stored_file"), _files_by_id).load(file_id)
    if row is None or row.owner_id is None or row.owner_id != info.context.viewer.user_id:
        return None
    if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
        return None
    return ExportFile.from_row(row)


def export_request(given: ExportCreateInput) -> exports.ExportRequest:
    """The domain's request from the input; ids that name nothing match nothing."""
    enrollments, attendance = given.enrollments, given.attendance
    student = attendance.student_id if attendance is not None else None
    kind = str(given.kind.value)
    if kind in exports.REPORT_KINDS:
        report = given.report or ReportExportInput()
        chosen = report.filter or ReportFilter()
        filters: dict[str, Any] = {
            "mission_id": optional_pk(chosen.mission_id, "Mission"),
            "batch_id": optional_pk(chosen.batch_id, "Batch"),
        }
        if report.group_by is not None:
            filters["group_by"] = report.group_by.strip().lower()
        if kind in ("engagement_report", "alumni_report"):
            filters = {k: v for k, v in filters.items() if k == "group_by"}
        return exports.ExportRequest(
            kind=kind, format=str(given.format.value), since=report.start,
            until=report.end, filters=filters,
        )  # fmt: skip
    return exports.ExportRequest(
        kind=str(given.kind.value), format=str(given.format.value),
        mission_id=optional_pk(given.mission_id, "Mission"),
        statuses=tuple(str(s.value) for s in enrollments.status or ()) if enrollments else (),
        search=enrollments.search if enrollments else None,
        day=attendance.day if attendance else None,
        since=attendance.from_ if attendance else None,
        until=attendance.to if attendance else None,
        student_id=optional_pk(student, "User"),
        assignment_id=optional_pk(given.assignment_id, "Assignment"),
        query=given.query, directory=directory_filter(given.directory), year=given.year,
        subject_id=optional_pk(given.subject_id, "Subject"),
        batch_id=optional_pk(given.batch_id, "Batch"),
    )  # fmt: skip


@strawberry.type(description="Your files, a page at a time.")
class ExportFileConnection(CountedConnection[ExportFile]):
    pass


@strawberry.enum(description="What the `exports` list can be sorted by.")
class ExportFileOrderField(Enum):
    CREATED_AT = ev("created_at", description="When it was made.")
    EXPIRES_AT = ev("expires_at", description="When it is deleted.")
    NAME = ev("name", description="File name.")
    SIZE = ev("size", description="Size in bytes.")


@strawberry.input(description="How to sort your files; ties are broken by the newest first.")
class ExportFileOrder:
    field: ExportFileOrderField = strawberry.field(
        default=ExportFileOrderField.CREATED_AT, description="The key to sort by."
    )
    direction: SortDirection = strawberry.field(
        default=SortDirection.DESC, description="Ascending or descending."
    )


@strawberry.type
class ExportQuery:
    @relay.connection(
        ExportFileConnection,
        description="Your files not yet expired (exports, bulk query results, personal-data "
        "exports), newest first by default.",
        max_results=MAX_PAGE,
    )
    def exports(
        self,
        info: Info,
        order_by: Annotated[
            ExportFileOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[ExportFile]:
        me = info.context.viewer.user_id or -1
        query = select(StoredFile.__table__).where(
            StoredFile.owner_id == me, StoredFile.expires_at.is_not(None),
            StoredFile.expires_at > func.now(),
        )  # fmt: skip
        order = order_by or ExportFileOrder()
        descending = order.direction == SortDirection.DESC
        column = {
            ExportFileOrderField.CREATED_AT: StoredFile.created_at,
            ExportFileOrderField.EXPIRES_AT: StoredFile.expires_at,
            ExportFileOrderField.NAME: StoredFile.name,
            ExportFileOrderField.SIZE: StoredFile.size,
        }[order.field]
        sort = [SortKey(column, descending), SortKey(StoredFile.id, descending=True)]
        return KeysetQuery(query, sort, ExportFile.from_row, info.context.reads)


async def export_requested(info: Info, wanted: exports.ExportRequest) -> ExportPayload:
    """Queue an export for the viewer (every export mutation): its job, or why not."""
    viewer = info.context.viewer
    found, problems = await run_in_transaction(
        info, lambda uow: exports.request(uow, viewer, wanted)
    )
    return ExportPayload(
        job=await job_node(info, found),
        user_errors=user_errors(ExportError, ExportErrorCode, problems),
    )


@strawberry.type
class ExportMutation:
    @strawberry.mutation(
        description="Export a mission's roster, attendance, submissions or points "
        "(`data:export`), directory results (anyone, as they may see them), or a report (who "
        "may read it, as they may read it), as a job."
    )
    async def export_create(
        self, info: Info, input: Annotated[ExportCreateInput, arg("The export.")]
    ) -> ExportPayload:
        return await export_requested(info, export_request(input))
