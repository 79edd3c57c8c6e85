"""Resolvers for the part of the Admin API the app uses, over the in-memory store.

Objects are plain dicts; a value that is callable is called with (info, **args) by `field_resolver`, so a dict can
carry a lazy field (a connection, a nested product). Abstract types resolve through the dict's `__typename`.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from graphql import GraphQLError, GraphQLResolveInfo, OperationDefinitionNode, execute_sync, parse

from . import billing
from .bulk_limits import bulk_shape, concurrent_bulk_queries, shape_errors
from .store import (
    PLAN_DISPLAY,
    EmuBulkOperation,
    EmuCollection,
    EmuJob,
    EmuMedia,
    EmuProduct,
    EmuShop,
    EmuVariant,
    MediaStatus,
    StagedUpload,
    cdn_url,
    image_size,
    iso,
    next_id,
)

if TYPE_CHECKING:
    from .emulator import ShopifyEmulator

MAX_PAGE = 250
ALT_LIMIT = 512


@dataclass
class Ctx:
    emu: ShopifyEmulator
    shop: EmuShop
    origin: str
    version: str
    bulk: bool = False
    touched_products: set[str] = field(default_factory=set)


def field_resolver(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    value = source.get(info.field_name) if isinstance(source, dict) else getattr(source, info.field_name, None)
    if callable(value):
        return value(info, **args)
    return value


def type_resolver(value: Any, info: GraphQLResolveInfo, abstract_type: Any) -> str | None:
    return value.get("__typename") if isinstance(value, dict) else None


# -- connections ---------------------------------------------------------------------------------------------
def _cursor(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": key}).encode()).decode()


def _uncursor(cursor: str) -> str:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))["k"]
    except (ValueError, KeyError) as exc:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor}") from exc


def connection(
    ctx: Ctx,
    items: list[tuple[str, Any]],
    view: Callable[[Any], dict[str, Any]],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    reverse: bool = False,
    **_: Any,
) -> dict[str, Any]:
    """Relay connection over (key, item) pairs; Shopify requires first or last except inside bulk operations."""
    if reverse:
        items = list(reversed(items))
    if not ctx.bulk:
        if first is None and last is None:
            raise GraphQLError("you must provide one of first or last")
        if (first or 0) > MAX_PAGE or (last or 0) > MAX_PAGE:
            raise GraphQLError(f"The page size is too large: first/last must be at most {MAX_PAGE}")
    keys = [k for k, _ in items]
    start, end = 0, len(items)
    if after is not None:
        key = _uncursor(after)
        start = keys.index(key) + 1 if key in keys else len(keys)
    if before is not None:
        key = _uncursor(before)
        end = keys.index(key) if key in keys else end
    window = items[start:end]
    if first is not None:
        page = window[:first]
        has_next, has_prev = len(window) > first, start > 0
    elif last is not None:
        page = window[-last:] if last else []
        has_next, has_prev = end < len(items), len(window) > last
    else:
        page, has_next, has_prev = window, False, start > 0
    nodes = [view(item) for _, item in page]
    edges = [{"cursor": _cursor(k), "node": n} for (k, _), n in zip(page, nodes, strict=True)]
    return {
        "nodes": nodes,
        "edges": edges,
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_prev,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


# -- views ---------------------------------------------------------------------------------------------------
def media_view(ctx: Ctx, m: EmuMedia) -> dict[str, Any]:
    status = m.status()
    url = cdn_url(ctx.origin, ctx.shop, m)
    image = None
    if status == MediaStatus.READY:
        image = {
            "__typename": "Image",
            "id": f"gid://shopify/ImageSource/{m.num}",
            "url": lambda info, **a: url,
            "width": m.width,
            "height": m.height,
            "altText": m.alt or None,
            "thumbhash": None,
        }
    errors = []
    if status == MediaStatus.FAILED:
        errors = [{"code": m.fail_code, "details": m.fail_message, "message": m.fail_message}]
    return {
        "__typename": "MediaImage",
        "id": m.gid,
        "alt": m.alt,
        "mediaContentType": "IMAGE",
        "mimeType": m.mime,
        "status": status.value,
        "fileStatus": status.value,
        "mediaErrors": errors,
        "fileErrors": errors,
        "mediaWarnings": [],
        "image": image,
        "preview": {"status": status.value, "image": image},
        # the stored original exists from upload on, behind a signed short-lived URL without the filename
        "originalSource": {"url": ctx.emu.original_source_url(ctx.origin, ctx.shop, m), "fileSize": len(m.data)},
        "createdAt": iso(m.created_at),
        "updatedAt": iso(m.updated_at or m.created_at),
    }


def variant_view(ctx: Ctx, product: EmuProduct, v: EmuVariant) -> dict[str, Any]:
    shop = ctx.shop
    return {
        "__typename": "ProductVariant",
        "id": v.gid,
        "legacyResourceId": str(v.num),
        "title": v.title,
        "displayName": f"{product.title} - {v.title}",
        "sku": v.sku,
        "price": v.price,
        "selectedOptions": [{"name": n, "value": val} for n, val in v.options],
        "media": lambda info, **a: connection(
            ctx, [(mid, shop.media[mid]) for mid in v.media_ids], lambda m: media_view(ctx, m), **a
        ),
        "product": lambda info, **a: product_view(ctx, product),
        "updatedAt": iso(product.updated_at),
    }


def product_view(ctx: Ctx, p: EmuProduct) -> dict[str, Any]:
    shop = ctx.shop
    gallery = [(mid, shop.media[mid]) for mid in p.media_ids]
    return {
        "__typename": "Product",
        "id": p.gid,
        "legacyResourceId": str(p.num),
        "title": p.title,
        "handle": p.handle,
        "vendor": p.vendor,
        "productType": p.product_type,
        "tags": p.tags,
        "status": "ACTIVE",
        "createdAt": iso(p.created_at),
        "updatedAt": iso(p.updated_at),
        "hasOnlyDefaultVariant": len(p.variants) == 1 and p.variants[0].title == "Default Title",
        "featuredMedia": media_view(ctx, gallery[0][1]) if gallery else None,
        "mediaCount": {"count": len(gallery), "precision": "EXACT"},
        "variantsCount": {"count": len(p.variants), "precision": "EXACT"},
        "media": lambda info, **a: connection(ctx, gallery, lambda m: media_view(ctx, m), **a),
        "variants": lambda info, **a: connection(
            ctx, [(v.gid, v) for v in p.variants], lambda v: variant_view(ctx, p, v), **a
        ),
        "collections": lambda info, **a: connection(
            ctx, [(c.gid, c) for c in shop.collections.values() if p.gid in c.product_ids], collection_view, **a
        ),
    }


def collection_view(c: EmuCollection) -> dict[str, Any]:
    return {"__typename": "Collection", "id": c.gid, "legacyResourceId": str(c.num), "title": c.title,
            "handle": c.handle}


def shop_view(ctx: Ctx) -> dict[str, Any]:
    s = ctx.shop
    return {
        "__typename": "Shop",
        "id": s.gid,
        "name": s.domain.split(".")[0].replace("-", " ").title(),
        "myshopifyDomain": s.domain,
        "email": f"owner@{s.domain}",
        "contactEmail": f"owner@{s.domain}",
        "currencyCode": "USD",
        "ianaTimezone": "Europe/Berlin",
        "plan": {
            "partnerDevelopment": False,
            "publicDisplayName": PLAN_DISPLAY[s.plan],
            "shopifyPlus": s.plan in ("plus", "enterprise"),
        },
    }


def job_view(job: EmuJob) -> dict[str, Any]:
    return {"__typename": "Job", "id": job.gid, "done": time.time() >= job.done_at, "query": None}


def bulk_view(ctx: Ctx, op: EmuBulkOperation) -> dict[str, Any]:
    done = time.time() >= op.completes_at
    body = "\n".join(op.lines) + ("\n" if op.lines else "")
    return {
        "__typename": "BulkOperation",
        "id": op.gid,
        "status": "COMPLETED" if done else "RUNNING",
        "type": "QUERY",
        "query": op.query,
        "errorCode": None,
        "createdAt": iso(op.created_at),
        "completedAt": iso(op.completes_at) if done else None,
        "objectCount": str(len(op.lines)) if done else "0",
        "rootObjectCount": str(op.root_count) if done else "0",
        "fileSize": str(len(body.encode())) if done else None,
        "url": f"{ctx.origin}/bulk/{op.uuid}.jsonl" if done else None,
        "partialDataUrl": None,
    }


def node_view(ctx: Ctx, gid: str) -> dict[str, Any] | None:
    shop = ctx.shop
    kind = gid.split("/")[-2] if gid.count("/") >= 4 else ""
    if kind == "Product" and gid in shop.products:
        return product_view(ctx, shop.products[gid])
    if kind == "MediaImage" and gid in shop.media:
        return media_view(ctx, shop.media[gid])
    if kind == "ProductVariant":
        for p in shop.products.values():
            for v in p.variants:
                if v.gid == gid:
                    return variant_view(ctx, p, v)
    if kind == "Job" and gid in shop.jobs:
        return job_view(shop.jobs[gid])
    if kind == "BulkOperation" and gid in shop.bulk_operations:
        return bulk_view(ctx, shop.bulk_operations[gid])
    if kind == "AppSubscription" and gid in shop.subscriptions:
        return billing.subscription_view(shop.subscriptions[gid])
    return None


# -- search ----------------------------------------------------------------------------------------------------
def _matches(query: str | None, text_fields: dict[str, str | list[str]]) -> bool:
    """A small subset of Shopify's search syntax: `field:value`, `field:prefix*`, bare words (title). A field with
    several values (a file's `product_id`) matches when any of them does."""
    if not query:
        return True
    for term in query.split():
        name, _, value = term.partition(":") if ":" in term else ("title", "", term)
        field_value = text_fields.get(name.lower(), "")
        values = [v.lower() for v in (field_value if isinstance(field_value, list) else [field_value])]
        value = value.strip("'\"").lower()
        if value.endswith("*"):
            if not any(have.startswith(value[:-1]) for have in values):
                return False
        elif name.lower() == "title" and ":" not in term:
            if not any(value in have for have in values):
                return False
        elif value not in values:
            return False
    return True


# -- roots -----------------------------------------------------------------------------------------------------
def query_root(ctx: Ctx) -> dict[str, Any]:
    shop = ctx.shop

    def products(info: Any, query: str | None = None, sortKey: str | None = None, **a: Any) -> dict[str, Any]:  # noqa: N803
        items = [
            (p.gid, p)
            for p in shop.products.values()
            if _matches(query, {"title": p.title, "handle": p.handle, "vendor": p.vendor, "id": str(p.num)})
        ]
        if sortKey == "TITLE":
            items.sort(key=lambda kv: kv[1].title)
        elif sortKey == "UPDATED_AT":
            items.sort(key=lambda kv: kv[1].updated_at)
        return connection(ctx, items, lambda p: product_view(ctx, p), **a)

    def files(info: Any, query: str | None = None, sortKey: str | None = None, **a: Any) -> dict[str, Any]:  # noqa: N803
        items = [
            (m.gid, m)
            for m in shop.media.values()
            if _matches(
                query,
                {
                    "filename": m.filename,
                    "title": m.alt,
                    "status": m.status().value,
                    "media_type": "IMAGE",
                    "id": m.gid.rsplit("/", 1)[-1],
                    "product_id": [pid.rsplit("/", 1)[-1] for pid in m.product_ids],
                },
            )
        ]
        return connection(ctx, items, lambda m: media_view(ctx, m), **a)

    def product_variants(info: Any, query: str | None = None, **a: Any) -> dict[str, Any]:
        items = [
            (v.gid, (p, v))
            for p in shop.products.values()
            for v in p.variants
            if _matches(query, {"sku": v.sku, "title": v.title})
        ]
        a.pop("sortKey", None)
        return connection(ctx, items, lambda pv: variant_view(ctx, pv[0], pv[1]), **a)

    def bulk_operations(info: Any, query: str | None = None, **a: Any) -> dict[str, Any]:
        ops = sorted(shop.bulk_operations.values(), key=lambda o: o.created_at, reverse=True)
        views = [(o.gid, bulk_view(ctx, o)) for o in ops]
        if query:
            views = [(k, v) for k, v in views if _matches(query, {"status": v["status"], "type": "query"})]
        a.pop("sortKey", None)
        return connection(ctx, views, lambda v: v, **a)

    return {
        "shop": lambda info: shop_view(ctx),
        "product": lambda info, id: product_view(ctx, shop.products[id]) if id in shop.products else None,
        "products": products,
        "productVariants": product_variants,
        "files": files,
        "node": lambda info, id: node_view(ctx, id),
        "nodes": lambda info, ids: [node_view(ctx, i) for i in ids],
        "job": lambda info, id: job_view(shop.jobs[id]) if id in shop.jobs else None,
        "bulkOperation": lambda info, id: (
            bulk_view(ctx, shop.bulk_operations[id]) if id in shop.bulk_operations else None
        ),
        "bulkOperations": bulk_operations,
        "currentAppInstallation": lambda info: billing.current_app_installation(ctx),
    }


def mutation_root(ctx: Ctx) -> dict[str, Any]:
    return {
        "stagedUploadsCreate": lambda info, input: staged_uploads_create(ctx, input),
        "productUpdate": lambda info, **a: product_update(ctx, **a),
        "fileCreate": lambda info, files: file_create(ctx, files),
        "fileUpdate": lambda info, files: file_update(ctx, files),
        "fileDelete": lambda info, fileIds: file_delete(ctx, fileIds),
        "productReorderMedia": lambda info, id, moves: reorder_media(ctx, id, moves),
        "productVariantAppendMedia": lambda info, productId, variantMedia: variant_media(
            ctx, productId, variantMedia, append=True
        ),
        "productVariantDetachMedia": lambda info, productId, variantMedia: variant_media(
            ctx, productId, variantMedia, append=False
        ),
        "bulkOperationRunQuery": lambda info, query, groupObjects: bulk_run_query(ctx, query),
        "appSubscriptionCreate": lambda info, **a: billing.app_subscription_create(ctx, **a),
        "appUsageRecordCreate": lambda info, **a: billing.app_usage_record_create(ctx, **a),
    }


# -- mutations -------------------------------------------------------------------------------------------------
def staged_uploads_create(ctx: Ctx, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    targets, errors = [], []
    for i, item in enumerate(inputs):
        if item["resource"] not in ("IMAGE", "FILE"):
            errors.append(
                {"field": ["input", str(i), "resource"], "message": "The emulator stages IMAGE and FILE only"}
            )
            continue
        token = str(uuid.uuid4())
        filename = item["filename"].rsplit("/", 1)[-1]
        key = f"tmp/{ctx.shop.num}/products/{token}/{filename}"
        method = item.get("httpMethod") or "PUT"
        params = [
            ("Content-Type", item["mimeType"]),
            ("success_action_status", "201"),
            ("acl", "private"),
            ("key", key),
        ]
        if method == "POST":
            policy = base64.b64encode(json.dumps({"key": key, "uuid": token}).encode()).decode()
            params += [("policy", policy), ("x-goog-signature", ctx.emu.sign(policy))]
        ctx.emu.staged[token] = StagedUpload(token, ctx.shop.domain, filename, item["mimeType"], key, params)
        targets.append(
            {
                "url": f"{ctx.origin}/staged/{token}",
                "resourceUrl": f"{ctx.origin}/staged/{token}/{filename}",
                "parameters": [{"name": n, "value": v} for n, v in params],
            }
        )
    return {"stagedTargets": targets, "userErrors": errors}


def _new_media(ctx: Ctx, source: str, alt: str | None, filename: str | None = None) -> EmuMedia:
    """Create a media from an originalSource; it becomes READY (or FAILED) after the emulator's delay."""
    emu, shop = ctx.emu, ctx.shop
    data, mime, fail = b"", "application/octet-stream", None
    path = urlsplit(source).path
    parts = path.strip("/").split("/")
    if source.startswith(ctx.origin) and parts[:1] == ["staged"] and len(parts) >= 2:
        staged = emu.staged.get(parts[1])
        if staged is None or staged.data is None or staged.shop != shop.domain:
            fail = ("IMAGE_DOWNLOAD_FAILURE", "Media failed to download: the staged upload holds no file")
        else:
            data, mime = staged.data, staged.mime
            filename = filename or staged.filename
    elif source.startswith(ctx.origin) and parts[:1] == ["cdn"]:
        existing = next((m for m in shop.media.values() if m.filename == parts[-1]), None)
        if existing is None:
            fail = ("IMAGE_DOWNLOAD_FAILURE", "Media failed to download from the source URL")
        else:
            data, mime = existing.data, existing.mime
    else:
        fail = ("IMAGE_DOWNLOAD_FAILURE", "The emulator cannot download external URLs; stage the upload")
    filename = filename or parts[-1] or "file"
    if shop.filename_taken(filename):  # Shopify's APPEND_UUID default for a taken name
        stem, dot, ext = filename.rpartition(".")
        filename = f"{stem}_{uuid.uuid4()}{dot}{ext}" if dot else f"{filename}_{uuid.uuid4()}"
    size = image_size(data) if data else None
    if fail is None and size is None:
        fail = (
            "UNSUPPORTED_IMAGE_FILE_TYPE",
            "Image upload failed: the file is not a supported image format",
        )
    if fail is None and emu.faults.roll("media_failed"):
        fail = ("IMAGE_PROCESSING_FAILURE", "Image processing failed (injected fault)")
    now = time.time()
    media = EmuMedia(
        num=next_id(),
        filename=filename,
        alt=alt or "",
        data=data,
        mime=mime,
        created_at=now,
        ready_at=now + emu.media_ready_delay,
        width=size[0] if size else None,
        height=size[1] if size else None,
        fail_code=fail[0] if fail else None,
        fail_message=fail[1] if fail else "",
    )
    shop.media[media.gid] = media
    return media


def _attach(ctx: Ctx, product: EmuProduct, media: EmuMedia) -> None:
    product.media_ids.append(media.gid)
    media.product_ids.append(product.gid)
    _touch(ctx, product)


def _touch(ctx: Ctx, product: EmuProduct) -> None:
    product.updated_at = time.time()
    ctx.touched_products.add(product.gid)


def product_update(
    ctx: Ctx,
    product: dict[str, Any] | None = None,
    media: list[dict[str, Any]] | None = None,
    identifier: dict[str, Any] | None = None,
    **_: Any,
) -> dict[str, Any]:
    pid = (product or {}).get("id") or (identifier or {}).get("id")
    p = ctx.shop.products.get(pid or "")
    if p is None:
        return {
            "product": None,
            "userErrors": [{"field": ["product", "id"], "message": "Product does not exist"}],
        }
    errors = []
    for key, attr in (
        ("title", "title"),
        ("handle", "handle"),
        ("vendor", "vendor"),
        ("productType", "product_type"),
    ):
        if product and product.get(key) is not None:
            setattr(p, attr, product[key])
            _touch(ctx, p)
    for i, item in enumerate(media or []):
        if item.get("mediaContentType") != "IMAGE":
            errors.append({"field": ["media", str(i), "mediaContentType"], "message": "The emulator supports IMAGE"})
            continue
        if item.get("alt") and len(item["alt"]) > ALT_LIMIT:
            errors.append({"field": ["media", str(i), "alt"], "message": "Alt value limit exceeded (512)"})
            continue
        _attach(ctx, p, _new_media(ctx, item["originalSource"], item.get("alt")))
    return {"product": product_view(ctx, p), "userErrors": errors}


def file_create(ctx: Ctx, files: list[dict[str, Any]]) -> dict[str, Any]:
    created, errors = [], []
    for i, item in enumerate(files):
        filename = item.get("filename")
        mode = item.get("duplicateResolutionMode") or "APPEND_UUID"
        if filename and mode == "RAISE_ERROR" and ctx.shop.filename_taken(filename):
            errors.append(
                {
                    "field": ["files", str(i), "filename"],
                    "code": "FILENAME_ALREADY_EXISTS",
                    "message": f"Filename {filename} already exists",
                }
            )
            continue
        if filename and mode == "REPLACE":
            for m in list(ctx.shop.media.values()):
                if m.filename == filename:
                    _remove_media(ctx, m)
        created.append(media_view(ctx, _new_media(ctx, item["originalSource"], item.get("alt"), filename)))
    return {"files": created, "userErrors": errors}


def _remove_media(ctx: Ctx, media: EmuMedia) -> None:
    for pid in media.product_ids:
        p = ctx.shop.products.get(pid)
        if p is None:
            continue
        p.media_ids = [m for m in p.media_ids if m != media.gid]
        for v in p.variants:
            v.media_ids = [m for m in v.media_ids if m != media.gid]
        _touch(ctx, p)
    ctx.shop.media.pop(media.gid, None)


def file_update(ctx: Ctx, files: list[dict[str, Any]]) -> dict[str, Any]:
    out, errors = [], []
    for i, item in enumerate(files):
        m = ctx.shop.media.get(item["id"])
        if m is None:
            errors.append(
                {
                    "field": ["files", str(i), "id"],
                    "code": "FILE_DOES_NOT_EXIST",
                    "message": "File does not exist",
                }
            )
            continue
        if m.status() != MediaStatus.READY:
            errors.append(
                {
                    "field": ["files", str(i), "id"],
                    "code": "NON_READY_STATE",
                    "message": "The file is not in the READY state",
                }
            )
            continue
        if item.get("alt") is not None:
            if len(item["alt"]) > ALT_LIMIT:
                errors.append(
                    {
                        "field": ["files", str(i), "alt"],
                        "code": "ALT_VALUE_LIMIT_EXCEEDED",
                        "message": "Alt value limit exceeded",
                    }
                )
                continue
            m.alt = item["alt"]
        if item.get("filename"):
            m.filename = item["filename"]
        for pid in item.get("referencesToAdd") or ():
            p = ctx.shop.products.get(pid)
            if p is None:
                errors.append(
                    {
                        "field": ["files", str(i), "referencesToAdd"],
                        "code": "REFERENCE_TARGET_DOES_NOT_EXIST",
                        "message": f"{pid} does not exist",
                    }
                )
            elif m.gid not in p.media_ids:
                _attach(ctx, p, m)
        for pid in item.get("referencesToRemove") or ():
            p = ctx.shop.products.get(pid)
            if p is not None and m.gid in p.media_ids:
                p.media_ids.remove(m.gid)
                m.product_ids.remove(pid)
                for v in p.variants:
                    v.media_ids = [x for x in v.media_ids if x != m.gid]
                _touch(ctx, p)
        m.updated_at = time.time()
        for pid in m.product_ids:
            if pid in ctx.shop.products:
                _touch(ctx, ctx.shop.products[pid])
        out.append(media_view(ctx, m))
    return {"files": out, "userErrors": errors}


def file_delete(ctx: Ctx, ids: list[str]) -> dict[str, Any]:
    deleted, errors = [], []
    for i, fid in enumerate(ids):
        m = ctx.shop.media.get(fid)
        if m is None:
            errors.append(
                {
                    "field": ["fileIds", str(i)],
                    "code": "FILE_DOES_NOT_EXIST",
                    "message": "File does not exist",
                }
            )
        elif m.status() in (MediaStatus.UPLOADED, MediaStatus.PROCESSING):
            errors.append(
                {
                    "field": ["fileIds", str(i)],
                    "code": "FILE_LOCKED",
                    "message": "The file is being processed and cannot be deleted",
                }
            )
        else:
            _remove_media(ctx, m)
            deleted.append(fid)
    return {"deletedFileIds": deleted, "userErrors": errors}


def reorder_media(ctx: Ctx, product_id: str, moves: list[dict[str, Any]]) -> dict[str, Any]:
    p = ctx.shop.products.get(product_id)
    if p is None:
        return {
            "job": None,
            "mediaUserErrors": [
                {"field": ["id"], "code": "PRODUCT_DOES_NOT_EXIST", "message": "Product does not exist"}
            ],
            "userErrors": [],
        }
    order = list(p.media_ids)
    for i, move in enumerate(moves):
        if move["id"] not in order:
            return {
                "job": None,
                "userErrors": [],
                "mediaUserErrors": [
                    {
                        "field": ["moves", str(i), "id"],
                        "code": "MEDIA_DOES_NOT_EXIST_ON_PRODUCT",
                        "message": "Media does not exist on the given product",
                    }
                ],
            }
        order.remove(move["id"])
        order.insert(min(int(move["newPosition"]), len(order)), move["id"])
    p.media_ids = order  # applied now; the Job reports done after the emulator's job delay like Shopify's queue
    _touch(ctx, p)
    job = EmuJob(next_id(), time.time() + ctx.emu.job_delay)
    ctx.shop.jobs[job.gid] = job
    return {"job": job_view(job), "mediaUserErrors": [], "userErrors": []}


def variant_media(ctx: Ctx, product_id: str, pairs: list[dict[str, Any]], *, append: bool) -> dict[str, Any]:
    """productVariantAppendMedia / DetachMedia with Shopify's validation; all-or-nothing like the real mutation."""
    p = ctx.shop.products.get(product_id)

    def err(i: int, code: str, message: str, fld: str = "variantId") -> dict[str, Any]:
        return {
            "product": None,
            "productVariants": None,
            "userErrors": [{"field": ["variantMedia", str(i), fld], "code": code, "message": message}],
        }

    if p is None:
        return {
            "product": None,
            "productVariants": None,
            "userErrors": [
                {
                    "field": ["productId"],
                    "code": "PRODUCT_DOES_NOT_EXIST",
                    "message": "Product does not exist",
                }
            ],
        }
    if len(pairs) > 100:
        return err(0, "MAXIMUM_VARIANT_MEDIA_PAIRS_EXCEEDED", "Exceeded the maximum number of 100 pairs")
    variants = {v.gid: v for v in p.variants}
    seen: set[str] = set()
    for i, pair in enumerate(pairs):
        v = variants.get(pair["variantId"])
        if v is None:
            return err(i, "PRODUCT_VARIANT_DOES_NOT_EXIST_ON_PRODUCT", "Variant does not exist on the given product")
        if v.gid in seen:
            return err(i, "PRODUCT_VARIANT_SPECIFIED_MULTIPLE_TIMES", "Variant specified in more than one pair")
        seen.add(v.gid)
        if len(pair["mediaIds"]) != 1:
            return err(
                i,
                "TOO_MANY_MEDIA_PER_INPUT_PAIR",
                "Only one mediaId is allowed per variant-media input pair",
                "mediaIds",
            )
        mid = pair["mediaIds"][0]
        if mid not in p.media_ids:
            return err(i, "MEDIA_DOES_NOT_EXIST_ON_PRODUCT", "Media does not exist on the given product", "mediaIds")
        if append:
            if ctx.shop.media[mid].status() != MediaStatus.READY:
                return err(i, "NON_READY_MEDIA", "Non-ready media are not supported.", "mediaIds")
            if v.media_ids:
                return err(i, "PRODUCT_VARIANT_ALREADY_HAS_MEDIA", "Product variant already has attached media")
        elif mid not in v.media_ids:
            return err(
                i,
                "MEDIA_IS_NOT_ATTACHED_TO_VARIANT",
                "The specified media is not attached to the variant",
                "mediaIds",
            )
    for pair in pairs:
        v = variants[pair["variantId"]]
        v.media_ids = list(pair["mediaIds"]) if append else []
    _touch(ctx, p)
    return {
        "product": product_view(ctx, p),
        "productVariants": [variant_view(ctx, p, variants[pair["variantId"]]) for pair in pairs],
        "userErrors": [],
    }


def bulk_run_query(ctx: Ctx, query: str) -> dict[str, Any]:
    """Run the inner query now (a snapshot), serve the JSONL when the emulator's bulk delay has passed."""
    from .schema import load_schema, validate_document

    schema = load_schema(ctx.version)
    try:
        doc = parse(query)
    except GraphQLError as exc:
        return {
            "bulkOperation": None,
            "userErrors": [{"field": ["query"], "code": "INVALID", "message": str(exc)}],
        }
    problems = validate_document(schema, doc)
    if problems:
        return {
            "bulkOperation": None,
            "userErrors": [{"field": ["query"], "code": "INVALID", "message": "; ".join(p.message for p in problems)}],
        }
    inner = next((d for d in doc.definitions if isinstance(d, OperationDefinitionNode)), None)
    limits = shape_errors(bulk_shape(schema, doc, inner)) if inner is not None else ["No operation to run"]
    if limits:
        ctx.emu.stats.bulk_refused += 1
        return {
            "bulkOperation": None,
            "userErrors": [{"field": ["query"], "code": "INVALID", "message": " ".join(limits)}],
        }
    now = time.time()
    cap = ctx.emu.bulk_concurrency or concurrent_bulk_queries(ctx.version)
    running = [op for op in ctx.shop.bulk_operations.values() if op.completes_at > now]
    if len(running) >= cap:
        ctx.emu.stats.bulk_refused += 1
        message = (
            f"A bulk query operation for this app and shop is already in progress: {running[0].gid}."
            if cap == 1
            else f"This app already runs {cap} bulk query operations for this shop."
        )
        return {
            "bulkOperation": None,
            "userErrors": [{"field": None, "code": "OPERATION_IN_PROGRESS", "message": message}],
        }
    bulk_ctx = Ctx(ctx.emu, ctx.shop, ctx.origin, ctx.version, bulk=True)
    result = execute_sync(  # every resolver is synchronous: a plain ExecutionResult, never an awaitable
        schema,
        doc,
        root_value=query_root(bulk_ctx),
        field_resolver=field_resolver,
        type_resolver=type_resolver,
    )
    if result.errors:
        return {
            "bulkOperation": None,
            "userErrors": [
                {
                    "field": ["query"],
                    "code": "INVALID",
                    "message": "; ".join(e.message for e in result.errors),
                }
            ],
        }
    lines: list[str] = []
    roots = 0
    for value in (result.data or {}).values():
        if _is_connection(value):
            roots += _flatten(value, None, lines)
    op = EmuBulkOperation(next_id(), query, now, now + ctx.emu.bulk_delay, lines, roots, str(uuid.uuid4()))
    ctx.shop.bulk_operations[op.gid] = op
    ctx.emu.bulk_files[op.uuid] = op
    ctx.emu.schedule_bulk_finish(ctx.shop, op)
    return {"bulkOperation": bulk_view(ctx, op), "userErrors": []}


def _is_connection(value: Any) -> bool:
    return isinstance(value, dict) and (isinstance(value.get("edges"), list) or isinstance(value.get("nodes"), list))


def _flatten(conn: dict[str, Any], parent_id: str | None, lines: list[str]) -> int:
    """Bulk JSONL: one line per node, nested connection nodes as their own lines with __parentId."""
    nodes: Iterable[Any] = [e["node"] for e in conn["edges"]] if isinstance(conn.get("edges"), list) else conn["nodes"]
    count = 0
    for node in nodes:
        line: dict[str, Any] = {}
        children: list[dict[str, Any]] = []
        for k, v in node.items():
            if _is_connection(v):
                children.append(v)
            else:
                line[k] = v
        if parent_id:
            line["__parentId"] = parent_id
        lines.append(json.dumps(line, separators=(",", ":")))
        count += 1
        for child in children:
            _flatten(child, node.get("id"), lines)
    return count
