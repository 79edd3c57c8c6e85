"""Ids in REST-shaped webhook bodies (products/create|update): ProductImage ids mapped to MediaImage ids.

A products/* webhook body is the REST representation. Its `images[]` are ProductImages, with their own ids
(`admin_graphql_api_id` `gid://shopify/ProductImage/…`), and a variant's `image_id` is such a ProductImage id; the
GraphQL Admin API, the write-back and our records use MediaImage ids, which only the body's `media[]` carries. The
two lists describe the same gallery: an image is the media whose `preview_image.src` is its `src` (same CDN path),
else the IMAGE media at the same place in gallery order.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def _path(url: Any) -> str:
    return urlsplit(str(url or "")).path


def media_gid_by_image_id(payload: dict[str, Any]) -> dict[str, str]:
    """str(ProductImage numeric id) -> MediaImage gid, for every image of the body that has a media."""
    media = [m for m in payload.get("media") or [] if str(m.get("media_content_type") or "IMAGE").upper() == "IMAGE"]
    gids = [str(m.get("admin_graphql_api_id") or f"gid://shopify/MediaImage/{m.get('id')}") for m in media]
    by_path = {
        _path((m.get("preview_image") or {}).get("src")): gid
        for m, gid in zip(media, gids, strict=True)
        if (m.get("preview_image") or {}).get("src")
    }
    images = sorted(payload.get("images") or [], key=lambda img: int(img.get("position") or 0))
    mapping: dict[str, str] = {}
    for index, image in enumerate(images):
        key = str(image.get("id"))
        gid = by_path.get(_path(image.get("src")))
        if gid is None and len(images) == len(gids):
            gid = gids[index]  # no preview URL to compare: the same place in the gallery
        if gid is None:
            own = str(image.get("admin_graphql_api_id") or "")
            gid = own if own.startswith("gid://shopify/MediaImage/") else None  # an older body already in media ids
        if gid is not None:
            mapping[key] = gid
    return mapping


def image_media_gid(mapping: dict[str, str], image_id: Any) -> str | None:
    """The MediaImage gid of a ProductImage id (a variant's `image_id`, an image's `id`), None if unknown."""
    if image_id in (None, ""):
        return None
    return mapping.get(str(image_id).rsplit("/", 1)[-1])
