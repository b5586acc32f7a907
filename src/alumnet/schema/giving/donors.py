"""Giving: donors (people with an account, or outside donors), their giving summary, and the
giving levels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import ColumnElement, select
from strawberry import relay

from alumnet.domain.giving import levels as level_rules
from alumnet.domain.giving import reports
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.persistence.models import Donor as DonorModel
from alumnet.persistence.models import GivingLevel as LevelModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.giving.types import Money
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import global_pk, int_ids, readable_rows, visible_user
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader
from alumnet.schema.permissions import requires

if TYPE_CHECKING:
    from alumnet.schema.giving.gifts import Gift, GiftConnection
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
IDENTITY = "alumnet.schema.identity.types"
GIFTS = "alumnet.schema.giving.gifts"
SEARCH_MAX = 200


def base_currency(info: Info) -> str:
    """The currency giving is reported in unless another is asked (ALUMNET_GIVING_CURRENCY)."""
    return str(info.context.runtime.settings.giving_currency)


def readable(viewer: Viewer) -> ColumnElement[bool] | None:
    """SQL: the donors the viewer may read (None: every one): giving staff all, anyone else
    their own."""
    if viewer.can(Permission.GIVING):
        return None
    return DonorModel.user_id == (viewer.user_id or -1)


# -- giving levels ----------------------------------------------------------------------------


@strawberry.type(
    description='A giving level (e.g. "Founders\' Circle"): donors whose confirmed giving in '
    "a calendar year, in the level's currency, reaches its minimum."
)
class GivingLevel(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Its name, unique.")
    minimum_yearly: Money = strawberry.field(
        description="The least a donor gives in a calendar year, in the level's currency, to "
        "reach it."
    )

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.id, name=row.name,
                   minimum_yearly=Money.of(row.min_yearly_minor, row.currency))  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        found = await readable_rows(info, LevelModel.__table__, ids)
        return [cls.from_row(found[i]) if i in found else None for i in ids]


async def _all_levels(reads: Any, keys: Sequence[int]) -> list[list[Any]]:
    async with reads.connect() as conn:
        rows = list((await conn.execute(select(LevelModel.__table__))).all())
    return [rows for _ in keys]


async def all_levels(info: Info) -> list[Any]:
    """Every giving level (at most LEVELS_MAX), read once per request."""
    return await reads_loader(info, ("giving", "levels"), _all_levels).load(0)  # type: ignore[no-any-return]


# -- donors -----------------------------------------------------------------------------------


@strawberry.enum(description="Who a donor is.")
class DonorKind(Enum):
    PERSON = ev("person", description="A person with an account (see `user`).")
    OUTSIDE = ev("outside", description="An outside donor known by name and e-mail address.")


@strawberry.type(description="A donor's confirmed giving in one calendar year and currency.")
class DonorYearTotal:
    year: int = strawberry.field(description="The calendar year.")
    total: Money = strawberry.field(
        description="Gifts of that year less their refunds (a refund counts in its gift's year)."
    )
    gifts: int = strawberry.field(description="How many gifts (refunds not counted).")


@strawberry.type(description="A donor's giving, from their confirmed gifts less refunds.")
class DonorSummary:
    first_gift_on: date | None = strawberry.field(description="The day of their first gift.")
    last_gift_on: date | None = strawberry.field(description="The day of their latest gift.")
    lifetime: list[Money] = strawberry.field(
        description="All their giving, one amount per currency: the institution's reporting "
        "currency first, then by code."
    )
    gift_count: int = strawberry.field(description="How many gifts (refunds not counted).")
    consecutive_years: int = strawberry.field(
        description="Calendar years in a row with a positive total, ending this year or last "
        "year (0 if they gave in neither)."
    )
    years: list[DonorYearTotal] = strawberry.field(
        description="Their totals by calendar year (newest first) and currency."
    )
    _summary: strawberry.Private[reports.Summary]
    _year: strawberry.Private[int]

    @strawberry.field(
        description="Their giving level in a calendar year (this year, UTC, by default): the "
        "highest whose minimum their total in its currency reaches; null if none."
    )
    async def level(
        self,
        info: Info,
        year: Annotated[
            int | None, strawberry.argument(description="The year (default: this year).")
        ] = None,
    ) -> GivingLevel | None:
        totals = self._summary.totals_in(year if year is not None else self._year)
        found = level_rules.level_of(await all_levels(info), totals)
        return GivingLevel.from_row(found) if found is not None else None

    @strawberry.field(
        description="Their largest confirmed gift (before refunds): in the reporting "
        "currency if they gave in it, else in any."
    )
    async def largest_gift(self, info: Info) -> Annotated[Gift, strawberry.lazy(GIFTS)] | None:
        gift_id = self._summary.largest_gift_id
        if gift_id is None:
            return None

        async def load(reads: Any, ids: Sequence[int]) -> list[Any]:
            from alumnet.schema.giving.gifts import Gift as GiftNode

            return await GiftNode.resolve_nodes(info=info, node_ids=[str(i) for i in ids])

        return await reads_loader(info, ("giving", "donor_gift"), load).load(gift_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The calendar year `level` uses by default (this year, UTC).")
    def level_year(self) -> int:
        return self._year


async def _summaries(base: str, reads: Any, ids: Sequence[int]) -> list[reports.Summary]:
    async with reads.connect() as conn:
        return await reports.summaries(conn, ids, base)


def summary_of(found: reports.Summary, base: str) -> DonorSummary:
    return DonorSummary(
        first_gift_on=found.first_gift_on, last_gift_on=found.last_gift_on,
        lifetime=[Money.of(minor, currency) for currency, minor in found.lifetime(base)],
        gift_count=found.gift_count,
        consecutive_years=found.consecutive_years(reports.this_year()),
        years=[DonorYearTotal(year=y.year, total=Money.of(y.total_minor, y.currency),
                              gifts=y.gift_count) for y in found.years],
        _summary=found, _year=reports.this_year(),
    )  # fmt: skip


@strawberry.type(
    description="Someone who gives: a person with an account, or an outside donor. Giving "
    "staff (`giving`) see every donor; anyone else only themselves."
)
class Donor(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="The donor's name, as first recorded.")
    kind: DonorKind = strawberry.field(description="A person with an account, or outside.")
    _row: strawberry.Private[Any]
    # The year a LYBUNT or SYBUNT list is for: `lastGiving` looks before it by default.
    _before: strawberry.Private[int | None] = None

    @classmethod
    def from_row(cls, row: Any, before: int | None = None) -> Self:
        kind = DonorKind.PERSON if row.user_id is not None else DonorKind.OUTSIDE
        return cls(id=row.id, name=row.name, kind=kind, _row=row, _before=before)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        condition = readable(info.context.viewer)
        found = await readable_rows(info, DonorModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Their e-mail address: for giving staff only; null for others.")
    def email(self, info: Info) -> str | None:
        return self._row.email if info.context.viewer.can(Permission.GIVING) else None

    @strawberry.field(description="The person, if they have an account (and you may see them).")
    async def user(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.user_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="Their giving: first and last gift, lifetime, largest gift, consecutive "
        "years, level and yearly totals."
    )
    async def summary(self, info: Info) -> DonorSummary:
        base = base_currency(info)

        async def load(reads: Any, ids: Sequence[int]) -> list[reports.Summary]:
            return await _summaries(base, reads, ids)

        found = await reads_loader(info, ("giving", "donor_summary"), load).load(self.id)
        return summary_of(found, base)

    @relay.connection(
        Annotated["GiftConnection", strawberry.lazy(GIFTS)],
        description="Their gifts and refunds, newest first (pending and declined ones too).",
        max_results=1000,
    )
    def gifts(self, info: Info) -> Iterable[Annotated[Gift, strawberry.lazy(GIFTS)]]:
        from alumnet.domain.giving import gifts as gift_rules
        from alumnet.persistence.models import Gift as GiftModel
        from alumnet.schema.giving.gifts import Gift as GiftNode

        g = GiftModel
        query = select(g.__table__)
        condition = gift_rules.readable(info.context.viewer)
        if condition is not None:
            query = query.where(condition)
        sort = [SortKey(g.gift_date, descending=True), SortKey(g.id, descending=True)]
        return KeysetQuery(
            query, sort, GiftNode.from_row, info.context.reads,
            partition=(g.donor_id, self.id), batch_key=("giving", "donor_gifts"),
        )  # fmt: skip

    @strawberry.field(
        description="The last calendar year they gave (a positive total) before `before`, "
        "and that year's totals. By default: in a `lybunt` or `sybunt` list, before the "
        "list's year; elsewhere, their latest year."
    )
    async def last_giving(
        self,
        info: Info,
        before: Annotated[
            int | None, strawberry.argument(description="Look at the years before this one.")
        ] = None,
    ) -> DonorLastGiving:
        until = before if before is not None else self._before
        if until is None:
            until = reports.this_year() + 2
        base = base_currency(info)

        async def load(reads: Any, ids: Sequence[int]) -> list[reports.LastYear]:
            async with reads.connect() as conn:
                return await reports.last_years(conn, until, ids, base)

        found = await reads_loader(info, ("giving", "last_years", until), load).load(self.id)
        return DonorLastGiving(
            year=found.year, total=[Money.of(minor, cur) for cur, minor in found.totals]
        )


@strawberry.type(description="A donor's last year of giving, and what they gave in it.")
class DonorLastGiving:
    year: int | None = strawberry.field(description="The calendar year; null if none.")
    total: list[Money] = strawberry.field(
        description="That year's totals, one per currency (the reporting currency first)."
    )


@strawberry.type(description="Donors, a page at a time.")
class DonorConnection(CountedConnection[Donor]):
    pass


@strawberry.input(description="Which donors to list.")
class DonorFilter:
    search: str | None = strawberry.field(
        default=None, description="Part of the name or e-mail address (any case)."
    )
    level_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="Only donors whose total this calendar year (UTC), in the level's "
        "currency, reaches its minimum (those of higher levels too).",
    )


@strawberry.type
class DonorQuery:
    @relay.connection(
        DonorConnection,
        description="Donors by name (`giving`).",
        max_results=1000,
        extensions=requires(Permission.GIVING),
    )
    async def donors(
        self,
        info: Info,
        filter: Annotated[
            DonorFilter | None, strawberry.argument(description="Which donors.")
        ] = None,
    ) -> Iterable[Donor]:
        query = select(DonorModel.__table__)
        given = filter or DonorFilter()
        if given.search and given.search.strip():
            query = query.where(reports.donor_search(given.search[:SEARCH_MAX]))
        if given.level_id is not None:
            pk = global_pk(given.level_id, "GivingLevel") or -1
            async with info.context.reads.connect() as conn:
                level = (
                    await conn.execute(select(LevelModel.__table__).where(LevelModel.id == pk))
                ).first()
            if level is None:
                query = query.where(DonorModel.id.is_(None))
            else:
                query = query.where(reports.at_level(level, reports.this_year()))
        sort = [SortKey(DonorModel.name), SortKey(DonorModel.id)]
        return KeysetQuery(query, sort, Donor.from_row, info.context.reads)

    @strawberry.field(
        description="Your own giving, as a donor (signed in): null if you have never given.",
        extensions=requires(),
    )
    async def my_giving(self, info: Info) -> Donor | None:
        me = info.context.viewer.user_id or -1
        async with info.context.reads.connect() as conn:
            row = (
                await conn.execute(select(DonorModel.__table__).where(DonorModel.user_id == me))
            ).first()
        return Donor.from_row(row) if row is not None else None

    @strawberry.field(
        description="The giving levels (signed in), highest minimum first within each currency.",
        extensions=requires(),
    )
    async def giving_levels(self, info: Info) -> list[GivingLevel]:
        rows = sorted(await all_levels(info),
                      key=lambda r: (r.currency, -r.min_yearly_minor, r.name))  # fmt: skip
        return [GivingLevel.from_row(r) for r in rows]


# -- mutations --------------------------------------------------------------------------------


@strawberry.enum(description="Why a giving level mutation failed.")
class GivingLevelErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such giving level.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="The name is longer than 100 characters.")
    DUPLICATE = ev("DUPLICATE", description="Another giving level has this name.")
    UNKNOWN_CURRENCY = ev("UNKNOWN_CURRENCY", description="Not an ISO 4217 currency code.")
    INVALID_AMOUNT = ev(
        "INVALID_AMOUNT",
        description="The minimum is not more than zero, or has more decimal places than "
        "the currency.",
    )
    TOO_MANY = ev("TOO_MANY", description="There are 100 giving levels already.")
    CONFLICT = ev("CONFLICT", description="Someone changed it at the same time; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a giving level mutation's input.")
class GivingLevelError(UserError):
    code: GivingLevelErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A giving level to create (no `id`) or change.")
class GivingLevelSaveInput:
    id: relay.GlobalID | None = strawberry.field(
        default=None, description="The level to change; none to create one."
    )
    name: str = strawberry.field(description="Its name (unique, at most 100 characters).")
    currency: str = strawberry.field(description="Its currency (ISO 4217 code).")
    minimum_yearly: Decimal = strawberry.field(
        description="The least given in a calendar year to reach it, in major units (more "
        "than zero, exact in the currency)."
    )


@strawberry.input(description="The giving level to delete.")
class GivingLevelDeleteInput:
    id: relay.GlobalID = strawberry.field(description="The level.")


@strawberry.type(description="The giving level, or why there is none.")
class GivingLevelPayload:
    level: GivingLevel | None = strawberry.field(description="The level as saved.")
    user_errors: list[GivingLevelError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="What was deleted, or why nothing was.")
class GivingLevelDeletePayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        description="The id the level had; null if nothing was deleted."
    )
    user_errors: list[GivingLevelError] = strawberry.field(description="Empty on success.")


@strawberry.type
class DonorMutation:
    @strawberry.mutation(
        description="Create or change a giving level (`giving`).",
        extensions=requires(Permission.GIVING),
    )
    async def giving_level_save(
        self, info: Info, input: Annotated[GivingLevelSaveInput, arg("The level.")]
    ) -> GivingLevelPayload:
        viewer = info.context.viewer

        async def change(uow: Any) -> Any:
            pk = None if input.id is None else pk_of(input.id, "GivingLevel", "id")
            given = level_rules.LevelFields(
                id=pk, name=input.name, currency=input.currency,
                minimum_yearly=input.minimum_yearly,
            )  # fmt: skip
            return await level_rules.save(uow, viewer, given)

        found, problems = await run_in_transaction(info, change)
        return GivingLevelPayload(
            level=GivingLevel.from_row(found) if found is not None else None,
            user_errors=user_errors(GivingLevelError, GivingLevelErrorCode, problems),
        )

    @strawberry.mutation(
        description="Delete a giving level (`giving`).", extensions=requires(Permission.GIVING)
    )
    async def giving_level_delete(
        self, info: Info, input: Annotated[GivingLevelDeleteInput, arg("The level.")]
    ) -> GivingLevelDeletePayload:
        viewer = info.context.viewer
        gone, problems = await run_in_transaction(
            info,
            lambda uow: level_rules.remove(uow, viewer, pk_of(input.id, "GivingLevel", "id")),
        )
        return GivingLevelDeletePayload(
            deleted_id=strawberry.ID(str(input.id)) if gone is not None else None,
            user_errors=user_errors(GivingLevelError, GivingLevelErrorCode, problems),
        )
