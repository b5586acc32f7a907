"""Mentor offers: what an alumnus (or staff) offers to mentor, for whom, how many at once
and when; pausing and resuming; and the offers a person may see and search."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, delete, false, func, insert, or_, select

from alumnet.domain.careers.postings import skills_named
from alumnet.domain.errors import DomainError, Problems, check_label
from alumnet.domain.events.catalogue import zone_of
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.persistence.models import MentorOffer, MentorOfferSkill, Skill, User
from alumnet.persistence.uow import UnitOfWork

OFFER_KINDS = ("career_advice", "cv_review", "mock_interviews", "networking",
               "entrepreneurship", "further_study")  # fmt: skip
MENTEES = ("students", "alumni", "both")
CAPACITY_MAX = 50
LIST_MAX = 10
WINDOWS_MAX = 21
LABEL_MAX = 100
LANGUAGE = re.compile(r"[a-z]{2}")
CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def mentee_kind(viewer: Viewer) -> tuple[str, ...]:
    """The offers' ``preferred_mentee`` values that take this viewer."""
    found = ["both"]
    if Role.STUDENT in viewer.roles:
        found.append("students")
    if Role.ALUMNUS in viewer.roles:
        found.append("alumni")
    return tuple(found)


def may_be_mentored(viewer: Viewer) -> bool:
    return bool(viewer.roles & {Role.STUDENT, Role.ALUMNUS})


def listed(viewer: Viewer) -> ColumnElement[bool]:
    """SQL: the offers the viewer may see: their own, every one for staff who manage
    mentorship, and for anyone else signed in those of active people not paused."""
    if not viewer.is_authenticated:
        return false()
    if viewer.can(Permission.MENTORSHIP_MANAGE):
        return MentorOffer.user_id.is_not(None)
    active = select(User.id).where(User.status == "active")
    return or_(
        MentorOffer.user_id == viewer.user_id,
        and_(MentorOffer.paused.is_(False), MentorOffer.user_id.in_(active)),
    )


def has_room() -> ColumnElement[bool]:
    return MentorOffer.active_mentees < MentorOffer.capacity


@dataclass(frozen=True)
class Window:
    weekday: int  # Monday 0 … Sunday 6
    start: str  # "HH:MM", in the offer's time zone
    end: str


@dataclass(frozen=True)
class OfferFields:
    """An offer as given; None leaves a field as it is (on a change)."""

    headline: str | None = None
    topics: tuple[str, ...] | None = None
    offers: tuple[str, ...] | None = None
    industries: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None
    availability: tuple[Window, ...] | None = None
    time_zone: str | None = None
    capacity: int | None = None
    preferred_mentee: str | None = None
    paused: bool | None = None


def _labels(problems: Problems, values: tuple[str, ...], field: str) -> list[str]:
    if len(values) > LIST_MAX:
        problems.add("TOO_MANY", f"At most {LIST_MAX}.", field)
        return []
    found = [check_label(problems, v, field=(field, str(i)), max_length=LABEL_MAX, min_length=1,
                         label="A value") for i, v in enumerate(values)]  # fmt: skip
    return list(dict.fromkeys(found))


