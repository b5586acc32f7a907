"""Photos: profile photos and post images. An upload is checked from its header only
(JPEG, PNG or WebP by its first bytes, size- and pixel-capped: no pixel is decoded in the
request, as a file of a few KB can announce an image that takes hundreds of MB to decode)
and kept as sent until a job decodes it whole, checks it, and re-encodes it to WebP in a
few sizes (EXIF orientation applied, colours converted to sRGB, every bit of metadata left
behind), then deletes the original; a file whose body is damaged fails there, with the
reason. One photo at a time is decoded in a process, a JPEG at a reduced scale.

Links: a photo that is its owner's current profile photo is public by design (everyone
signed in sees it on the profile, and an ``<img>`` carries no token): its link is signed,
names the variant's content hash, never expires and is cached for a year; it stops
working when the photo stops being the profile photo or its owner's account is not
active. Every other photo (post images, one's own photos not in use) gets a signed link
that expires in one to two hours, made only for a viewer who may see the photo, cached
privately until then."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import math
import struct
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    exists,
    false,
    func,
    or_,
    select,
    true,
)

from alumnet.config import Settings
from alumnet.domain.community import posts
from alumnet.domain.data import files
from alumnet.domain.errors import DomainError
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Viewer
from alumnet.domain.people import profiles
from alumnet.observability import get_logger
from alumnet.persistence.models import (
    Photo,
    PhotoVariant,
    Post,
    PostImage,
    Profile,
    StoredFile,
    User,
)
from alumnet.persistence.uow import UnitOfWork

log = get_logger(__name__)

PROCESS_JOB = "community.photo_process"
SWEEP_JOB = "community.photo_sweep"

PURPOSES = ("profile", "post")
# Long side in pixels of each variant (never upscaled).
SIZES = {"small": 160, "medium": 640, "large": 1600}
PENDING, READY, FAILED = "pending", "ready", "failed"
# Decoded by Pillow only as one of these (no SVG: it is a document that can carry scripts;
# no GIF: animated GIFs are better sent as video, and a still one converts to PNG).
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# A decompression bomb: a small file announcing a huge image. Refused from its header past
# ``Settings.photo_max_pixels`` (24 megapixels unless set): decoding costs up to ~16 bytes a
# pixel (a lossless WebP), so 24 MP is ~400 MB at the peak of one decode.
# Photos decoded at once in one process (a job's thread; requests never decode).
DECODERS = 1
_decoding = threading.BoundedSemaphore(DECODERS)
VARIANT_TYPE = "image/webp"
ORIENTATION = 0x0112  # the EXIF tag
WEBP_QUALITY = 82
# An expiring link's validity ends on the hour, one to two hours ahead: the same link is
# made for an hour, so browsers reuse what they cached.
LINK_WINDOW = 3600
# Unused uploads (a post image never attached, a profile photo not in use), failed ones
# and ones whose processing never finished are deleted once this old.
KEEP_UNUSED = timedelta(days=1)
# Uploads one person may make in 24 hours (each up to the size limit, kept until swept).
DAILY_MAX = 100
# The original waits for its job; a safety net in case the photo row goes first.
ORIGINAL_TTL = timedelta(days=2)

TYPE_MESSAGE = "Give a complete JPEG, PNG or WebP image (not SVG or GIF)."


class Unreadable(Exception):
    """The image cannot be used; the message says why, in plain words."""


class TooManyPixels(Unreadable):
    def __init__(self, limit: int, width: int | None = None, height: int | None = None) -> None:
        size = f"{width} × {height} pixels" if width and height else "too many pixels"
        super().__init__(f"The image has {size}; at most {megapixels(limit)} are accepted.")


def megapixels(pixels: int) -> str:
    if pixels % 1_000_000 == 0:
        return f"{pixels // 1_000_000} megapixels"
    return f"{pixels:,} pixels"


@dataclass(frozen=True)
class Inspected:
    format: str
    width: int
    height: int


def _open(local: BinaryIO) -> Any:
    from PIL import Image

    local.seek(0)
    return Image.open(local, formats=list(FORMATS))


def inspect(local: BinaryIO, max_pixels: int) -> Inspected:
    """What the file is, from its header: a JPEG, PNG or WebP image (by its content) of at
    most ``max_pixels``. No pixel is decoded: a body damaged after a good header is the
    job's to find. Raises ``Unreadable``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _open(local) as image:
            kind, (width, height) = image.format, image.size
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(max_pixels) from exc
    except UnidentifiedImageError as exc:
        raise Unreadable(TYPE_MESSAGE) from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, struct.error) as exc:
        raise Unreadable("The image is damaged or incomplete.") from exc
    if kind not in FORMATS or width < 1 or height < 1:
        raise Unreadable(TYPE_MESSAGE)
    if width * height > max_pixels:
        raise TooManyPixels(max_pixels, width, height)
    return Inspected(kind, width, height)


