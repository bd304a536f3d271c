"""Two typed functions offered as tools. Their JSON Schemas come from the signatures."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import msgspec

from echo_orchestrator.registry import tool

_STOP = set(
    "a an and are as at be but by for from has have in is it its of on or that the this to was were will with "
    "we you they he she i our your their not no so if then than into over under about".split()
)


class Keyword(msgspec.Struct):
    word: str
    count: int


@tool
def keywords(text: str, top: int = 5) -> list[Keyword]:
    """The most frequent content words of a text, most frequent first."""
    words = [w for w in re.findall(r"[a-zA-Z][a-zA-Z'-]+", text.lower()) if w not in _STOP]
    return [Keyword(word=w, count=n) for w, n in Counter(words).most_common(max(0, top))]


@tool
def slugify(text: str) -> str:
    """A URL slug: ASCII, lower case, words joined by hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
