"""Shop domains: only `name.myshopify.com`, lowercase, no port, path, userinfo or trailing dot.

A shop domain ends up in URLs we send tokens to and in CSP headers, so anything else is refused rather than
"cleaned up" (`X.myshopify.com.evil.com`, `evil.com`, `x.myshopify.com:443`, `x.myshopify.com/admin`).
"""

from __future__ import annotations

import re

from plugin.errors import InvalidShopDomain

# Shopify shop names: letters, digits and hyphens, starting with a letter or digit (Shopify's own regex in
# shopify-api-js shop-validator and shopify_python_api sanitize_shop_domain). 60 characters is generous.
_SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]{0,59}\.myshopify\.com")


def is_valid_shop_domain(value: object) -> bool:
    return isinstance(value, str) and _SHOP_DOMAIN.fullmatch(value) is not None


def validate_shop_domain(value: object) -> str:
    """Return `value` when it is exactly a lowercase `name.myshopify.com`, else raise InvalidShopDomain.

    Uppercase is refused, not lowered: Shopify always sends lowercase, so anything else did not come from it.
    """
    if not is_valid_shop_domain(value):
        raise InvalidShopDomain(
            f"{str(value)[:80]!r} is not a shop domain: expected the store's `name.myshopify.com` address."
        )
    assert isinstance(value, str)
    return value
