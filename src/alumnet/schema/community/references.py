"""Reference requests: asking an alumnus or a mentor for a reference, their answer, the
reference and its sending."""

from __future__ import annotations

import strawberry


@strawberry.type
class ReferenceQuery:
    pass


@strawberry.type
class ReferenceMutation:
    pass
