"""Photos: uploads checked by their header (JPEG, PNG, WebP; size and pixel caps) without
decoding a pixel, decoded (one at a time), checked and re-encoded by a job without
metadata, served at signed links with cache headers, the profile photo, who sees which
photo, and the nightly sweep."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from PIL import ExifTags, Image, ImageCms
from sqlalchemy import func, select, update

from alumnet.domain.community import photos
from alumnet.persistence.models import (
    Photo,
    PhotoVariant,
    Post,
    PostImage,
    PostTarget,
    StoredFile,
    User,
)
from alumnet.schema.nodes import global_id
from alumnet.workers import schedule
from tests.conftest import Api

UPLOAD = """mutation($i: PhotoUploadInput!) { photoUpload(input: $i) {
  photo { id status purpose width height } userErrors { field code message } } }"""
SET = """mutation($i: ProfilePhotoSetInput!) { profilePhotoSet(input: $i) {
  profile { photoUrl photo { id } } photo { id isProfilePhoto url(size: SMALL) }
  userErrors { field code message } } }"""
NODE = """query($id: ID!) { node(id: $id) { ... on Photo { id status width height
  failureReason isProfilePhoto url(size: LARGE)
  variants { size width height contentType bytes url } } } }"""
LIST = """{ photos(first: 100) { totalCount edges { node { id status purpose url
  variants { size url } } } } }"""


def jpeg_with_location(width: int = 4000, height: int = 2000) -> bytes:
    """A JPEG as a phone takes it: EXIF with GPS and an orientation (turn 90° to show it),
    XMP and an ICC profile."""
    image = Image.new("RGB", (width, height), (200, 40, 40))
    image.paste((20, 40, 200), (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (51.0, 30.0, 12.5),
        ExifTags.GPS.GPSLongitudeRef: "W",
        ExifTags.GPS.GPSLongitude: (0.0, 7.0, 39.9),
    }
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    image.save(
        out, "JPEG", exif=exif, icc_profile=srgb, quality=90,
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret-place</x:xmpmeta>',
    )  # fmt: skip
    return out.getvalue()


def png(width: int = 300, height: int = 200, mode: str = "RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), (10, 200, 10, 128)[: len(mode)]).save(out, "PNG")
    return out.getvalue()


def webp(width: int = 100, height: int = 50) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (1, 2, 3)).save(out, "WEBP")
    return out.getvalue()


def png_announcing(width: int, height: int, data: bytes | None = None) -> bytes:
    """A few hundred bytes claiming a huge image (a decompression bomb's header), its
    pixel data ``data`` (4 KB of compressed zeros unless given)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 4096) if data is None else data)
        + chunk(b"IEND", b"")
    )  # fmt: skip


def webp_announcing(width: int, height: int) -> bytes:
    """A 40-byte lossless WebP of one colour whose header says ``width`` by ``height``:
    it decodes to that size (6320 by 6320 takes ~600 MB to decode)."""
    out = io.BytesIO()
    Image.new("RGB", (1, 1), (1, 2, 3)).save(out, "WEBP", lossless=True)
    data = bytearray(out.getvalue())
    assert data[12:16] == b"VP8L" and data[20] == 0x2F
    bits = int.from_bytes(data[21:25], "little") & ~0x0FFFFFFF
    data[21:25] = (bits | (width - 1) | ((height - 1) << 14)).to_bytes(4, "little")
    return bytes(data)


async def upload(
    api: Api, token: str, data: bytes, name: str = "photo.jpg", purpose: str = "PROFILE"
) -> dict[str, Any]:
    """photoUpload as a GraphQL multipart request."""
    operations = {"query": UPLOAD, "variables": {"i": {"file": None, "purpose": purpose}}}
    response = await api.client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.i.file"]})},
        files={"0": (name, data, "image/png")},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["photoUpload"]  # type: ignore[no-any-return]


async def ready_photos(api: Api, token: str, *given: tuple[bytes, str]) -> list[str]:
    """Photos uploaded (image, purpose) and processed (one run of the jobs)."""
    made = [await upload(api, token, data, purpose=purpose) for data, purpose in given]
    assert all(m["userErrors"] == [] for m in made), made
    await api.run_jobs()
    return [str(m["photo"]["id"]) for m in made]