async def receive(
    name: str,
    read: Callable[[int], Awaitable[bytes]],
    limit: int,
    max_pixels: int,
    field: str = "file",
) -> tuple[files.Received, Inspected]:
    """An uploaded photo copied to a local temporary file, a chunk at a time, before
    anything is written: FILE_TOO_LARGE as soon as it passes ``limit`` bytes (the rest is
    never read), FILE_TYPE unless its header is a JPEG, PNG or WebP image's (its name and
    declared type do not matter), TOO_MANY_PIXELS past ``max_pixels``."""
    local = tempfile.TemporaryFile()  # noqa: SIM115 (closed by Received.close, or here)
    try:
        size = 0
        while data := await read(files.CHUNK):
            size += len(data)
            if size > limit:
                raise DomainError.of("FILE_TOO_LARGE", str(files.TooLarge(limit)), field)
            local.write(data)
        if size == 0:
            raise DomainError.of("FILE_TYPE", TYPE_MESSAGE, field)
        try:
            found = await asyncio.to_thread(inspect, local, max_pixels)
        except Unreadable as exc:
            code = "TOO_MANY_PIXELS" if isinstance(exc, TooManyPixels) else "FILE_TYPE"
            raise DomainError.of(code, str(exc), field) from None
    except BaseException:
        local.close()
        raise
    local.seek(0)
    return files.Received(
        name=files.safe_name(name, "photo"), kind=FORMATS[found.format], size=size, local=local
    ), found


async def upload(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    purpose: str,
    name: str,
    read: Callable[[int], Awaitable[bytes]],
    limit: int,
    max_pixels: int,
) -> Photo:
    """A new photo of the viewer's, pending until its job has made its variants (or found
    that it cannot be decoded: it is then failed, with the reason)."""
    owner_id = viewer.require_user()
    if purpose not in PURPOSES:
        raise DomainError.of("INVALID", "Say whether it is a profile photo or a post image.",
                             "purpose")  # fmt: skip
    since = datetime.now(UTC) - timedelta(days=1)
    recent = await uow.session.scalar(
        select(func.count()).where(Photo.owner_id == owner_id, Photo.created_at > since)
    )
    if (recent or 0) >= DAILY_MAX:
        raise DomainError.of(
            "TOO_MANY", f"You have uploaded {DAILY_MAX} photos in the last day; try later.",
            "file",
        )  # fmt: skip
    received, found = await receive(name, read, limit, max_pixels)
    try:
        stored = await files.store_received(
            uow.session, received, owner_id=owner_id, expires_in=ORIGINAL_TTL
        )
    finally:
        received.close()
    photo = Photo(
        owner_id=owner_id, purpose=purpose, status=PENDING, original_file_id=stored.id,
        width=found.width, height=found.height, created_at=datetime.now(UTC),
    )  # fmt: skip
    uow.session.add(photo)
    await uow.session.flush()
    await uow.add_job(PROCESS_JOB, {"photo_id": photo.id})
    return photo


# --- processing (the job) ---------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    size: str
    data: bytes
    width: int
    height: int


def render(local: BinaryIO, max_pixels: int) -> tuple[int, int, list[Rendered]]:
    """The variants of an image, one image at a time in this process (``DECODERS``):
    checked whole (``verify``: a PNG's checksums), turned upright as its EXIF orientation
    says, converted to sRGB, resized (never up) and encoded to WebP from bare pixels, so
    that no EXIF (location included), XMP, ICC profile or comment survives. Raises
    ``Unreadable``."""
    with _decoding:
        return _render(local, max_pixels)


