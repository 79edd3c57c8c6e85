"""Persistence of a shop's offline token pair: encrypted at rest, written atomically, never logged.

Writes go through their own short session so that storing a refreshed pair commits exactly that and nothing a
caller happened to have pending in `db.session`; callers re-read the Shop row afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plugin.errors import TokenEncryptionError
from plugin.extensions import db, utcnow
from plugin.models.shop import Shop
from plugin.security.crypto import RotationOutcome, get_cipher
from plugin.security.shop_domain import validate_shop_domain
from pose_studio.log_redaction import register_secrets


@dataclass(frozen=True, repr=False)
class TokenPair:
    access_token: str
    access_expires_at: datetime | None
    refresh_token: str | None
    refresh_expires_at: datetime | None
    scopes: str = ""

    def __repr__(self) -> str:  # a dataclass repr would print the tokens
        return (
            f"TokenPair(access_expires_at={self.access_expires_at}, "
            f"refresh_expires_at={self.refresh_expires_at})"
        )

    def expires_within(self, margin: timedelta) -> bool:
        return self.access_expires_at is not None and self.access_expires_at - utcnow() < margin


def store_token_pair(shop_domain: str, pair: TokenPair, *, confirms_install: bool = False) -> int:
    """Insert or update the shop with this pair in one statement (concurrent first exchanges are an upsert,
    not a unique-violation). Marks the shop installed (again, if it was uninstalled). Returns the shop id.

    `confirms_install`: the pair comes from a token exchange or an OAuth code, which Shopify grants only to an
    installed app, so `installed_at` moves to now. An app/uninstalled that was triggered before it belongs to an
    earlier installation (a late or out-of-order delivery) and is ignored; without this, a reinstall whose
    uninstall webhook had not arrived yet kept the old installed_at and the late webhook wiped the fresh install."""
    shop_domain = validate_shop_domain(shop_domain)
    register_secrets(pair.access_token, pair.refresh_token)
    cipher = get_cipher()
    now = utcnow()
    token_values = {
        "access_token_encrypted": cipher.encrypt(pair.access_token),
        "refresh_token_encrypted": cipher.encrypt(pair.refresh_token) if pair.refresh_token else None,
        "access_token_expires_at": pair.access_expires_at,
        "refresh_token_expires_at": pair.refresh_expires_at,
        "scopes": pair.scopes,
        "updated_at": now,
    }
    with Session(db.engine) as session:
        dialect = session.get_bind().dialect.name
        if dialect not in ("postgresql", "sqlite"):  # pragma: no cover - we run on PostgreSQL and SQLite only
            raise NotImplementedError(f"token upsert is not implemented for {dialect}")
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = Shop.__table__
        statement = (
            insert(table)
            .values(domain=shop_domain, installed_at=now, uninstalled_at=None, created_at=now, **token_values)
            .on_conflict_do_update(
                index_elements=[table.c.domain],
                set_={
                    **token_values,
                    "installed_at": now if confirms_install else case(
                        (table.c.uninstalled_at.is_not(None), now),
                        else_=func.coalesce(table.c.installed_at, now),
                    ),
                    "uninstalled_at": None,
                },
            )
            .returning(table.c.id)
        )
        shop_id = session.execute(statement).scalar_one()
        session.commit()
    return int(shop_id)


def load_token_pair(shop: Shop) -> TokenPair | None:
    """The decrypted pair of `shop`, or None when it holds no token."""
    if not shop.access_token_encrypted:
        return None
    cipher = get_cipher()
    access = cipher.decrypt(shop.access_token_encrypted)
    refresh = cipher.decrypt(shop.refresh_token_encrypted) if shop.refresh_token_encrypted else None
    register_secrets(access, refresh)
    return TokenPair(
        access_token=access,
        access_expires_at=shop.access_token_expires_at,
        refresh_token=refresh,
        refresh_expires_at=shop.refresh_token_expires_at,
        scopes=shop.scopes,
    )


def read_shop(shop_domain: str) -> Shop | None:
    """A fresh read of the shop row in its own session (detached, safe to use across threads)."""
    with Session(db.engine, expire_on_commit=False) as session:
        return session.execute(select(Shop).where(Shop.domain == shop_domain)).scalar_one_or_none()


def clear_tokens(shop_id: int, *, uninstalled: bool) -> None:
    """Forget the token pair (revoked by Shopify on uninstall); the shop's data stays until shop/redact."""
    values: dict[str, object] = {
        "access_token_encrypted": None,
        "refresh_token_encrypted": None,
        "access_token_expires_at": None,
        "refresh_token_expires_at": None,
        "updated_at": utcnow(),
    }
    if uninstalled:
        values["uninstalled_at"] = utcnow()
    with Session(db.engine) as session:
        session.execute(update(Shop).where(Shop.id == shop_id).values(**values))
        session.commit()


@dataclass
class RotationReport:
    rotated: int = 0
    current: int = 0
    failed: int = 0


def rotate_token_encryption(
    on_progress: Callable[[int, int], None] | None = None, batch_size: int = 200
) -> RotationReport:
    """Re-encrypt every stored token under the first key of POSE_STUDIO_ENCRYPTION_KEYS.

    Each shop's pair is rewritten in its own short transaction with a row lock, so a concurrent refresh either
    sees the old ciphertext (still decryptable) or the new one.
    """
    cipher = get_cipher()
    report = RotationReport()
    with Session(db.engine) as session:
        shop_ids = list(session.execute(select(Shop.id).order_by(Shop.id)).scalars())
    total = len(shop_ids)
    for done, shop_id in enumerate(shop_ids, start=1):
        with Session(db.engine) as session:
            locked = select(Shop).where(Shop.id == shop_id).with_for_update()
            shop = session.execute(locked).scalar_one_or_none()
            if shop is not None:
                changed = False
                for column in ("access_token_encrypted", "refresh_token_encrypted"):
                    value = getattr(shop, column)
                    if not value:
                        continue
                    try:
                        new_value, outcome = cipher.rotate(value)
                    except TokenEncryptionError:  # counted and reported; that shop must open the app again
                        report.failed += 1
                        continue
                    if outcome is RotationOutcome.ROTATED:
                        setattr(shop, column, new_value)
                        report.rotated += 1
                        changed = True
                    else:
                        report.current += 1
                if changed:
                    session.commit()
        if on_progress is not None and (done % batch_size == 0 or done == total):
            on_progress(done, total)
    return report
