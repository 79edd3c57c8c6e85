"""The exception hierarchy of the web side. Every error the plugin raises on purpose derives from PluginError.

Messages are written for the person who has to act on them: what was wrong and what to do.
"""

from __future__ import annotations


class PluginError(Exception):
    """Base of every deliberate error raised by `plugin`."""


class ConfigError(PluginError):
    """A setting is missing or invalid; raised at startup so a bad deploy fails before serving traffic."""


class InvalidShopDomain(PluginError, ValueError):
    """A shop domain is not of the form `name.myshopify.com`."""


class TokenEncryptionError(PluginError):
    """A stored token cannot be decrypted with any configured key."""


class ShopifyAuthError(PluginError):
    """Authentication with Shopify failed (ID token, token exchange, refresh, OAuth)."""


class ShopNotInstalled(ShopifyAuthError):
    """The shop is unknown, uninstalled, or holds no usable token pair; it must open the app again."""


class TokenExchangeFailed(ShopifyAuthError):
    """Shopify refused to exchange an ID token or an authorization code for an access token."""

    def __init__(self, message: str, *, code: str = "exchange_error") -> None:
        super().__init__(message)
        self.code = code


class TokenRefreshFailed(ShopifyAuthError):
    """Shopify refused to refresh an expiring offline token; the shop must open the app for a new exchange."""

    def __init__(self, message: str, *, code: str = "refresh_error") -> None:
        super().__init__(message)
        self.code = code


class RefreshLockTimeout(ShopifyAuthError):
    """Another process held the per-shop refresh lock for too long."""
