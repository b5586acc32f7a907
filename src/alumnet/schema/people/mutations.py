"""People mutations: profiles, degrees and verification, follows and views, duplicates and
merging, and one's own data."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from alumnet.domain.people import degrees, duplicates, merge, personal_data, profiles, social
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.identity.mutations import UserAdminError, UserAdminErrorCode
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import visible_user
from alumnet.schema.ops.types import Job, job_node
from alumnet.schema.people.types import (
    DuplicateCandidate,
    LinkKind,
    Proficiency,
    Profile,
    Programme,
    Visibility,
)

if TYPE_CHECKING:
    from alumnet.schema.careers.types import RemoteMode
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
UNSET: Any = strawberry.UNSET


@strawberry.enum(description="Why a people mutation failed.")
class ProfileErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such person, profile, programme or degree.")
    TAKEN = ev("TAKEN", description="Someone else has this student number (or code).")
    BEFORE_BIRTH = ev("BEFORE_BIRTH", description="A year falls before the person's birth.")
    OUT_OF_RANGE = ev("OUT_OF_RANGE", description="Outside the programme's graduation years.")
    INVALID_URL = ev("INVALID_URL", description="Not a web address of the right kind.")
    ALREADY_VERIFIED = ev("ALREADY_VERIFIED", description="It is verified already.")
    INCOMPLETE = ev("INCOMPLETE", description="Something needed first is missing.")
    WRONG_PASSWORD = ev("WRONG_PASSWORD", description="The password is not right.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    TOO_MANY = ev("TOO_MANY", description="Too many items in a list.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a people mutation's input.")
class ProfileError(UserError):
    code: ProfileErrorCode = strawberry.field(description=CODE_DESCRIPTION)


def _errors(problems: list[Any]) -> list[ProfileError]:
    return user_errors(ProfileError, ProfileErrorCode, problems)


@strawberry.input(description="A position held.")
class PositionInput:
    company: str = strawberry.field(description="Employer.")
    title: str = strawberry.field(description="Job title.")
    started_on: date = strawberry.field(description="Start date.")
    ended_on: date | None = strawberry.field(default=None, description="End; omit if current.")


@strawberry.input(description="A skill.")
class SkillInput:
    name: str = strawberry.field(description="The skill (at most 64 characters).")
    proficiency: Proficiency = strawberry.field(
        default=Proficiency.INTERMEDIATE, description="How well."
    )


@strawberry.input(description="An achievement.")
class AchievementInput:
    title: str = strawberry.field(description="What.")
    description: str | None = strawberry.field(default=None, description="More about it.")
    year: int | None = strawberry.field(default=None, description="When.")


@strawberry.input(description="A link elsewhere.")
class SocialLinkInput:
    kind: LinkKind = strawberry.field(description="What it is.")
    url: str = strawberry.field(description="An http:// or https:// address.")


@strawberry.input(description="Who may see each group; omitted groups stay as they are.")
class PrivacyInput:
    contact: Visibility | None = strawberry.field(default=None, description="Contact group.")
    work: Visibility | None = strawberry.field(default=None, description="Work group.")
    education: Visibility | None = strawberry.field(default=None, description="Education.")
    location: Visibility | None = strawberry.field(default=None, description="Location group.")


@strawberry.input(
    description="Changes to a profile. Omitted fields stay; null clears a field; a list "
    "given replaces the whole list."
)
class ProfileUpdateInput:
    user_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Whose profile (user managers); omit for your own."
    )
    headline: str | None = strawberry.field(default=UNSET, description="At most 200 characters.")
    bio: str | None = strawberry.field(default=UNSET, description="At most 5,000 characters.")
    photo_url: str | None = strawberry.field(default=UNSET, description="An https:// address.")
    city: str | None = strawberry.field(default=UNSET, description="City.")
    country: str | None = strawberry.field(default=UNSET, description="ISO 3166-1 alpha-2.")
    job_title: str | None = strawberry.field(default=UNSET, description="Current job title.")
    company: str | None = strawberry.field(default=UNSET, description="Current employer.")
    date_of_birth: date | None = strawberry.field(
        default=UNSET, description="Never shown to others (staff aside)."
    )
    programme_id: relay.GlobalID | None = strawberry.field(
        default=UNSET, description="A student's programme."
    )
    semester: int | None = strawberry.field(default=UNSET, description="Current semester.")
    cgpa: float | None = strawberry.field(default=UNSET, description="CGPA, 0 to 10.")
    expected_graduation_year: int | None = strawberry.field(
        default=UNSET, description="When a student expects to graduate."
    )
    student_number: str | None = strawberry.field(default=UNSET, description="Unique.")
    privacy: PrivacyInput | None = strawberry.field(default=None, description="Privacy.")
    show_viewers: bool | None = strawberry.field(
        default=None, description="See who viewed your profile."
    )
    open_to_students: bool | None = strawberry.field(
        default=None,
        description="Alumni: let students write to you (direct messages); off by default.",
    )
    remote_preference: (
        Annotated[RemoteMode, strawberry.lazy("alumnet.schema.careers.types")] | None
    ) = strawberry.field(
        default=UNSET,
        description="Where you would rather work; job recommendations follow it (null: no "
        "preference).",
    )
    work_history: list[PositionInput] | None = strawberry.field(
        default=None, description="All positions (at most 50)."
    )
    skills: list[SkillInput] | None = strawberry.field(
        default=None, description="All skills (at most 50)."
    )
    achievements: list[AchievementInput] | None = strawberry.field(
        default=None, description="All achievements (at most 50)."
    )
    social_links: list[SocialLinkInput] | None = strawberry.field(
        default=None, description="All links (at most 10)."
    )


SCALARS = (
    "headline", "bio", "photo_url", "city", "country", "job_title", "company", "date_of_birth",
    "semester", "cgpa", "expected_graduation_year", "student_number",
)  # fmt: skip


def _changes(given: ProfileUpdateInput) -> dict[str, Any]:
    changes = {n: getattr(given, n) for n in SCALARS if getattr(given, n) is not UNSET}
    if given.programme_id is not UNSET:
        changes["programme_id"] = (
            None if given.programme_id is None else pk_of(given.programme_id, "Programme",
                                                          "programmeId")
        )  # fmt: skip
    if given.privacy is not None:
        for group in ("contact", "work", "education", "location"):
            level = getattr(given.privacy, group)
            if level is not None:
                changes[f"{group}_visibility"] = str(level.value)
    if given.show_viewers is not None:
        changes["show_viewers"] = given.show_viewers
    if given.open_to_students is not None:
        changes["open_to_students"] = given.open_to_students
    if given.remote_preference is not UNSET:
        preference = given.remote_preference
        changes["remote_preference"] = None if preference is None else str(preference.value)
    return changes


@strawberry.type(description="The profile, or why it was not changed.")
class ProfilePayload:
    profile: Profile | None = strawberry.field(description="The profile after the change.")
    user_errors: list[ProfileError] = strawberry.field(description="Empty on success.")


async def _profile_payload(info: Info, user_id: int | None, problems: Any) -> ProfilePayload:
    profile = None
    if user_id is not None:
        [profile] = await Profile.resolve_nodes(info=info, node_ids=[str(user_id)])
    return ProfilePayload(profile=profile, user_errors=_errors(problems))


@strawberry.input(description="A programme of study.")
class ProgrammeCreateInput:
    code: str = strawberry.field(description="Short unique code.")
    name: str = strawberry.field(description="Name.")
    first_graduation_year: int = strawberry.field(description="Its first graduates' year.")
    last_graduation_year: int | None = strawberry.field(
        default=None, description="Its last graduates' year; omit while it runs."
    )


@strawberry.type(description="The programme, or why there is none.")
class ProgrammePayload:
    programme: Programme | None = strawberry.field(description="The programme.")
    user_errors: list[ProfileError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A degree on a profile.")
class DegreeAddInput:
    user_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Whose (user managers); omit for yours."
    )
    programme_id: relay.GlobalID = strawberry.field(description="The programme.")
    campus: str | None = strawberry.field(default=None, description="Where.")
    start_year: int | None = strawberry.field(default=None, description="Year started.")
    graduation_year: int = strawberry.field(
        description="Within the programme's years, and not before birth."
    )


@strawberry.input(description="A degree.")
class DegreeRemoveInput:
    degree_id: relay.GlobalID = strawberry.field(description="The degree.")


@strawberry.input(description="Ask for a degree or your academic record to be verified.")
class VerificationSubmitInput:
    degree_id: relay.GlobalID | None = strawberry.field(default=None, description="A degree.")
    academic_record: bool = strawberry.field(
        default=False, description="Or your academic record (programme, student number, CGPA)."
    )


@strawberry.input(description="Verify or reject a degree or an academic record.")
class VerificationDecideInput:
    degree_id: relay.GlobalID | None = strawberry.field(default=None, description="A degree.")
    academic_record_of: relay.GlobalID | None = strawberry.field(
        default=None, description="Or this person's academic record."
    )
    verified: bool = strawberry.field(description="True to verify, false to reject.")
    note: str | None = strawberry.field(
        default=None, description="Why (required to reject; at most 500 characters)."
    )


@strawberry.input(description="A person.")
class PersonInput:
    user_id: relay.GlobalID = strawberry.field(description="The person.")


@strawberry.type(description="Whether you follow them now.")
class FollowPayload:
    following: bool | None = strawberry.field(description="Null on error.")
    profile: Profile | None = strawberry.field(description="Their profile, if they have one.")
    user_errors: list[ProfileError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Whether the view was counted (once per viewer and day).")
class ProfileViewPayload:
    counted: bool = strawberry.field(description="False for a repeat today, or your own.")
    user_errors: list[ProfileError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The job doing it.")
class JobStartedPayload:
    job: Job | None = strawberry.field(description="Follow it with `jobUpdated`.")
    user_errors: list[ProfileError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Two accounts of one person.")
class UserMergeInput:
    keep_id: relay.GlobalID = strawberry.field(description="The account that stays.")
    merge_id: relay.GlobalID = strawberry.field(
        description="The account whose everything moves onto it, then closes."
    )


@strawberry.type(description="The account kept.")
class UserMergePayload:
    user: Annotated[User, strawberry.lazy("alumnet.schema.identity.types")] | None = (
        strawberry.field(description="The kept account.")
    )
    user_errors: list[ProfileError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A likely duplicate pair.")
class DuplicateDismissInput:
    id: relay.GlobalID = strawberry.field(description="The candidate pair.")


@strawberry.type(description="The candidate pair.")
class DuplicatePayload:
    candidate: DuplicateCandidate | None = strawberry.field(description="The pair.")
    user_errors: list[ProfileError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Erase your personal data; this cannot be undone.")
class PersonalDataEraseInput:
    password: str | None = strawberry.field(
        default=None, description="Your password, again (accounts without one omit it)."
    )


@strawberry.type(description="Whether your data was erased (you are signed out everywhere).")
class PersonalDataErasePayload:
    erased: bool = strawberry.field(description="True once done.")
    user_errors: list[ProfileError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="An account to delete, and why (user managers).")
class UserDeleteInput:
    user_id: relay.GlobalID = strawberry.field(description="The user.")
    reason: str = strawberry.field(description="Why, for the audit log (at most 500 characters).")


@strawberry.type(description="Whether the account was deleted.")
class UserDeletePayload:
    deleted: bool = strawberry.field(
        description="True once done: the person's data is erased as `personalDataErase` does."
    )
    user_errors: list[UserAdminError] = strawberry.field(description="Empty on success.")


def _user_or_me(info: Info, gid: relay.GlobalID | None) -> int:
    if gid is None:
        return info.context.viewer.require_user()
    return pk_of(gid, "User", "userId")


@strawberry.type
class PeopleMutation:
    @strawberry.mutation(description="Change your profile (or anyone's, for user managers).")
    async def profile_update(
        self, info: Info, input: Annotated[ProfileUpdateInput, arg("The changes.")]
    ) -> ProfilePayload:
        viewer = info.context.viewer

        def lists() -> dict[str, Any]:
            return {
                "work": None if input.work_history is None else [
                    profiles.Work(p.company, p.title, p.started_on, p.ended_on)
                    for p in input.work_history],
                "skills": None if input.skills is None else [
                    profiles.SkillLevel(s.name, str(s.proficiency.value)) for s in input.skills],
                "achievements": None if input.achievements is None else [
                    profiles.AchievementItem(a.title, a.description, a.year)
                    for a in input.achievements],
                "links": None if input.social_links is None else [
                    profiles.Link(str(link.kind.value), link.url) for link in input.social_links],
            }  # fmt: skip

        found, problems = await run_in_transaction(
            info,
            lambda uow: profiles.update_profile(
                uow, viewer, _user_or_me(info, input.user_id), _changes(input), **lists()
            ),
        )
        return await _profile_payload(info, found.user_id if found else None, problems)

    @strawberry.mutation(description="Add a programme of study (user managers).")
    async def programme_create(
        self, info: Info, input: Annotated[ProgrammeCreateInput, arg("The programme.")]
    ) -> ProgrammePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: degrees.create_programme(
                uow, viewer, code=input.code, name=input.name,
                first=input.first_graduation_year, last=input.last_graduation_year,
            ),
        )  # fmt: skip
        return ProgrammePayload(
            programme=Programme.from_row(found) if found else None, user_errors=_errors(problems)
        )

    @strawberry.mutation(description="Add a degree to your profile (or anyone's, user managers).")
    async def degree_add(
        self, info: Info, input: Annotated[DegreeAddInput, arg("The degree.")]
    ) -> ProfilePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: degrees.add_degree(
                uow, viewer, _user_or_me(info, input.user_id),
                programme_id=pk_of(input.programme_id, "Programme", "programmeId"),
                campus=input.campus, start_year=input.start_year,
                graduation_year=input.graduation_year,
            ),
        )  # fmt: skip
        return await _profile_payload(info, found.user_id if found else None, problems)

    @strawberry.mutation(description="Remove a degree.")
    async def degree_remove(
        self, info: Info, input: Annotated[DegreeRemoveInput, arg("The degree.")]
    ) -> ProfilePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: degrees.remove_degree(
                uow, viewer, pk_of(input.degree_id, "Degree", "degreeId")
            ),
        )
        return await _profile_payload(info, found, problems)

    @strawberry.mutation(description="Ask an administrator to verify a degree or your record.")
    async def verification_submit(
        self, info: Info, input: Annotated[VerificationSubmitInput, arg("What.")]
    ) -> ProfilePayload:
        viewer = info.context.viewer
        degree = input.degree_id
        found, problems = await run_in_transaction(
            info,
            lambda uow: degrees.submit(
                uow, viewer,
                degree_id=None if degree is None else pk_of(degree, "Degree", "degreeId"),
                record_of=viewer.user_id if input.academic_record else None,
            ),
        )  # fmt: skip
        return await _profile_payload(info, _owner(found), problems)

    @strawberry.mutation(
        description="Verify or reject a degree or an academic record (user managers); the "
        "person is notified."
    )
    async def verification_decide(
        self, info: Info, input: Annotated[VerificationDecideInput, arg("The decision.")]
    ) -> ProfilePayload:
        viewer = info.context.viewer
        degree, record = input.degree_id, input.academic_record_of
        found, problems = await run_in_transaction(
            info,
            lambda uow: degrees.decide(
                uow, viewer,
                degree_id=None if degree is None else pk_of(degree, "Degree", "degreeId"),
                record_of=None if record is None else pk_of(record, "User", "academicRecordOf"),
                verified=input.verified, note=input.note,
            ),
        )  # fmt: skip
        return await _profile_payload(info, _owner(found), problems)

    @strawberry.mutation(description="Follow someone; idempotent.")
    async def user_follow(
        self, info: Info, input: Annotated[PersonInput, arg("Whom.")]
    ) -> FollowPayload:
        return await _follow(info, input, on=True)

    @strawberry.mutation(description="Stop following someone; idempotent.")
    async def user_unfollow(
        self, info: Info, input: Annotated[PersonInput, arg("Whom.")]
    ) -> FollowPayload:
        return await _follow(info, input, on=False)

    @strawberry.mutation(
        description="Count a look at someone's profile (call it when a profile is shown); "
        "once per viewer and day."
    )
    async def profile_view_record(
        self, info: Info, input: Annotated[PersonInput, arg("Whose profile.")]
    ) -> ProfileViewPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: social.record_view(uow, viewer, pk_of(input.user_id, "User", "userId")),
        )
        return ProfileViewPayload(counted=bool(found), user_errors=_errors(problems))

    @strawberry.mutation(description="Look for likely duplicate people now (user managers).")
    async def duplicates_find(self, info: Info) -> JobStartedPayload:
        from alumnet.domain.identity.permissions import Permission

        viewer = info.context.viewer

        async def start(uow: Any) -> int:
            viewer.require(Permission.USERS_MANAGE)
            return int((await uow.add_job(duplicates.FIND_JOB, {})).id)

        found, problems = await run_in_transaction(info, start)
        return JobStartedPayload(job=await job_node(info, found), user_errors=_errors(problems))

    @strawberry.mutation(description="Not the same person: drop a candidate pair.")
    async def duplicate_dismiss(
        self, info: Info, input: Annotated[DuplicateDismissInput, arg("The pair.")]
    ) -> DuplicatePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: duplicates.dismiss(
                uow, viewer, pk_of(input.id, "DuplicateCandidate", "id")
            ),
        )
        return DuplicatePayload(
            candidate=DuplicateCandidate.from_row(found) if found else None,
            user_errors=_errors(problems),
        )

    @strawberry.mutation(
        description="Merge two accounts of one person: everything of `mergeId` moves onto "
        "`keepId` in one transaction (audited), and `mergeId` is closed (user managers)."
    )
    async def user_merge(
        self, info: Info, input: Annotated[UserMergeInput, arg("The two accounts.")]
    ) -> UserMergePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: merge.merge(
                uow, viewer, pk_of(input.keep_id, "User", "keepId"),
                pk_of(input.merge_id, "User", "mergeId"),
            ),
        )  # fmt: skip
        user = await visible_user(info, found.id) if found else None
        return UserMergePayload(user=user, user_errors=_errors(problems))

    @strawberry.mutation(
        description="Ask for everything alumnet holds about you, as JSON: a job makes it; "
        "then `personalDataExports` gives a download link."
    )
    async def personal_data_export_request(self, info: Info) -> JobStartedPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: personal_data.request_export(uow, viewer)
        )
        return JobStartedPayload(job=await job_node(info, found), user_errors=_errors(problems))

    @strawberry.mutation(
        description="Erase your personal data (name, e-mail, phone, profile, what you wrote "
        "to others); your enrolments and results stay, anonymised. Signs you out everywhere."
    )
    async def personal_data_erase(
        self, info: Info, input: Annotated[PersonalDataEraseInput, arg("Confirmation.")]
    ) -> PersonalDataErasePayload:
        viewer, rt = info.context.viewer, info.context.runtime
        _, problems = await run_in_transaction(
            info, lambda uow: personal_data.erase(rt, uow, viewer, input.password)
        )
        return PersonalDataErasePayload(erased=not problems, user_errors=_errors(problems))

    @strawberry.mutation(
        description="Delete someone's account (needs `users:manage`): their personal data is "
        "erased as `personalDataErase` does, what they took part in stays anonymous, and the "
        "reason is audited."
    )
    async def user_delete(
        self, info: Info, input: Annotated[UserDeleteInput, arg("Who and why.")]
    ) -> UserDeletePayload:
        viewer = info.context.viewer
        _, problems = await run_in_transaction(
            info,
            lambda uow: personal_data.delete_user(
                uow, viewer, pk_of(input.user_id, "User", "userId"), input.reason
            ),
        )
        return UserDeletePayload(
            deleted=not problems,
            user_errors=user_errors(UserAdminError, UserAdminErrorCode, problems),
        )


def _owner(found: Any) -> int | None:
    if found is None:
        return None
    return int(found.user_id)


async def _follow(info: Info, input: PersonInput, *, on: bool) -> FollowPayload:
    viewer = info.context.viewer
    found, problems = await run_in_transaction(
        info,
        lambda uow: social.follow(uow, viewer, pk_of(input.user_id, "User", "userId"), on=on),
    )
    profile = None
    if not problems:
        other = str(input.user_id.node_id)
        [profile] = await Profile.resolve_nodes(info=info, node_ids=[other])
    return FollowPayload(
        following=found if not problems else None, profile=profile,
        user_errors=_errors(problems),
    )  # fmt: skip