async def ready_photo(api: Api, token: str, data: bytes, purpose: str = "PROFILE") -> str:
    return (await ready_photos(api, token, (data, purpose)))[0]


async def node(api: Api, token: str | None, gid: str) -> Any:
    body = await api.gql(NODE, {"id": gid}, token=token)
    assert "errors" not in body, body
    return body["data"]["node"]


async def fetch(api: Api, url: str, **headers: str) -> Any:
    parts = urlsplit(url)
    return await api.client.get(f"{parts.path}?{parts.query}", headers=headers)


async def counts(api: Api) -> tuple[int, int, int]:
    async with api.app.state.runtime.database.connect() as conn:
        found = [
            (await conn.execute(select(func.count()).select_from(table))).scalar()
            for table in (Photo, PhotoVariant, StoredFile)
        ]
    return int(found[0] or 0), int(found[1] or 0), int(found[2] or 0)


async def test_a_phone_photo_comes_out_upright_resized_and_without_any_metadata(api: Api) -> None:
    _, token = await api.create_user("owner@example.org", ["ALUMNUS"])
    made = await upload(api, token, jpeg_with_location(), name="IMG_0001.JPG")
    assert made["userErrors"] == []
    assert made["photo"]["status"] == "PENDING"
    gid = made["photo"]["id"]
    pending = await node(api, token, gid)
    assert pending["url"] is None and pending["variants"] == []
    await api.run_jobs()

    found = await node(api, token, gid)
    assert found["status"] == "READY"
    # Orientation 6: the 4000 x 2000 sensor image is shown 2000 wide, 4000 high.
    assert (found["width"], found["height"]) == (2000, 4000)
    sizes = {v["size"]: (v["width"], v["height"]) for v in found["variants"]}
    assert sizes == {"SMALL": (80, 160), "MEDIUM": (320, 640), "LARGE": (800, 1600)}
    assert {v["contentType"] for v in found["variants"]} == {"image/webp"}
    for variant in found["variants"]:
        response = await fetch(api, variant["url"])
        assert response.status_code == 200
        assert len(response.content) == variant["bytes"]
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "WEBP"
        assert (image.width, image.height) == (variant["width"], variant["height"])
        assert len(image.getexif()) == 0
        assert not {"exif", "xmp", "icc_profile"} & set(image.info)
        for marker in (b"Exif", b"EXIF", b"XMP ", b"ICCP", b"PhoneMaker", b"secret-place"):
            assert marker not in response.content, marker
        # Upright: the left half (blue) of the sensor image is now at the top.
        top = image.convert("RGB").getpixel((image.width // 2, image.height // 8))
        assert isinstance(top, tuple) and top[2] > 150 and top[0] < 100
    # The original upload is gone; only the three variants' files remain.
    assert await counts(api) == (1, 3, 3)


async def test_png_and_webp_are_taken_whatever_their_name_and_never_upscaled(api: Api) -> None:
    _, token = await api.create_user("owner@example.org", ["STUDENT"])
    given = [(png(300, 200), "holiday.jpg", (300, 200)), (webp(100, 50), "upload", (100, 50))]
    made = [await upload(api, token, data, name=name, purpose="POST") for data, name, _ in given]
    await api.run_jobs()
    for (_, name, size), one in zip(given, made, strict=True):
        found = await node(api, token, one["photo"]["id"])
        assert found["status"] == "READY", name
        by_size = {v["size"]: (v["width"], v["height"]) for v in found["variants"]}
        assert by_size["LARGE"] == size and by_size["MEDIUM"] == size
        small = by_size["SMALL"]
        assert max(small) == min(160, max(size))
    # A transparent PNG keeps its transparency.
    gid = await ready_photo(api, token, png(64, 64), "POST")
    url = (await node(api, token, gid))["variants"][0]["url"]
    image = Image.open(io.BytesIO((await fetch(api, url)).content))
    assert image.mode == "RGBA" and image.getpixel((1, 1))[3] == 128  # type: ignore[index]


async def test_bad_files_are_refused_and_nothing_is_written(api: Api) -> None:
    """Refused by the request: too large, or a header that is not a JPEG, PNG or WebP
    image's, or one announcing too many pixels (read from the header, never decoded)."""
    _, token = await api.create_user("owner@example.org", ["ALUMNUS"])
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    huge = b"\xff\xd8\xff\xe0" + b"\x00" * (30 * 1024 * 1024)
    cases = [
        (huge, "big.jpg", "FILE_TOO_LARGE"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 2000, "photo.png", "FILE_TYPE"),
        (b"MZ\x90\x00" + b"\x00" * 2000, "photo.png", "FILE_TYPE"),
        (b"#!/bin/sh\nrm -rf /\n" * 50, "photo.png", "FILE_TYPE"),
        (
            png(40, 40)[:33] + b"#!/bin/sh\nrm -rf /\n" * 50 + png(40, 40)[-12:],
            "sh.png",
            "FILE_TYPE",
        ),
        (png(40, 40)[:20], "cut-in-its-header.png", "FILE_TYPE"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "a.svg",
            "FILE_TYPE",
        ),
        (gif.getvalue(), "a.gif", "FILE_TYPE"),
        (b"", "empty.png", "FILE_TYPE"),
        (png_announcing(20_000, 20_000), "bomb.png", "TOO_MANY_PIXELS"),
        (png_announcing(8_000, 6_000), "bomb.png", "TOO_MANY_PIXELS"),
        (png_announcing(6_000, 4_001), "bomb.png", "TOO_MANY_PIXELS"),  # just over 24 MP
        (webp_announcing(6320, 6320), "bomb.webp", "TOO_MANY_PIXELS"),
        (webp_announcing(16384, 16384), "bomb.webp", "TOO_MANY_PIXELS"),
    ]
    for data, name, code in cases:
        made = await upload(api, token, data, name=name)
        assert made["photo"] is None, name
        found = [(e["code"], e["field"]) for e in made["userErrors"]]
        assert found == [(code, ["input", "file"])], name
    assert await counts(api) == (0, 0, 0)
    bomb = await upload(api, token, webp_announcing(6320, 6320))
    assert bomb["userErrors"][0]["message"] == (
        "The image has 6320 × 6320 pixels; at most 24 megapixels are accepted."
    )
    # Not a file at all (a string where the upload goes): a userError, not a crash.
    body = await api.gql(UPLOAD, {"i": {"file": "x", "purpose": "POST"}}, token=token)
    assert body["data"]["photoUpload"]["userErrors"][0]["code"] == "INVALID"
    # Signed out: refused before anything is read.
    body = await api.gql(UPLOAD, {"i": {"file": None, "purpose": "POST"}})
    assert body["data"] is None or body["data"]["photoUpload"] is None


async def test_the_request_never_decodes_a_photo(api: Api, monkeypatch: Any) -> None:
    """A few KB can announce an image that takes hundreds of MB to decode: the request
    reads headers only; the job decodes."""
    import threading

    from PIL import ImageFile, PngImagePlugin, WebPImagePlugin

    _, token = await api.create_user("owner@example.org", ["ALUMNUS"])
    checking = threading.local()  # set in the request's check (its thread), not in jobs
    decoded: list[str] = []
    real_inspect = photos.inspect

    def inspect(local: Any, max_pixels: int) -> Any:
        checking.on = True
        try:
            return real_inspect(local, max_pixels)
        finally:
            checking.on = False

    def spy(cls: Any, name: str) -> None:
        real = getattr(cls, name)

        def wrapped(self: Any, *args: Any) -> Any:
            if getattr(checking, "on", False):
                decoded.append(f"{self.format}.{name}")
            return real(self, *args)

        monkeypatch.setattr(cls, name, wrapped)

    monkeypatch.setattr(photos, "inspect", inspect)
    for cls, name in [(ImageFile.ImageFile, "load"), (ImageFile.ImageFile, "verify"),
                      (PngImagePlugin.PngImageFile, "verify"),
                      (WebPImagePlugin.WebPImageFile, "load")]:  # fmt: skip
        spy(cls, name)
    given = [png(30, 20), jpeg_with_location(64, 48), webp(50, 40), webp_announcing(300, 200),
             png_announcing(6_000, 4_000)]  # fmt: skip
    made = []
    for data in given:
        one = await upload(api, token, data)
        assert one["userErrors"] == [], one
        assert one["photo"]["status"] == "PENDING"
        made.append(one["photo"])
    assert decoded == []
    assert [(m["width"], m["height"]) for m in made] == [
        (30, 20), (64, 48), (50, 40), (300, 200), (6000, 4000)
    ]  # fmt: skip
    await api.run_jobs()
    status = [(await node(api, token, m["id"]))["status"] for m in made]
    # The 24 MP PNG is only a header and 4 KB: its job finds the rest missing.
    assert status == ["READY", "READY", "READY", "READY", "FAILED"]


async def test_a_body_damaged_after_a_good_header_fails_in_the_job(api: Api) -> None:
    """What moved from the request to the job: a file whose header is a JPEG's, PNG's or
    WebP's but whose body is truncated, or is something else, is taken, then failed by its
    job with the reason, its upload deleted and no size made."""
    _, token = await api.create_user("owner@example.org", ["ALUMNUS"])
    good = png(40, 40)
    truncated = jpeg_with_location(400, 300)
    lossy = webp(300, 200)
    cases = [
        (png_announcing(40, 40, b"#!/bin/sh\nrm -rf /\n" * 50), "script.png"),
        (good[: len(good) // 2], "cut.png"),
        (truncated[: len(truncated) // 2], "cut.jpg"),
        (lossy[:40] + b"\x00" * 200, "cut.webp"),
        (png_announcing(2_000, 1_000), "bomb.png"),
    ]
    made = []
    for data, name in cases:
        one = await upload(api, token, data, name=name)
        assert one["userErrors"] == [], name
        made.append(one["photo"]["id"])
    await api.run_jobs()
    for gid, (_, name) in zip(made, cases, strict=True):
        found = await node(api, token, gid)
        assert found["status"] == "FAILED", name
        assert found["failureReason"] == "The image is damaged or incomplete.", name
        assert found["variants"] == [] and found["url"] is None
    assert await counts(api) == (len(cases), 0, 0)


async def test_a_file_that_breaks_the_decoder_fails_and_its_job_ends(
    api: Api, monkeypatch: Any
) -> None:
    _, token = await api.create_user("owner@example.org", ["ALUMNUS"])

    def broken(local: Any, max_pixels: int) -> Any:
        raise KeyError("a decoder's surprise")

    monkeypatch.setattr(photos, "_render", broken)
    made = await upload(api, token, png(20, 20))
    # The job's handler, here (in-process, the queue may have run it already: the same).
    outcome = await photos.process(api.app.state.runtime, pk(made["photo"]["id"], "Photo"))
    assert outcome["status"] == "failed"
    found = await node(api, token, made["photo"]["id"])
    assert found["status"] == "FAILED"
    assert found["failureReason"] == "The image could not be processed; upload another."
    assert await counts(api) == (1, 0, 0)


def test_one_photo_at_a_time_is_decoded(monkeypatch: Any) -> None:
    import threading

    inside, most, lock = 0, 0, threading.Lock()
    both_started = threading.Barrier(2, timeout=5)

    def slow(local: Any, max_pixels: int) -> Any:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.05)
        with lock:
            inside -= 1
        return (1, 1, [])

    monkeypatch.setattr(photos, "_render", slow)

    def run() -> None:
        both_started.wait()
        photos.render(io.BytesIO(), 1)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == photos.DECODERS == 1


def test_a_jpeg_is_decoded_at_a_reduced_scale(monkeypatch: Any) -> None:
    """A 4000 x 2000 JPEG is decoded at half its size at most (its largest variant is 1600)."""
    from PIL import JpegImagePlugin

    decoded: list[tuple[int, int]] = []
    real = JpegImagePlugin.JpegImageFile.load

    def load(self: Any) -> Any:
        decoded.append(self.size)
        return real(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", load)
    width, height, rendered = photos.render(io.BytesIO(jpeg_with_location()), 24_000_000)
    assert (width, height) == (2000, 4000)
    assert decoded and all(w <= 2000 for w, _ in decoded), decoded
    assert [r.size for r in rendered] == ["small", "medium", "large"]


async def test_uploads_a_day_are_limited(api: Api, monkeypatch: Any) -> None:
    monkeypatch.setattr(photos, "DAILY_MAX", 2)
    _, token = await api.create_user("owner@example.org", ["ALUMNUS"])
    _, other = await api.create_user("other@example.org", ["ALUMNUS"])
    image = png(10, 10, "RGB")
    for _ in range(2):
        assert (await upload(api, token, image))["userErrors"] == []
    refused = await upload(api, token, image)
    assert [e["code"] for e in refused["userErrors"]] == ["TOO_MANY"]
    assert (await upload(api, other, image))["userErrors"] == []


async def test_a_photo_that_cannot_be_processed_fails_with_a_reason(api: Api) -> None:
    _, token = await api.create_user("owner@example.org", ["ALUMNUS"])
    _, other = await api.create_user("other@example.org", ["ADMIN"])
    made = await upload(api, token, png(50, 50))
    # The stored upload is damaged before its job runs.
    async with api.app.state.runtime.transaction() as uow:
        from alumnet.persistence.models import FileChunk

        await uow.session.execute(update(FileChunk).values(data=b"\x89PNG\r\n\x1a\nbroken"))
    await api.run_jobs()
    found = await node(api, token, made["photo"]["id"])
    assert found["status"] == "FAILED"
    assert found["failureReason"]
    assert found["variants"] == [] and found["url"] is None
    assert await node(api, other, made["photo"]["id"]) is None
    assert await counts(api) == (1, 0, 0)


async def test_links_carry_cache_headers_and_forged_or_expired_ones_open_nothing(
    api: Api,
) -> None:
    _, token = await api.create_user("owner@example.org", ["ALUMNUS"])
    gid = await ready_photo(api, token, png(800, 600, "RGB"))
    found = await node(api, token, gid)
    url = found["url"]
    # Not a profile photo yet: a private link that expires within two hours.
    response = await fetch(api, url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-disposition" not in response.headers
    cache = response.headers["cache-control"]
    assert cache.startswith("private, max-age=")
    assert 3600 <= int(cache.split("max-age=")[1].split(",")[0]) <= 7200
    etag = response.headers["etag"]
    again = await fetch(api, url, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and not again.content

    # Set as the profile photo: a lasting public link, cached for a year.
    done = (await api.gql(SET, {"i": {"photoId": gid}}, token=token))["data"]["profilePhotoSet"]
    assert done["userErrors"] == []
    lasting = done["photo"]["url"]
    assert "e=" not in urlsplit(lasting).query
    response = await fetch(api, lasting)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"

    settings = api.app.state.runtime.settings
    photo_id = int(urlsplit(url).path.split("/")[2])
    parts = urlsplit(url)
    query = dict(p.split("=", 1) for p in parts.query.split("&"))
    forged = [
        f"/photos/{photo_id}/large?v={query['v']}&e={query['e']}&s=" + "A" * 32,
        f"/photos/{photo_id}/small?v={query['v']}&e={query['e']}&s={query['s']}",
        f"/photos/{photo_id + 1}/large?v={query['v']}&e={query['e']}&s={query['s']}",
        f"/photos/{photo_id}/large?v={query['v']}&e={int(query['e']) + 3600}&s={query['s']}",
        f"/photos/{photo_id}/large?v={query['v']}&s={query['s']}",
        f"/photos/{photo_id}/large?v=0000000000000000&e={query['e']}&s={query['s']}",
        f"/photos/{photo_id}/huge?v={query['v']}&e={query['e']}&s={query['s']}",
        f"/photos/{photo_id}/large",
        "/photos/x/large?v=1&s=2",
    ]
    for path in forged:
        refused = await api.client.get(path)
        assert refused.status_code == 404, path
    # A genuine link whose time has passed.
    sha = (await api.client.get(parts.path + "?" + parts.query)).headers["etag"].strip('"')
    old = photos.link(settings, photo_id, "large", sha, lasting=False, now=time.time() - 3 * 3600)
    assert (await fetch(api, old)).status_code == 404
    # A lasting link opens nothing once the photo is no longer the profile photo.
    cleared = await api.gql(SET, {"i": {"photoId": None}}, token=token)
    assert cleared["data"]["profilePhotoSet"]["profile"]["photoUrl"] is None
    assert (await fetch(api, lasting)).status_code == 404
    # …nor once its owner's account is suspended.
    again_set = await api.gql(SET, {"i": {"photoId": gid}}, token=token)
    lasting = again_set["data"]["profilePhotoSet"]["photo"]["url"]
    assert (await fetch(api, lasting)).status_code == 200
    async with api.app.state.runtime.transaction() as uow:
        await uow.session.execute(update(User).values(status="suspended"))
    assert (await fetch(api, lasting)).status_code == 404


async def test_profile_photo_is_one_of_ones_own_ready_profile_photos(api: Api) -> None:
    owner_id, owner = await api.create_user("owner@example.org", ["ALUMNUS"])
    _, other = await api.create_user("other@example.org", ["STUDENT"])
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    theirs = await ready_photo(api, other, png(100, 100, "RGB"))
    for_post, pending = await ready_photos(
        api, owner, (png(100, 100, "RGB"), "POST"), (png(90, 90, "RGB"), "PROFILE")
    )
    # As if its job had not run yet (the in-process queue may run it at any time).
    await set_status(api, pending, "pending")

    async def refused(token: str, photo_id: Any) -> list[str]:
        body = await api.gql(SET, {"i": {"photoId": photo_id}}, token=token)
        assert "errors" not in body, body
        return [e["code"] for e in body["data"]["profilePhotoSet"]["userErrors"]]

    assert await refused(owner, theirs) == ["NOT_FOUND"]
    assert await refused(admin, theirs) == ["NOT_FOUND"]
    assert await refused(owner, for_post) == ["WRONG_PURPOSE"]
    assert await refused(owner, pending) == ["NOT_READY"]
    assert await refused(owner, owner_id) == ["NOT_FOUND"]
    body = await api.gql(SET, {"i": {"photoId": theirs}})
    assert body.get("errors") and not (body.get("data") or {}).get("profilePhotoSet")

    await set_status(api, pending, "failed")
    assert await refused(owner, pending) == ["NOT_READY"]
    await set_status(api, pending, "ready")
    done = (await api.gql(SET, {"i": {"photoId": pending}}, token=owner))["data"]
    assert done["profilePhotoSet"]["userErrors"] == []
    assert done["profilePhotoSet"]["profile"]["photo"]["id"] == pending
    url = done["profilePhotoSet"]["profile"]["photoUrl"]
    assert "/medium?" in url and (await fetch(api, url)).status_code == 200
    # Everyone signed in sees it on the profile and as a node; nobody signed out does.
    profile = """query($id: ID!) { node(id: $id) { ... on Profile {
      photoUrl photo { id isProfilePhoto url(size: SMALL) } } } }"""
    profile_id = global_id("Profile", pk(owner_id, "User"))
    seen = (await api.gql(profile, {"id": profile_id}, token=other))["data"]["node"]
    assert seen["photo"]["id"] == pending and seen["photoUrl"] == url
    assert seen["photo"]["isProfilePhoto"] is True
    assert (await fetch(api, seen["photo"]["url"])).status_code == 200
    assert (await node(api, other, pending))["status"] == "READY"
    assert await node(api, None, pending) is None
    # An address given by hand since replaces it on the profile.
    changed = await api.gql(
        """mutation { profileUpdate(input: {photoUrl: "https://example.org/me.jpg"}) {
          profile { photoUrl photo { id } } userErrors { code } } }""",
        token=owner,
    )
    assert changed["data"]["profileUpdate"]["profile"] == {
        "photoUrl": "https://example.org/me.jpg", "photo": None,
    }  # fmt: skip
    # The owner's other photos stay the owner's.
    assert await node(api, other, for_post) is None
    assert (await node(api, owner, for_post))["status"] == "READY"


async def set_status(api: Api, photo_gid: str, status: str) -> None:
    async with api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(Photo).where(Photo.id == pk(photo_gid, "Photo")).values(status=status)
        )


def pk(gid: str, type_name: str) -> int:
    from strawberry import relay

    from alumnet.schema.nodes import global_pk

    found = global_pk(relay.GlobalID.from_id(gid), type_name)
    assert found is not None
    return found


async def _post(api: Api, author_gid: str, photo_gid: str, **values: Any) -> int:
    author, photo = pk(author_gid, "User"), pk(photo_gid, "Photo")
    async with api.app.state.runtime.transaction() as uow:
        post = Post(author_id=author, body_markdown="x", body_html="<p>x</p>", **values)
        uow.session.add(post)
        await uow.session.flush()
        uow.session.add(PostImage(post_id=post.id, position=0, photo_id=photo))
        return int(post.id)


async def test_post_images_are_seen_by_those_who_may_read_the_post(api: Api) -> None:
    author_gid, author = await api.create_user("author@example.org", ["ALUMNUS"])
    _, student = await api.create_user("student@example.org", ["STUDENT"])
    _, alumnus = await api.create_user("alumnus@example.org", ["ALUMNUS"])
    _, manager = await api.create_user("manager@example.org", ["MANAGER"])
    image = png(64, 64, "RGB")
    public, limited, hidden, unattached = await ready_photos(api, author, *[(image, "POST")] * 4)
    await _post(api, author_gid, public)
    limited_post = await _post(api, author_gid, limited, limited=True)
    async with api.app.state.runtime.transaction() as uow:
        uow.session.add(PostTarget(post_id=limited_post, role="ALUMNUS"))
    await _post(api, author_gid, hidden, hidden_at=datetime.now(UTC))

    assert await node(api, student, public) is not None
    assert await node(api, student, limited) is None
    assert await node(api, alumnus, limited) is not None
    assert await node(api, student, hidden) is None
    assert await node(api, manager, hidden) is not None  # moderators read hidden posts
    for token in (student, alumnus, manager):
        assert await node(api, token, unattached) is None
    assert await node(api, None, public) is None
    # A post image's links expire, whoever asks.
    url = (await node(api, student, public))["url"]
    assert "e=" in urlsplit(url).query
    response = await fetch(api, url)
    assert response.headers["cache-control"].startswith("private, ")


async def test_listing_ones_photos_takes_the_same_statements_for_few_or_many(api: Api) -> None:
    _, token = await api.create_user("owner@example.org", ["ALUMNUS"])
    _, other = await api.create_user("other@example.org", ["ALUMNUS"])
    image = png(30, 30, "RGB")
    await ready_photos(api, token, *[(image, "POST")] * 2)
    await ready_photo(api, other, image)
    few, small = await api.sql_count(LIST, token=token)
    await ready_photos(api, token, *[(image, "POST")] * 6, (image, "PROFILE"))
    many, large = await api.sql_count(LIST, token=token)
    assert "errors" not in large, large
    assert large["data"]["photos"]["totalCount"] == 9
    assert all(e["node"]["url"] for e in large["data"]["photos"]["edges"])
    assert many == few, (few, many)
    # Only one's own: the other user's photo is not listed.
    assert small["data"]["photos"]["totalCount"] == 2
    anonymous = await api.gql(LIST)
    assert not (anonymous.get("data") or {}).get("photos", {}).get("edges")


async def test_the_nightly_sweep_deletes_photos_never_put_to_use_with_their_files(
    api: Api,
) -> None:
    author_gid, token = await api.create_user("owner@example.org", ["ALUMNUS"])
    image = png(20, 20, "RGB")
    # In a post; never attached; the profile photo; a profile photo not in use; one that
    # failed; one just uploaded.
    in_post, _, profile, _, failed, fresh = await ready_photos(
        api, token, (image, "POST"), (image, "POST"), (image, "PROFILE"), (image, "PROFILE"),
        (image, "POST"), (image, "POST"),
    )  # fmt: skip
    await _post(api, author_gid, in_post)
    await api.gql(SET, {"i": {"photoId": profile}}, token=token)
    await set_status(api, failed, "failed")
    assert await counts(api) == (6, 18, 18)
    runtime = api.app.state.runtime
    async with runtime.transaction() as uow:
        old = datetime.now(UTC) - timedelta(days=2)
        await uow.session.execute(
            update(Photo).where(Photo.id != pk(fresh, "Photo")).values(created_at=old)
        )
    await schedule.record(runtime, photos.SWEEP_JOB, {})
    await api.run_jobs()
    assert await counts(api) == (3, 9, 9)
    left = {e["node"]["id"] for e in (await api.gql(LIST, token=token))["data"]["photos"]["edges"]}
    assert left == {in_post, profile, fresh}