def _checked(problems: Problems, given: OfferFields, current: MentorOffer | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if current is None:
        for name, field in (("time_zone", "timeZone"), ("capacity", "capacity"),
                            ("preferred_mentee", "preferredMentee")):  # fmt: skip
            if getattr(given, name) is None:
                problems.add("REQUIRED", f"Give the offer's {field}.", field)
    if given.headline is not None:
        values["headline"] = check_label(problems, given.headline, field="headline",
                                         max_length=200, label="The headline") or None  # fmt: skip
    if given.offers is not None:
        unknown = [o for o in given.offers if o not in OFFER_KINDS]
        if unknown:
            problems.add("INVALID", "Unknown kind of help.", "offers")
        values["offers"] = list(dict.fromkeys(given.offers))
    if given.industries is not None:
        values["industries"] = _labels(problems, given.industries, "industries")
    if given.languages is not None:
        languages = [v.strip().lower() for v in given.languages]
        if len(languages) > LIST_MAX or not all(LANGUAGE.fullmatch(v) for v in languages):
            problems.add("INVALID", "Languages are ISO 639-1 codes (en, fr, sw), 10 at most.",
                         "languages")  # fmt: skip
        values["languages"] = list(dict.fromkeys(languages))
    if given.time_zone is not None:
        if zone_of(given.time_zone) is None:
            problems.add("INVALID_TIME_ZONE", "Unknown time zone; use an IANA name such as "
                         "Africa/Accra.", "timeZone")  # fmt: skip
        values["time_zone"] = given.time_zone
    if given.availability is not None:
        values["availability"] = _windows(problems, given.availability)
    if given.capacity is not None:
        if not 1 <= given.capacity <= CAPACITY_MAX:
            problems.add("OUT_OF_RANGE", f"A capacity is 1 to {CAPACITY_MAX} mentees at once.",
                         "capacity")  # fmt: skip
        values["capacity"] = given.capacity
    if given.preferred_mentee is not None:
        if given.preferred_mentee not in MENTEES:
            problems.add("INVALID", "Unknown kind of mentee.", "preferredMentee")
        values["preferred_mentee"] = given.preferred_mentee
    if given.paused is not None:
        values["paused"] = given.paused
    return values


def _windows(problems: Problems, given: tuple[Window, ...]) -> list[dict[str, Any]]:
    if len(given) > WINDOWS_MAX:
        problems.add("TOO_MANY", f"At most {WINDOWS_MAX} windows.", "availability")
        return []
    found = []
    for i, w in enumerate(given):
        where = ("availability", str(i))
        if not 0 <= w.weekday <= 6:
            problems.add("INVALID", "A weekday is 0 (Monday) to 6 (Sunday).", where)
        elif not (CLOCK.fullmatch(w.start) and CLOCK.fullmatch(w.end)) or w.start >= w.end:
            problems.add("INVALID", "A window is two times HH:MM, the start first.", where)
        else:
            found.append({"weekday": w.weekday, "start": w.start, "end": w.end})
    return found


async def set_offer(uow: UnitOfWork, viewer: Viewer, given: OfferFields) -> MentorOffer:
    """Make or change the viewer's offer to mentor (``mentorship:offer``)."""
    me = viewer.require(Permission.MENTORSHIP_OFFER)
    current = await uow.session.get(MentorOffer, me, with_for_update=True)
    problems = Problems()
    values = _checked(problems, given, current)
    skills = await skills_named(uow, problems, given.topics or (), "topics")
    problems.raise_if_any()
    now = datetime.now(UTC)
    if current is None:
        current = MentorOffer(user_id=me, created_at=now, offers=[], industries=[],
                              languages=[], availability=[], topics_text="")  # fmt: skip
        uow.session.add(current)
    for name, value in values.items():
        setattr(current, name, value)
    current.tags = tags_of(current)
    current.zone_fit = zone_fit(current.availability or [], current.time_zone)
    current.updated_at = now
    await uow.session.flush()
    if given.topics is not None:
        await uow.session.execute(delete(MentorOfferSkill).where(MentorOfferSkill.user_id == me))
        if skills:
            await uow.session.execute(
                insert(MentorOfferSkill), [{"user_id": me, "skill_id": s} for s, _ in skills]
            )
        current.topics_text = " ".join(name for _, name in skills)
        await uow.session.flush()
    audit.record(uow, "mentor_offer.set", object_type="User", object_ids=[me],
                 details={"fields": sorted(values)})  # fmt: skip
    return current


OFFSETS = 53  # UTC-12:00 to UTC+14:00, in half hours


def offset_index(zone: ZoneInfo, at: datetime | None = None) -> int:
    """The position of a zone's UTC offset (now) in ``zone_fit``."""
    offset = (at or datetime.now(UTC)).astimezone(zone).utcoffset() or timedelta(0)
    return max(0, min(OFFSETS - 1, round(offset.total_seconds() / 1800) + 24))


def zone_fit(availability: list[dict[str, Any]], zone_name: str) -> str:
    """For each UTC offset (half hours from -12:00), the share (in 999ths) of the windows' time
    that falls between 08:00 and 22:00 at that offset: 53 numbers of three digits."""
    text = json.dumps(availability or [], sort_keys=True)
    found = []
    for index in range(OFFSETS):
        minutes = (index - 24) * 30
        found.append(f"{round(999 * _fit_at(text, zone_name, minutes)):03d}")
    return "".join(found)


@lru_cache(maxsize=4096)
def _fit_at(availability: str, zone_name: str, offset_minutes: int) -> float:
    zone = zone_of(zone_name) or ZoneInfo("UTC")
    monday = datetime(2024, 1, 1)
    shift = timedelta(minutes=offset_minutes)
    total = inside = 0
    for w in json.loads(availability):
        start = datetime.combine(monday + timedelta(days=int(w["weekday"])),
                                 time.fromisoformat(w["start"]), zone)  # fmt: skip
        end = datetime.combine(start.date(), time.fromisoformat(w["end"]), zone)
        step = start
        while step < end:
            local = step.astimezone(UTC) + shift
            total += 1
            inside += 8 <= local.hour < 22
            step += timedelta(minutes=30)
    return inside / total if total else 0.0


def tag(kind: str, value: str) -> str:
    return f",{kind}:{' '.join(value.split()).lower()},"


def tags_of(offer: MentorOffer) -> str:
    """The offer's lists as one text to filter on (``tag``)."""
    found = [f"offer:{v}" for v in offer.offers or []]
    found += [f"industry:{' '.join(v.split()).lower()}" for v in offer.industries or []]
    found += [f"language:{v}" for v in offer.languages or []]
    return ("," + ",".join(found) + ",") if found else ""


async def offer_of(uow: UnitOfWork, mentor_id: int, *, lock: bool = False) -> MentorOffer | None:
    query = select(MentorOffer).where(MentorOffer.user_id == mentor_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await uow.session.execute(query)).scalar_one_or_none()


def topics_of(user_ids: list[int]) -> Any:
    """(user id, skill name) of these offers' topics."""
    return (
        select(MentorOfferSkill.user_id, Skill.name)
        .join(Skill, Skill.id == MentorOfferSkill.skill_id)
        .where(MentorOfferSkill.user_id.in_(user_ids))
        .order_by(MentorOfferSkill.user_id, Skill.name)
    )


def search_words(query: str | None) -> list[str]:
    return " ".join((query or "").split()).lower()[:200].split()[:8]


def matching(words: list[str]) -> list[ColumnElement[bool]]:
    """SQL: each word in the mentor's name, headline, topics or industries."""
    return [
        or_(
            func.lower(User.name).contains(w, autoescape=True),
            func.lower(func.coalesce(MentorOffer.headline, "")).contains(w, autoescape=True),
            func.lower(MentorOffer.topics_text).contains(w, autoescape=True),
        )
        for w in words
    ]


def require_offer(found: MentorOffer | None) -> MentorOffer:
    if found is None:
        raise DomainError.of("NOT_FOUND", "No such mentor.", "mentorId")
    return found
