"""Shopify global ids (`gid://shopify/Product/123`), parsed once into a value instead of re-checked as strings.

The Admin API names every object by a GID; REST webhook bodies and merchants' requests often carry the bare number.
`Gid.parse` takes either, checks the kind and the number (1 … 2^63-1: Shopify ids are signed 64-bit), and the value
prints back as the GID string the Admin API wants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PREFIX = "gid://shopify/"
MAX_NUMBER = 2**63 - 1


class InvalidGid(ValueError):
    """Not a GID of the expected kind (the message names the kind and shows one)."""


@dataclass(frozen=True, order=True)
class Gid:
    kind: str  # "Product", "ProductVariant", "Collection", "MediaImage", …
    number: int

    def __str__(self) -> str:
        return f"{PREFIX}{self.kind}/{self.number}"

    @classmethod
    def parse(cls, value: Any, kind: str) -> Gid:
        """A GID of `kind` from `gid://shopify/<kind>/<n>` or the bare number `n` (str or int); else InvalidGid."""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidGid(f"expected a {kind} GID like {PREFIX}{kind}/123")
        text = str(value).strip()
        if text.startswith("gid://"):
            head, _, number = text.rpartition("/")
            if head != f"{PREFIX}{kind}":
                raise InvalidGid(f"expected a {kind} GID like {PREFIX}{kind}/123, got {text[:80]!r}")
        else:
            number = text
        if not (number.isascii() and number.isdigit()) or len(number) > 19 or not 0 < int(number) <= MAX_NUMBER:
            raise InvalidGid(f"expected a {kind} GID like {PREFIX}{kind}/123, got {text[:80]!r}")
        return cls(kind, int(number))

    @classmethod
    def of(cls, value: Any, kind: str) -> str | None:
        """The GID string for a REST id or GID (`None` for an empty value; an unparseable one is returned as
        given, for the caller to find no such object rather than crash on a webhook body)."""
        if value in (None, ""):
            return None
        try:
            return str(cls.parse(value, kind))
        except InvalidGid:
            return str(value)

    @classmethod
    def is_valid(cls, value: Any, kind: str) -> bool:
        try:
            cls.parse(value, kind)
        except InvalidGid:
            return False
        return True
