"""A Shopify store that installed the app, and its expiring offline token pair (encrypted at rest)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plugin.extensions import db, utcnow


class Shop(db.Model):  # type: ignore[name-defined]
    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Always the lowercase `name.myshopify.com`, validated by plugin.security.shop_domain before it gets here.
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    # Fernet ciphertexts (plugin.security.crypto); never the plain token. Written together with the expiries in
    # one UPDATE so a reader never sees a new access token with an old refresh token.
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None]
    refresh_token_expires_at: Mapped[datetime | None]
    scopes: Mapped[str] = mapped_column(String(1024), default="")
    # When Shopify last confirmed the current installation (first install, reinstall, token exchange): a lifecycle
    # webhook triggered before it is about an earlier installation.
    installed_at: Mapped[datetime | None]
    uninstalled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def is_installed(self) -> bool:
        return self.installed_at is not None and self.uninstalled_at is None

    @property
    def has_tokens(self) -> bool:
        return bool(self.access_token_encrypted)

    def __repr__(self) -> str:  # never includes token material
        return f"<Shop {self.id} {self.domain}>"
