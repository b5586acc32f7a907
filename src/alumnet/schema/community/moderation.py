"""Moderation: reports of posts and comments, the queue staff work through (hide, restore,
warn), and link previews."""

from __future__ import annotations

import strawberry


@strawberry.type
class ModerationQuery:
    pass


@strawberry.type
class ModerationMutation:
    pass