def _render(local: BinaryIO, max_pixels: int) -> tuple[int, int, list[Rendered]]:
    from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

    try:
        with _open(local) as opened:
            kind, (width, height) = opened.format, opened.size
            if kind not in FORMATS or width < 1 or height < 1:
                raise Unreadable(TYPE_MESSAGE)
            if width * height > max_pixels:
                raise TooManyPixels(max_pixels, width, height)
            opened.verify()
        with _open(local) as opened:
            # Turned a quarter (EXIF orientations 5 to 8): width and height swap.
            if opened.getexif().get(ORIENTATION) in (5, 6, 7, 8):
                width, height = height, width
            longest = max(SIZES.values())
            scale = longest / max(opened.size)
            if kind == "JPEG" and scale < 1:
                # Decoded at the smallest scale (1/2, 1/4 or 1/8) still at least the largest
                # size: a fraction of the memory and time of the whole image.
                w, h = opened.size
                opened.draft(None, (max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))))
            # Down to the largest size first (in place), so that nothing below holds the
            # full image: its EXIF and ICC profile stay in ``info`` for what follows.
            opened.thumbnail((longest, longest), Image.Resampling.LANCZOS)
            upright = ImageOps.exif_transpose(opened)
            assert upright is not None
            alpha = upright.mode in ("RGBA", "LA", "PA") or (
                upright.mode == "P" and "transparency" in upright.info
            )
            mode = "RGBA" if alpha else "RGB"
            icc = upright.info.get("icc_profile")
            image = None
            if icc and upright.mode in ("RGB", "RGBA", "CMYK", "L"):
                try:
                    image = ImageCms.profileToProfile(
                        upright, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                        ImageCms.createProfile("sRGB"), outputMode=mode,
                    )  # fmt: skip
                except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
                    image = None
            if image is None:
                image = upright.convert(mode)
            rendered = []
            for size, longest in SIZES.items():
                copy = image.copy()
                copy.thumbnail((longest, longest), Image.Resampling.LANCZOS)
                # Bare pixels: nothing of the original's metadata comes along.
                bare = Image.frombytes(copy.mode, copy.size, copy.tobytes())
                out = io.BytesIO()
                bare.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
                rendered.append(Rendered(size, out.getvalue(), bare.width, bare.height))
            return width, height, rendered
    except Unreadable:
        raise
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(max_pixels) from exc
    except UnidentifiedImageError as exc:
        raise Unreadable(TYPE_MESSAGE) from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, struct.error) as exc:
        raise Unreadable("The image is damaged or incomplete.") from exc


async def process(rt: Any, photo_id: int) -> dict[str, Any]:
    """The job: make a pending photo's variants and delete its original; a photo that
    cannot be read ends failed, with the reason. Nothing is held open while it decodes."""
    async with rt.database.connect() as conn:
        found = (
            await conn.execute(
                select(Photo.status, Photo.original_file_id).where(Photo.id == photo_id)
            )
        ).first()
    if found is None or found.status != PENDING:
        return {"photo": photo_id, "status": found.status if found else "gone"}
    outcome: tuple[int, int, list[Rendered]] | str
    if found.original_file_id is None:
        outcome = "The uploaded file is no longer there; upload the photo again."
    else:
        local = await files.spool(rt.database, found.original_file_id)
        try:
            outcome = await asyncio.to_thread(render, local, rt.settings.photo_max_pixels)
        except Unreadable as exc:
            outcome = str(exc)
        except Exception as exc:  # a file that breaks the decoder fails; never retried
            log.exception("photo_process_error", photo=photo_id, error=type(exc).__name__)
            outcome = "The image could not be processed; upload another."
        finally:
            local.close()
    async with rt.transaction() as uow:
        photo = await uow.session.get(Photo, photo_id, with_for_update=True)
        if photo is None or photo.status != PENDING:
            return {"photo": photo_id, "status": photo.status if photo else "gone"}
        original = photo.original_file_id
        photo.original_file_id = None
        photo.processed_at = datetime.now(UTC)
        if isinstance(outcome, str):
            photo.status, photo.error = FAILED, outcome[:500]
        else:
            photo.width, photo.height = outcome[0], outcome[1]
            for variant in outcome[2]:
                writer = await files.new_file(
                    uow.session, owner_id=photo.owner_id,
                    name=f"photo-{photo_id}-{variant.size}.webp", content_type=VARIANT_TYPE,
                    expires_in=None,
                )  # fmt: skip
                await writer.write(variant.data)
                stored = await writer.close()
                uow.session.add(
                    PhotoVariant(
                        photo_id=photo_id, size=variant.size, file_id=stored.id,
                        content_type=VARIANT_TYPE, width=variant.width, height=variant.height,
                        bytes=len(variant.data),
                    )
                )  # fmt: skip
            photo.status = READY
        await uow.session.flush()
        if original is not None:
            await uow.session.execute(delete(StoredFile).where(StoredFile.id == original))
        return {"photo": photo_id, "status": photo.status}


