"""Fixtures of the job-layer tests: storage in a temp dir, the app wired to the emulator, a shop in both places.

Celery: the web app's tasks are not run in these unit-level tests (no worker); what a service sent after commit is
read back from the broker queue in Redis (`queued_tasks`), which is how a real worker would receive it.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from PIL import Image, ImageDraw


@pytest.fixture
def storage_dir(tmp_path: Any) -> Any:
    return tmp_path / "storage"


@pytest.fixture
def app_config(app_config: dict[str, Any], storage_dir: Any, emulator: Any, redis_url: str) -> dict[str, Any]:
    return {
        **app_config,
        "POSE_STUDIO_STORAGE_URL": storage_dir.as_uri(),
        "SHOPIFY_ADMIN_ORIGIN": emulator.origin,
        "REDIS_URL": redis_url,
    }


@pytest.fixture
def shop(app: Any, make_shop: Callable[..., Any], emulator: Any) -> Any:
    """An installed shop known to both the app and the emulator (with its seeded catalog)."""
    s = make_shop()
    emu_shop = emulator.add_shop(s.domain)
    # the app's stored token must be one the emulator accepts
    from plugin.extensions import db
    from plugin.models.shop import Shop
    from plugin.shopify.token_store import TokenPair, store_token_pair

    token = emulator.issue_access_token(s.domain)
    with app.app_context():
        from datetime import UTC, datetime, timedelta

        now = datetime.now(UTC)
        store_token_pair(s.domain, TokenPair(access_token=token, access_expires_at=now + timedelta(hours=1),
                                             refresh_token="shprt_x", refresh_expires_at=now + timedelta(days=9),
                                             scopes="read_products,write_products,read_files,write_files"))
        row = db.session.scalars(db.select(Shop).where(Shop.domain == s.domain)).one()
        db.session.expunge(row)
    row.emu = emu_shop
    return row


def queued_tasks(redis_url: str, queue: str = "shopify") -> list[dict[str, Any]]:
    """The task messages waiting in a queue (kombu's Redis transport: a list named after the queue)."""
    r = redis.Redis.from_url(redis_url)
    out = []
    for raw in r.lrange(queue, 0, -1):
        msg = json.loads(raw)
        body = json.loads(base64.b64decode(msg["body"]))
        out.append({"name": msg["headers"]["task"], "kwargs": body[1]})
    return list(reversed(out))  # LPUSH: oldest last


def person_png(size: int = 256, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    im = Image.new("RGB", (size, size), (240, 240, 240))
    ImageDraw.Draw(im).rectangle((size // 3, size // 5, 2 * size // 3, 4 * size // 5), fill=colour)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
