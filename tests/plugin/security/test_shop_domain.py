from __future__ import annotations

import pytest

from plugin.errors import InvalidShopDomain
from plugin.security.shop_domain import is_valid_shop_domain, validate_shop_domain


@pytest.mark.parametrize("domain", ["a.myshopify.com", "my-store-1.myshopify.com", "0abc.myshopify.com"])
def test_valid(domain: str) -> None:
    assert validate_shop_domain(domain) == domain


@pytest.mark.parametrize(
    "domain",
    ["evil.com", "x.myshopify.com.evil.com", "X.myshopify.com", "x.MYSHOPIFY.com", "x.myshopify.com:443",
     "x.myshopify.com/admin", "https://x.myshopify.com", "x.myshopify.com.", "-x.myshopify.com",
     "x_y.myshopify.com", "myshopify.com", ".myshopify.com", "a.b.myshopify.com", "user@x.myshopify.com",
     "x.myshopify.com\n", " x.myshopify.com", "", None, 42],
)
def test_invalid(domain: object) -> None:
    assert not is_valid_shop_domain(domain)
    with pytest.raises(InvalidShopDomain):
        validate_shop_domain(domain)
