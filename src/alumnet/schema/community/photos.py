"""Photos: uploads for profiles and posts, checked, re-encoded and resized by a job, served
with cache headers."""

from __future__ import annotations

import strawberry


@strawberry.type
class PhotoQuery:
    pass


@strawberry.type
class PhotoMutation:
    pass
