"""Catalog reads: products with media and variants (cursor pages), one product, and bulk exports (run, poll,
download, stream-parse the JSONL).

Bulk JSONL has one object per line; a nested connection's nodes are lines of their own with `__parentId`, and
Shopify only promises they come after their parent, not right after it, so products are assembled by id and
yielded once the file is read (memory grows with the catalog, not with the file's text).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from plugin.shopify import operations as ops
from plugin.shopify.admin_api import AdminClient
from plugin.shopify.errors import BulkOperationFailed, ShopifyUserError

DEFAULT_PAGE_SIZE = 10  # ProductsPage costs 2 + 75 per product: 10 keeps a page at 752 of the 1,000 cap
BULK_DONE = {"COMPLETED", "FAILED", "CANCELED", "EXPIRED"}
BULK_BUSY = {"OPERATION_IN_PROGRESS", "LIMIT_REACHED"}  # no free bulk slot for this app and shop: wait


@dataclass(frozen=True)
class CatalogMedia:
    id: str
    alt: str
    status: str
    url: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class CatalogVariant:
    id: str
    title: str
    sku: str
    options: dict[str, str] = field(default_factory=dict)
    media_id: str | None = None  # the variant's own image (one at most)
    media_url: str | None = None  # its URL, when the read asked for it (ProductsPage)


@dataclass
class CatalogProduct:
    id: str
    title: str
    handle: str
    updated_at: str | None
    media: list[CatalogMedia] = field(default_factory=list)  # gallery order
    variants: list[CatalogVariant] = field(default_factory=list)
    # a batched read (ProductsByIds) got only the first page of these: the caller decides whether it needs the rest
    more_media: bool = False
    more_variants: bool = False


@dataclass(frozen=True)
class Collection:
    id: str
    handle: str
    title: str


@dataclass(frozen=True)
class BulkResult:
    id: str
    status: str
    url: str | None
    object_count: int
    root_object_count: int
    error_code: str | None = None


class Catalog:
    def __init__(
        self,
        client: AdminClient,
        *,
        bulk_poll_s: float = 2.0,
        bulk_poll_max_s: float = 30.0,
        bulk_timeout_s: float = 6 * 3600,
        download_session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.bulk_poll_s = bulk_poll_s
        self.bulk_poll_max_s = bulk_poll_max_s
        self.bulk_timeout_s = bulk_timeout_s
        self.download_session = download_session or requests.Session()
        self.sleep = sleep

    # -- paged reads --------------------------------------------------------------------------------------------
    def products_page(
        self, *, after: str | None = None, query: str | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> tuple[list[CatalogProduct], dict[str, Any]]:
        """One page of products matching Shopify search `query` after cursor `after`: (products, pageInfo)."""
        result = self.client.execute(
            ops.PRODUCTS_PAGE, {"first": page_size, "after": after, "query": query}
        ).raise_for_errors()
        connection = result.fields["products"]
        return [_product(node) for node in connection["nodes"]], dict(connection["pageInfo"])

    def iter_products(
        self, query: str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[CatalogProduct]:
        """Every product matching Shopify search `query`, page by page (first 10 media, 10 variants each)."""
        after: str | None = None
        while True:
            products, page = self.products_page(after=after, query=query, page_size=page_size)
            yield from products
            if not page["hasNextPage"]:
                return
            after = page["endCursor"]

    def get_product(self, product_id: str) -> CatalogProduct | None:
        """One product with its whole gallery (paged by 50) and every variant (paged by 100; Shopify allows 2,048
        on one product); None if it does not exist."""
        result = self.client.execute(ops.PRODUCT_WITH_MEDIA, {"id": product_id, "mediaAfter": None}).raise_for_errors()
        node = result.fields.get("product")
        if node is None:
            return None
        product = _product(node)
        page = node["media"]["pageInfo"]
        while page["hasNextPage"]:
            more = self.client.execute(
                ops.PRODUCT_WITH_MEDIA, {"id": product_id, "mediaAfter": page["endCursor"]}
            ).raise_for_errors()
            media = more.fields["product"]["media"]
            product.media += [_media(m) for m in media["nodes"] if m]
            page = media["pageInfo"]
        variants_page = node["variants"]["pageInfo"]
        while variants_page["hasNextPage"]:
            more = self.client.execute(
                ops.PRODUCT_VARIANTS_PAGE, {"id": product_id, "after": variants_page["endCursor"]}
            ).raise_for_errors()
            if more.fields.get("product") is None:
                return None  # deleted while we read it
            variants = more.fields["product"]["variants"]
            product.variants += [_variant(v) for v in variants["nodes"] if v]
            variants_page = variants["pageInfo"]
        return product

    def get_products(self, product_ids: Iterable[str]) -> dict[str, CatalogProduct]:
        """Many products by id, PRODUCTS_BY_IDS_MAX per request (first 10 media and 10 variants each, `more_media` /
        `more_variants` when there are more); ids that do not exist (or are not products) are left out."""
        ids = list(dict.fromkeys(product_ids))
        found: dict[str, CatalogProduct] = {}
        for start in range(0, len(ids), ops.PRODUCTS_BY_IDS_MAX):
            chunk = ids[start : start + ops.PRODUCTS_BY_IDS_MAX]
            result = self.client.execute(ops.PRODUCTS_BY_IDS, {"ids": chunk}).raise_for_errors()
            for node in result.fields.get("nodes") or []:
                if not node or "/Product/" not in str(node.get("id", "")):
                    continue  # a missing id answers null; another type answers {} (no fragment matched)
                product = _product(node)
                product.more_media = bool(((node["media"].get("pageInfo")) or {}).get("hasNextPage"))
                product.more_variants = bool(((node["variants"].get("pageInfo")) or {}).get("hasNextPage"))
                found[product.id] = product
        return found

    def product_collections(self, product_id: str) -> list[Collection] | None:
        """The collections the product is in (every page of 50); None when the product does not exist."""
        collections: list[Collection] = []
        after: str | None = None
        while True:
            result = self.client.execute(ops.PRODUCT_COLLECTIONS, {"id": product_id, "after": after})
            node = result.raise_for_errors().fields.get("product")
            if node is None:
                return None
            connection = node["collections"]
            collections += [Collection(c["id"], c.get("handle") or "", c.get("title") or "")
                            for c in connection["nodes"] if c]  # fmt: skip
            if not connection["pageInfo"]["hasNextPage"]:
                return collections
            after = connection["pageInfo"]["endCursor"]

    # -- bulk ----------------------------------------------------------------------------------------------------
    def start_bulk_export(self, query: str = ops.BULK_PRODUCTS_QUERY.document) -> str:
        """Start a bulk query. Shopify runs a capped number per app and shop (one before 2026-01, five since) and
        answers OPERATION_IN_PROGRESS above it: that is a wait for a slot (another export of this shop finishes
        within the bulk timeout), not a failure of this one."""
        deadline = time.monotonic() + self.bulk_timeout_s
        interval = self.bulk_poll_s
        while True:
            result = self.client.execute(ops.BULK_RUN_QUERY, {"query": query})
            errors = result.user_errors("bulkOperationRunQuery")
            busy = bool(errors) and all(e.get("code") in BULK_BUSY for e in errors)
            if busy and time.monotonic() + interval < deadline:
                self.sleep(interval)
                interval = min(self.bulk_poll_max_s, interval * 1.5)
                continue
            if errors:
                raise ShopifyUserError(
                    "Shopify refused the bulk export: "
                    + "; ".join(f"{e.get('code')} {e.get('message')}" for e in errors)
                    + (" (other exports of this shop kept every slot busy until the deadline)" if busy else ""),
                    user_errors=errors,
                )
            result.raise_for_errors()
            return result.fields["bulkOperationRunQuery"]["bulkOperation"]["id"]

    def wait_bulk(self, operation_id: str) -> BulkResult:
        deadline = time.monotonic() + self.bulk_timeout_s
        interval = self.bulk_poll_s
        while True:
            node = self.client.execute(ops.BULK_STATUS, {"id": operation_id}).raise_for_errors().fields["bulkOperation"]
            if node is None:
                raise BulkOperationFailed(f"Bulk operation {operation_id} not found")
            if node["status"] in BULK_DONE:
                result = BulkResult(
                    node["id"],
                    node["status"],
                    node.get("url"),
                    int(node.get("objectCount") or 0),
                    int(node.get("rootObjectCount") or 0),
                    node.get("errorCode"),
                )
                if result.status != "COMPLETED":
                    raise BulkOperationFailed(
                        f"Bulk export {operation_id} ended {result.status} ({result.error_code or 'no code'}); "
                        "start a new one."
                    )
                return result
            if time.monotonic() > deadline:
                raise BulkOperationFailed(f"Bulk export {operation_id} still {node['status']} after the deadline")
            self.sleep(interval)
            interval = min(self.bulk_poll_max_s, interval * 1.5)

    def iter_bulk_lines(self, url: str | None) -> Iterator[dict[str, Any]]:
        """Stream the JSONL file line by line (None url: an export that matched nothing)."""
        if not url:
            return
        with self.download_session.get(url, stream=True, timeout=(5, 60)) as response:
            response.raise_for_status()
            for raw in response.iter_lines():
                if raw:
                    yield json.loads(raw)

    def export_products(self) -> Iterator[CatalogProduct]:
        """Run a bulk export of the catalog and yield every product with media and variants."""
        result = self.wait_bulk(self.start_bulk_export())
        yield from assemble_products(self.iter_bulk_lines(result.url))


def assemble_products(lines: Iterable[dict[str, Any]]) -> Iterator[CatalogProduct]:
    """Group bulk JSONL lines (parents, then children with __parentId anywhere after) into products."""
    products: dict[str, CatalogProduct] = {}
    for line in lines:
        parent = line.get("__parentId")
        if parent is None:
            products[line["id"]] = CatalogProduct(
                line["id"], line.get("title", ""), line.get("handle", ""), line.get("updatedAt")
            )
            continue
        product = products.get(parent)
        if product is None:
            continue  # child of something we did not ask for
        if "/ProductVariant/" in line["id"]:
            product.variants.append(_variant(line))
        else:
            product.media.append(_media(line))
    yield from products.values()


def _media(node: dict[str, Any]) -> CatalogMedia:
    image = node.get("image") or {}
    return CatalogMedia(
        node["id"],
        node.get("alt") or "",
        node.get("status") or "",
        image.get("url"),
        image.get("width"),
        image.get("height"),
    )


def _variant(node: dict[str, Any]) -> CatalogVariant:
    media_nodes = [m for m in ((node.get("media") or {}).get("nodes")) or [] if m]
    first = media_nodes[0] if media_nodes else {}
    return CatalogVariant(
        node["id"],
        node.get("title") or "",
        node.get("sku") or "",
        {o["name"]: o["value"] for o in node.get("selectedOptions") or []},
        first.get("id"),
        (first.get("image") or {}).get("url"),
    )


def _product(node: dict[str, Any]) -> CatalogProduct:
    return CatalogProduct(
        node["id"],
        node["title"],
        node.get("handle") or "",
        node.get("updatedAt"),
        [_media(m) for m in node["media"]["nodes"] if m],
        [_variant(v) for v in node["variants"]["nodes"] if v],
    )
