"""What every request body shares."""

from __future__ import annotations

import msgspec


class StrictBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A request body that refuses fields it does not know (a typo is a 422, not ignored)."""