# --- who sees what ----------------------------------------------------------------------


def is_current_profile_photo() -> ColumnElement[bool]:
    """SQL: the photo is its owner's profile photo now, and its owner's account is active."""
    return exists(
        select(Profile.user_id)
        .join(User, User.id == Profile.user_id)
        .where(Profile.user_id == Photo.owner_id, Profile.photo_id == Photo.id,
               User.status == "active")
    )  # fmt: skip


def visible(viewer: Viewer) -> ColumnElement[bool]:
    """SQL: the photos the viewer may see. Owners see all their own, in any state; others
    see ready ones that are someone's profile photo (everyone signed in sees profile
    photos) or are shown with a post they may read."""
    if not viewer.is_authenticated:
        return false()
    me = viewer.user_id if viewer.user_id is not None else -1
    in_readable_post = exists(
        select(PostImage.post_id)
        .join(Post, Post.id == PostImage.post_id)
        .where(PostImage.photo_id == Photo.id, posts.readable(viewer))
    )
    return or_(
        Photo.owner_id == me,
        and_(Photo.status == READY, or_(is_current_profile_photo(), in_readable_post)),
    )


def rows_query() -> Any:
    """Photo rows with ``profile_current``: whether each is its owner's profile photo now
    (its links are then the lasting public ones)."""
    return select(Photo.__table__, is_current_profile_photo().label("profile_current"))


# --- links ------------------------------------------------------------------------------


def _signature(settings: Settings, photo_id: int, size: str, version: str, expires: str) -> str:
    key = hmac.new(settings.secret_key.encode(), b"alumnet-photo-link", hashlib.sha256).digest()
    message = f"{photo_id}:{size}:{version}:{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def version_of(sha256: str | None) -> str:
    return (sha256 or "")[:16]


