"""Public pages: ordered Markdown sections, every revision kept, diffs and reverts; readable
without signing in."""

from __future__ import annotations

import strawberry


@strawberry.type
class PageQuery:
    pass


@strawberry.type
class PageMutation:
    pass
