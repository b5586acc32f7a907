"""Photos: uploads for profiles and posts, checked, re-encoded and resized by a job, served
with cache headers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.file_uploads import Upload

from alumnet.domain.community import photos
from alumnet.persistence.models import Photo as PhotoModel
from alumnet.persistence.models import PhotoVariant as PhotoVariantModel
from alumnet.persistence.models import StoredFile
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.mutations import (
    CODE_DESCRIPTION,
    INVALID,
    arg,
    pk_of,
    run_in_transaction,
    uploaded,
)
from alumnet.schema.nodes import int_ids
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader

if TYPE_CHECKING:
    from alumnet.schema.people.types import Profile

ev = strawberry.enum_value
PEOPLE = "alumnet.schema.people.types"

LINKS = (
    "Links: a photo that is its owner's current profile photo has a lasting link (public by "
    "design: everyone signed in sees profile photos; it names the image's content, is "
    "cached for a year and stops working when the photo is no longer the profile photo); "
    "any other photo (post images, your photos not in use) has a signed link that expires "
    "in one to two hours, made only for those who may see the photo."
)


@strawberry.enum(description="What a photo is for.")
class PhotoPurpose(Enum):
    PROFILE = ev("profile", description="A profile photo (`profilePhotoSet`).")
    POST = ev("post", description="An image shown with a post (at most four per post).")


@strawberry.enum(description="Where a photo is in its processing.")
class PhotoStatus(Enum):
    PENDING = ev("pending", description="Uploaded; its sizes are being made.")
    READY = ev("ready", description="Its sizes are ready to show.")
    FAILED = ev("failed", description="It could not be processed (`failureReason` says why).")


@strawberry.enum(description="A size of a photo (its long side; never larger than the upload).")
class PhotoSize(Enum):
    SMALL = ev("small", description="At most 160 pixels on the long side (avatars, lists).")
    MEDIUM = ev("medium", description="At most 640 pixels on the long side (feeds, profiles).")
    LARGE = ev("large", description="At most 1,600 pixels on the long side (full view).")


@strawberry.type(description="One size of a ready photo: a WebP image without any metadata.")
class PhotoVariant:
    size: PhotoSize = strawberry.field(description="Which size.")
    width: int = strawberry.field(description="Width in pixels.")
    height: int = strawberry.field(description="Height in pixels.")
    content_type: str = strawberry.field(description="Its media type (`image/webp`).")
    bytes: int = strawberry.field(description="Its size in bytes.")
    url: str = strawberry.field(description="Its address. " + LINKS)


async def _variants_of(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
    query = (
        select(PhotoVariantModel.__table__, StoredFile.sha256)
        .join(StoredFile, StoredFile.id == PhotoVariantModel.file_id)
        .where(PhotoVariantModel.photo_id.in_(list(ids)))
    )
    async with reads.connect() as conn:
        rows = (await conn.execute(query)).all()
    found: dict[int, list[Any]] = {i: [] for i in ids}
    for row in rows:
        found[row.photo_id].append(row)
    order = list(photos.SIZES)
    return [sorted(found[i], key=lambda r: order.index(r.size)) for i in ids]


async def _photo_rows(reads: Any, ids: Sequence[int]) -> list[Any]:
    query = photos.rows_query().where(PhotoModel.id.in_(list(ids)))
    async with reads.connect() as conn:
        found = {row.id: row for row in (await conn.execute(query)).all()}
    return [found.get(i) for i in ids]


@strawberry.type(
    description="An uploaded photo (a profile photo or a post image). Its owner sees it in "
    "every state; others see it only when it is ready and is someone's profile photo, or "
    "is shown with a post they may read. " + LINKS
)
class Photo(relay.Node):
    id: relay.NodeID[int]
    purpose: PhotoPurpose = strawberry.field(description="What it is for.")
    status: PhotoStatus = strawberry.field(description="Where it is in its processing.")
    width: int | None = strawberry.field(
        description="Width in pixels of the image as uploaded (turned upright once ready)."
    )
    height: int | None = strawberry.field(
        description="Height in pixels of the image as uploaded (turned upright once ready)."
    )
    created_at: datetime = strawberry.field(description="When it was uploaded (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        """From a `photos` row. Its links are the expiring ones unless the row says
        (``profile_current``, as ``photos.rows_query`` selects it) that it is a current
        profile photo: a caller that checked who may see it (a post's images) may use it."""
        return cls(
            id=row.id, purpose=PhotoPurpose(row.purpose), status=PhotoStatus(row.status),
            width=row.width, height=row.height, created_at=row.created_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def load_many(cls, info: Info, ids: Sequence[int]) -> list[Self | None]:
        """Photos by primary key, batched with every other call of the request (one
        statement), NOT checked against the viewer: for a caller that has checked that the
        viewer may see them (a post the viewer may read, shown with its images)."""
        loader = reads_loader(info, ("community", "photos"), _photo_rows)
        rows = await loader.load_many(list(ids))
        return [cls.from_row(r) if r is not None else None for r in rows]

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        wanted = [i for i in ids if i]
        viewer = info.context.viewer
        if not wanted or not viewer.is_authenticated:
            return [None for _ in ids]
        query = photos.rows_query().where(PhotoModel.id.in_(wanted), photos.visible(viewer))
        async with info.context.reads.connect() as conn:
            found = {row.id: row for row in (await conn.execute(query)).all()}
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Why it could not be processed (its owner only); null "
                      "unless failed.")  # fmt: skip
    def failure_reason(self, info: Info) -> str | None:
        if info.context.viewer.user_id != self._row.owner_id:
            return None
        return self._row.error  # type: ignore[no-any-return]

    @strawberry.field(description="Whether it is its owner's profile photo now.")
    def is_profile_photo(self) -> bool:
        return bool(getattr(self._row, "profile_current", False))

    async def _variants(self, info: Info) -> list[Any]:
        if self._row.status != photos.READY:
            return []
        loader = reads_loader(info, ("community", "photo_variants"), _variants_of)
        return await loader.load(self.id)  # type: ignore[no-any-return]

    def _link(self, info: Info, size: str, sha256: str | None) -> str:
        return photos.link(
            info.context.runtime.settings, self.id, size, sha256, lasting=self.is_profile_photo()
        )

    @strawberry.field(description="Its sizes, small to large; empty until it is ready.")
    async def variants(self, info: Info) -> list[PhotoVariant]:
        return [
            PhotoVariant(
                size=PhotoSize(v.size),
                width=v.width,
                height=v.height,
                content_type=v.content_type,
                bytes=v.bytes,
                url=self._link(info, v.size, v.sha256),
            )
            for v in await self._variants(info)
        ]

    @strawberry.field(description="The address of one size; null until it is ready. " + LINKS)
    async def url(
        self,
        info: Info,
        size: Annotated[PhotoSize, strawberry.argument(description="Which size.")] = (
            PhotoSize.MEDIUM
        ),
    ) -> str | None:
        for v in await self._variants(info):
            if v.size == size.value:
                return self._link(info, v.size, v.sha256)
        return None


async def photos_of_profile(
    info: Info, photo_id: int | None, photo_url: str | None
) -> Photo | None:
    """A profile's photo (profiles are seen by everyone signed in): shown only while it is
    the profile photo, ready, and what ``photo_url`` shows (not an address given since)."""
    if photo_id is None or f"/photos/{photo_id}/" not in (photo_url or ""):
        return None
    (found,) = await Photo.load_many(info, [photo_id])
    if found is None or not found.is_profile_photo() or found.status != PhotoStatus.READY:
        return None
    return found


@strawberry.type(description="Your photos, a page at a time.")
class PhotoConnection(CountedConnection[Photo]):
    pass


@strawberry.enum(description="Why a photo mutation failed.")
class PhotoErrorCode(Enum):
    FILE_TOO_LARGE = ev("FILE_TOO_LARGE", description="The file is larger than the limit.")
    FILE_TYPE = ev(
        "FILE_TYPE",
        description="The file is not a JPEG, PNG or WebP image (read from its header; SVG "
        "and GIF are not accepted), or its header is damaged. A body damaged after a good "
        "header is found by the job: the photo is then `FAILED`, with its `failureReason`.",
    )
    TOO_MANY_PIXELS = ev(
        "TOO_MANY_PIXELS",
        description="The image has more pixels than accepted (`ALUMNET_PHOTO_MAX_PIXELS`, "
        "24 megapixels by default).",
    )
    TOO_MANY = ev("TOO_MANY", description="You have uploaded 100 photos in the last day.")
    NOT_FOUND = ev("NOT_FOUND", description="No such photo of yours.")
    WRONG_PURPOSE = ev("WRONG_PURPOSE", description="The photo was uploaded for another use.")
    NOT_READY = ev("NOT_READY", description="The photo is still being processed, or failed.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a photo mutation's input.")
class PhotoError(UserError):
    code: PhotoErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A photo to upload.")
class PhotoUploadInput:
    file: Upload | None = strawberry.field(
        description="Required. The image, as a part of a GraphQL multipart request: JPEG, "
        "PNG or WebP (read from its content, whatever its name), at most "
        "`ALUMNET_PHOTO_MAX_BYTES` (10 MB by default) and `ALUMNET_PHOTO_MAX_PIXELS` (24 "
        "megapixels by default)."
    )
    purpose: PhotoPurpose = strawberry.field(description="What it is for.")


@strawberry.type(description="The uploaded photo (pending until its sizes are made), or why not.")
class PhotoUploadPayload:
    photo: Photo | None = strawberry.field(description="The photo.")
    user_errors: list[PhotoError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Your profile photo.")
class ProfilePhotoSetInput:
    photo_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="One of your ready photos uploaded as a profile photo; null removes it.",
    )


@strawberry.type(description="Your profile with its photo, or why not.")
class ProfilePhotoSetPayload:
    profile: Annotated[Profile, strawberry.lazy(PEOPLE)] | None = strawberry.field(
        description="Your profile."
    )
    photo: Photo | None = strawberry.field(description="Its photo now (null if none).")
    user_errors: list[PhotoError] = strawberry.field(description="Empty on success.")


@strawberry.type
class PhotoQuery:
    @relay.connection(
        PhotoConnection,
        description="Your own photos (any state), newest first.",
        max_results=1000,
    )
    def photos(
        self,
        info: Info,
        purpose: Annotated[
            PhotoPurpose | None, strawberry.argument(description="Only those for this use.")
        ] = None,
        status: Annotated[
            PhotoStatus | None, strawberry.argument(description="Only those in this state.")
        ] = None,
    ) -> Iterable[Photo]:
        viewer = info.context.viewer
        query = photos.rows_query().where(
            PhotoModel.owner_id == (viewer.user_id if viewer.user_id is not None else -1)
        )
        if purpose is not None:
            query = query.where(PhotoModel.purpose == purpose.value)
        if status is not None:
            query = query.where(PhotoModel.status == status.value)
        sort = [
            SortKey(PhotoModel.created_at, descending=True),
            SortKey(PhotoModel.id, descending=True),
        ]
        return KeysetQuery(query, sort, Photo.from_row, info.context.reads)


@strawberry.type
class PhotoMutation:
    @strawberry.mutation(
        description="Upload a photo (signed-in people) through the GraphQL multipart "
        "request spec. Its type, size and pixels are checked at once, from its header; a "
        "job then decodes it whole and makes its sizes (WebP, EXIF orientation applied, all "
        "metadata including location removed), or marks it `FAILED` with the reason if it "
        "is damaged, and deletes the upload. Photos not put to use within a day are deleted."
    )
    async def photo_upload(
        self, info: Info, input: Annotated[PhotoUploadInput, arg("The photo.")]
    ) -> PhotoUploadPayload:
        viewer, settings = info.context.viewer, info.context.runtime.settings
        given: Any = input.file

        async def change(uow: Any) -> Any:
            viewer.require_user()
            name, read = uploaded(given)
            return await photos.upload(
                uow, viewer, purpose=str(input.purpose.value), name=name, read=read,
                limit=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels,
            )  # fmt: skip

        found, problems = await run_in_transaction(info, change)
        return PhotoUploadPayload(
            photo=Photo.from_row(found) if found is not None else None,
            user_errors=user_errors(PhotoError, PhotoErrorCode, problems),
        )

    @strawberry.mutation(
        description="Set or remove your profile photo: one of your ready profile photos; "
        "the profile's `photoUrl` becomes its medium size's lasting link."
    )
    async def profile_photo_set(
        self, info: Info, input: Annotated[ProfilePhotoSetInput, arg("The photo.")]
    ) -> ProfilePhotoSetPayload:
        from alumnet.schema.people.types import Profile

        viewer, settings = info.context.viewer, info.context.runtime.settings

        async def change(uow: Any) -> Any:
            given = input.photo_id
            photo_id = pk_of(given, "Photo", "photoId") if given is not None else None
            return await photos.set_profile_photo(uow, viewer, photo_id, settings)

        found, problems = await run_in_transaction(info, change)
        profile = photo = None
        if found is not None:
            (profile,) = await Profile.resolve_nodes(info=info, node_ids=[str(found.user_id)])
            if found.photo_id is not None:
                (photo,) = await Photo.resolve_nodes(info=info, node_ids=[str(found.photo_id)])
        return ProfilePhotoSetPayload(
            profile=profile,
            photo=photo,
            user_errors=user_errors(PhotoError, PhotoErrorCode, problems),
        )