def link(
    settings: Settings, photo_id: int, size: str, sha256: str | None, *, lasting: bool,
    now: float | None = None,
) -> str:  # fmt: skip
    """The address of one variant: lasting (a current profile photo's) or expiring at
    the end of the next full hour."""
    version = version_of(sha256)
    expires = ""
    if not lasting:
        moment = time.time() if now is None else now
        expires = str((int(moment) // LINK_WINDOW + 2) * LINK_WINDOW)
    query = f"v={version}" + (f"&e={expires}" if expires else "")
    signature = _signature(settings, photo_id, size, version, expires)
    return f"{settings.public_url}/photos/{photo_id}/{size}?{query}&s={signature}"


@dataclass(frozen=True)
class Served:
    file_id: int
    content_type: str
    size: int
    etag: str
    cache_control: str


async def served(
    db: Any, settings: Settings, photo_id: str, size: str, params: dict[str, str]
) -> Served | None:
    """What a link opens: the variant, if the link's signature is right, it has not
    expired, the photo is ready and the variant is the one the link names (a lasting
    link only while the photo is its owner's profile photo). None otherwise."""
    if not photo_id.isdigit() or size not in SIZES or len(photo_id) > 18:
        return None
    version, expires, given = params.get("v", ""), params.get("e", ""), params.get("s", "")
    expected = _signature(settings, int(photo_id), size, version, expires)
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        return None
    now = int(time.time())
    if expires and (not expires.isdigit() or int(expires) <= now):
        return None
    query = (
        select(PhotoVariant.file_id, PhotoVariant.content_type, StoredFile.size,
               StoredFile.sha256)
        .join(Photo, Photo.id == PhotoVariant.photo_id)
        .join(StoredFile, StoredFile.id == PhotoVariant.file_id)
        .where(PhotoVariant.photo_id == int(photo_id), PhotoVariant.size == size,
               Photo.status == READY, is_current_profile_photo() if not expires else true())
    )  # fmt: skip
    async with db.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None or not version or version_of(row.sha256) != version:
        return None
    cache = (
        "public, max-age=31536000, immutable"
        if not expires
        else f"private, max-age={max(0, int(expires) - now)}, immutable"
    )
    return Served(row.file_id, row.content_type, int(row.size), f'"{row.sha256}"', cache)


def content(db: Any, found: Served) -> AsyncIterator[bytes]:
    return files.chunks(db, found.file_id)


# --- the profile photo ------------------------------------------------------------------


async def set_profile_photo(
    uow: UnitOfWork, viewer: Viewer, photo_id: int | None, settings: Settings
) -> Profile:
    """The viewer's profile photo becomes one of their ready profile photos, or none.
    The profile's ``photo_url`` follows (its medium size's lasting link)."""
    me = viewer.require_user()
    photo: Photo | None = None
    sha: str | None = None
    if photo_id is not None:
        photo = await uow.session.get(Photo, photo_id)
        if photo is None or photo.owner_id != me:
            raise DomainError.of("NOT_FOUND", "No such photo.", "photoId")
        if photo.purpose != "profile":
            raise DomainError.of(
                "WRONG_PURPOSE", "This photo was uploaded for a post, not as a profile photo.",
                "photoId",
            )  # fmt: skip
        if photo.status != READY:
            raise DomainError.of(
                "NOT_READY",
                "This photo is still being processed."
                if photo.status == PENDING
                else "This photo could not be processed; upload another.",
                "photoId",
            )
        sha = (
            await uow.session.execute(
                select(StoredFile.sha256)
                .join(PhotoVariant, PhotoVariant.file_id == StoredFile.id)
                .where(PhotoVariant.photo_id == photo_id, PhotoVariant.size == "medium")
            )
        ).scalar()
    profile = await profiles.profile_of(uow, me)
    profile.photo_id = photo.id if photo is not None else None
    profile.photo_url = (
        link(settings, photo.id, "medium", sha, lasting=True) if photo is not None else None
    )
    profile.updated_at = datetime.now(UTC)
    audit.record(
        uow, "profile.photo_set", object_type="Profile", object_ids=[me],
        details={"photo": photo.id if photo is not None else None},
    )  # fmt: skip
    await uow.session.flush()
    return profile


# --- the nightly sweep ------------------------------------------------------------------


SWEEP_BATCH = 500


async def sweep(rt: Any, now: datetime | None = None) -> dict[str, int]:
    """Nightly: photos a day old that are of no use — failed, never processed, a post
    image never attached to a post, a profile photo not in use — go, with their files."""
    cutoff = (now or datetime.now(UTC)) - KEEP_UNUSED
    attached = exists(select(PostImage.post_id).where(PostImage.photo_id == Photo.id))
    in_use = exists(select(Profile.user_id).where(
        Profile.user_id == Photo.owner_id, Profile.photo_id == Photo.id))  # fmt: skip
    useless = or_(
        Photo.status != READY,
        and_(Photo.purpose == "post", ~attached),
        and_(Photo.purpose == "profile", ~in_use),
    )
    deleted = 0
    while True:
        async with rt.transaction() as uow:
            ids = list(
                (
                    await uow.session.execute(
                        select(Photo.id)
                        .where(Photo.created_at < cutoff, useless)
                        .order_by(Photo.id)
                        .limit(SWEEP_BATCH)
                    )
                ).scalars()
            )
            if not ids:
                break
            variant_files = select(PhotoVariant.file_id).where(PhotoVariant.photo_id.in_(ids))
            originals = select(Photo.original_file_id).where(
                Photo.id.in_(ids), Photo.original_file_id.is_not(None)
            )
            file_ids = list((await uow.session.execute(variant_files.union(originals))).scalars())
            await uow.session.execute(delete(Photo).where(Photo.id.in_(ids)))
            if file_ids:
                await uow.session.execute(delete(StoredFile).where(StoredFile.id.in_(file_ids)))
            deleted += len(ids)
        if len(ids) < SWEEP_BATCH:
            break
    return {"photos": deleted}
