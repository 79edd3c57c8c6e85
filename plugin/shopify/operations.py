"""Every GraphQL document the app sends to the Admin API, by name, with example variables.

Rules (checked by tests/plugin/shopify/test_operations_schema.py against the real 2026-07 and 2026-10 schemas,
including NoDeprecatedCustomRule):
- only current fields: `media` not `images`/`featuredImage`, `productUpdate(product:, media:)` not
  `productCreateMedia`, `fileDelete`/`fileUpdate` not `productDeleteMedia`, `bulkOperation(id:)` not
  `currentBulkOperation`, `mediaUserErrors` on productReorderMedia;
- every connection has an explicit `first`/`last` small enough to stay under Shopify's 1,000-point query cap
  (cost = 2 + first x node cost per connection).
A document that is not in `ALL_OPERATIONS` is not sent: `AdminClient.execute` takes an `Operation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Operation:
    name: str  # the GraphQL operation name (also the metrics label)
    document: str
    example_variables: dict[str, Any] = field(default_factory=dict)
    # A write that can be resent after an ambiguous failure (timeout, 5xx) without a second effect.
    # Queries always can; mutations only when marked (e.g. creating upload targets, which holds no state).
    resend_safe: bool | None = None

    @property
    def is_mutation(self) -> bool:
        return self.document.lstrip().startswith("mutation")

    @property
    def idempotent(self) -> bool:
        return (not self.is_mutation) if self.resend_safe is None else self.resend_safe


# What the write-back needs to know about one media: status, failure reason, and the READY image's CDN URL, which
# carries the filename (the only place Shopify exposes it for product media; `originalSource.url` is a short-lived
# signed URL without it).
MEDIA_FIELDS = """
fragment PoseStudioMedia on MediaImage {
  id
  alt
  status
  mediaErrors { code message details }
  image { url width height }
}
"""

EXAMPLE_PRODUCT = "gid://shopify/Product/10000005"
EXAMPLE_VARIANT = "gid://shopify/ProductVariant/10000002"
EXAMPLE_MEDIA = "gid://shopify/MediaImage/10000006"

SHOP_INFO = Operation(
    "ShopInfo",
    """
query ShopInfo {
  shop {
    id
    name
    myshopifyDomain
    email
    currencyCode
    ianaTimezone
    plan { publicDisplayName partnerDevelopment shopifyPlus }
  }
}
""",
)

# Catalog page: cost 2 + first x (1 + 22 media + 62 variants) = 852 for first=10. A variant's own media carries
# its image URL, so the Products page can show which variants have a photo of their own (and the photo).
PRODUCTS_PAGE = Operation(
    "ProductsPage",
    """
query ProductsPage($first: Int!, $after: String, $query: String) {
  products(first: $first, after: $after, query: $query, sortKey: ID) {
    nodes {
      id
      title
      handle
      updatedAt
      media(first: 10, sortKey: POSITION) {
        nodes { id alt status mediaContentType ... on MediaImage { image { url width height } } }
      }
      variants(first: 10) {
        nodes {
          id title sku selectedOptions { name value }
          media(first: 1) { nodes { id ... on MediaImage { image { url } } } }
        }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
""",
    {"first": 10, "after": None, "query": "status:active"},
)

# One product with its gallery and variants (cost 1 + 202 + 502 = 705).
PRODUCT_WITH_MEDIA = Operation(
    "ProductWithMedia",
    """
query ProductWithMedia($id: ID!, $mediaAfter: String) {
  product(id: $id) {
    id
    title
    handle
    updatedAt
    media(first: 50, after: $mediaAfter, sortKey: POSITION) {
      nodes { ...PoseStudioMedia }
      pageInfo { hasNextPage endCursor }
    }
    variants(first: 100) {
      nodes { id title sku selectedOptions { name value } media(first: 1) { nodes { id } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
    + MEDIA_FIELDS,
    {"id": EXAMPLE_PRODUCT, "mediaAfter": None},
)

# The rest of a product's variants after ProductWithMedia's first 100 (a product may have up to 2,048): 100 a page,
# cost 2 + 100 x 5 = 502.
PRODUCT_VARIANTS_PAGE = Operation(
    "ProductVariantsPage",
    """
query ProductVariantsPage($id: ID!, $after: String) {
  product(id: $id) {
    id
    variants(first: 100, after: $after) {
      nodes { id title sku selectedOptions { name value } media(first: 1) { nodes { id } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
""",
    {"id": EXAMPLE_PRODUCT, "after": "eyJsYXN0X2lkIjoxMDAwMDAwMn0="},
)

# Many products in ONE request (POST /api/jobs, bulk selections): `nodes(ids:)` with at most
# PRODUCTS_BY_IDS_MAX ids. Shopify prices a list by its length, so a call asks for len(ids) x 65 points (product 1,
# media 2 + 10 x 2, variants 2 + 10 x 4): 15 ids (975) stay under the 1,000-point cap, where 15 single
# ProductWithMedia reads ask for 15 x 705. (50 ids would need a product under 20 points: no variants, 3 media.)
# A product whose first 10 media or variants do not hold what the caller needs is read again alone
# (plugin.services.shopify_reads).
PRODUCTS_BY_IDS = Operation(
    "ProductsByIds",
    """
query ProductsByIds($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on Product {
      id
      title
      handle
      updatedAt
      media(first: 10, sortKey: POSITION) {
        nodes { id alt status mediaContentType ... on MediaImage { image { url width height } } }
        pageInfo { hasNextPage }
      }
      variants(first: 10) {
        nodes { id title sku media(first: 1) { nodes { id } } }
        pageInfo { hasNextPage }
      }
    }
  }
}
""",
    {"ids": [EXAMPLE_PRODUCT, "gid://shopify/Product/10000012", "gid://shopify/Product/10000019"]},
)
PRODUCTS_BY_IDS_MAX = 15  # 15 x 65 = 975 requested points, under the 1,000 cap

# The collections a product belongs to (automation's collection filter), 50 a page: cost 1 + 2 + 50 = 53.
PRODUCT_COLLECTIONS = Operation(
    "ProductCollections",
    """
query ProductCollections($id: ID!, $after: String) {
  product(id: $id) {
    id
    collections(first: 50, after: $after) {
      nodes { id handle title }
      pageInfo { hasNextPage endCursor }
    }
  }
}
""",
    {"id": EXAMPLE_PRODUCT, "after": None},
)

# What the write-back reads before writing: the gallery (to find its own earlier uploads by filename) and the
# current media of the variants it will set (cost 1 + 402 + 4 per variant).
PRODUCT_FOR_PUBLISH = Operation(
    "ProductForPublish",
    """
query ProductForPublish($id: ID!, $mediaAfter: String, $variantIds: [ID!]!) {
  product(id: $id) {
    id
    title
    media(first: 100, after: $mediaAfter, sortKey: POSITION) {
      nodes { ...PoseStudioMedia }
      pageInfo { hasNextPage endCursor }
    }
  }
  variants: nodes(ids: $variantIds) {
    ... on ProductVariant { id media(first: 1) { nodes { id } } }
  }
}
"""
    + MEDIA_FIELDS,
    {"id": EXAMPLE_PRODUCT, "mediaAfter": None, "variantIds": [EXAMPLE_VARIANT]},
)

# Our FAILED uploads on one product. A FAILED media has no image URL, so its filename cannot be read from it; the
# Files search still knows it (`filename:`), which tells our failed leftovers from the merchant's (cost 2 + 100).
OWN_FAILED_MEDIA = Operation(
    "OwnFailedMedia",
    """
query OwnFailedMedia($query: String!) {
  files(first: 100, query: $query) {
    nodes { id }
  }
}
""",
    {"query": "product_id:10000005 status:FAILED filename:pose-studio-*"},
)

STAGED_UPLOADS_CREATE = Operation(
    "StagedUploadsCreate",
    """
mutation StagedUploadsCreate($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}
""",
    {
        "input": [
            {
                "filename": "pose-studio-j42-front.png",
                "mimeType": "image/png",
                "resource": "IMAGE",
                "httpMethod": "POST",
            }
        ]
    },
    resend_safe=True,  # targets are throwaway: a second set costs nothing
)

# productUpdate(media:) appends to the gallery; it does not return the new ids, so the payload lists the
# gallery's tail (`last: <number created>`), which holds them in input order.
PRODUCT_CREATE_MEDIA = Operation(
    "ProductCreateMedia",
    """
mutation ProductCreateMedia($product: ProductUpdateInput!, $media: [CreateMediaInput!]!, $last: Int!) {
  productUpdate(product: $product, media: $media) {
    product {
      id
      media(last: $last, sortKey: POSITION) { nodes { ...PoseStudioMedia } }
    }
    userErrors { field message }
  }
}
"""
    + MEDIA_FIELDS,
    {
        "product": {"id": EXAMPLE_PRODUCT},
        "media": [
            {
                "originalSource": "https://shopify-staged-uploads.storage.googleapis.com/tmp/1/pose.png",
                "mediaContentType": "IMAGE",
                "alt": "Linen Blazer – Front",
            }
        ],
        "last": 1,
    },
)

MEDIA_STATUS = Operation(
    "MediaStatus",
    """
query MediaStatus($ids: [ID!]!) {
  nodes(ids: $ids) { ... on MediaImage { ...PoseStudioMedia } }
}
"""
    + MEDIA_FIELDS,
    {"ids": [EXAMPLE_MEDIA]},
)

PRODUCT_REORDER_MEDIA = Operation(
    "ProductReorderMedia",
    """
mutation ProductReorderMedia($id: ID!, $moves: [MoveInput!]!) {
  productReorderMedia(id: $id, moves: $moves) {
    job { id done }
    mediaUserErrors { field message code }
  }
}
""",
    {"id": EXAMPLE_PRODUCT, "moves": [{"id": EXAMPLE_MEDIA, "newPosition": "1"}]},
    resend_safe=True,  # absolute positions: applying the same moves twice gives the same order
)

JOB_STATUS = Operation(
    "JobStatus",
    """
query JobStatus($id: ID!) {
  job(id: $id) { id done }
}
""",
    {"id": "gid://shopify/Job/10000099"},
)

VARIANT_APPEND_MEDIA = Operation(
    "VariantAppendMedia",
    """
mutation VariantAppendMedia($productId: ID!, $variantMedia: [ProductVariantAppendMediaInput!]!) {
  productVariantAppendMedia(productId: $productId, variantMedia: $variantMedia) {
    productVariants { id media(first: 1) { nodes { id } } }
    userErrors { field message code }
  }
}
""",
    {"productId": EXAMPLE_PRODUCT, "variantMedia": [{"variantId": EXAMPLE_VARIANT, "mediaIds": [EXAMPLE_MEDIA]}]},
)

VARIANT_DETACH_MEDIA = Operation(
    "VariantDetachMedia",
    """
mutation VariantDetachMedia($productId: ID!, $variantMedia: [ProductVariantDetachMediaInput!]!) {
  productVariantDetachMedia(productId: $productId, variantMedia: $variantMedia) {
    productVariants { id }
    userErrors { field message code }
  }
}
""",
    {"productId": EXAMPLE_PRODUCT, "variantMedia": [{"variantId": EXAMPLE_VARIANT, "mediaIds": [EXAMPLE_MEDIA]}]},
)

# fileDelete is permanent and strips the file from every product: use it only on media the app created.
MEDIA_DELETE = Operation(
    "MediaDelete",
    """
mutation MediaDelete($fileIds: [ID!]!) {
  fileDelete(fileIds: $fileIds) {
    deletedFileIds
    userErrors { field message code }
  }
}
""",
    {"fileIds": [EXAMPLE_MEDIA]},
)

MEDIA_UPDATE = Operation(
    "MediaUpdate",
    """
mutation MediaUpdate($files: [FileUpdateInput!]!) {
  fileUpdate(files: $files) {
    files { id alt }
    userErrors { field message code }
  }
}
""",
    {"files": [{"id": EXAMPLE_MEDIA, "alt": "Linen Blazer – Front"}]},
    resend_safe=True,
)

# The write-back's last step in ONE request (root mutation fields run in order): detach variants' old media,
# delete our FAILED media, unlink our superseded media from this product and fix alt texts (fileUpdate), set
# variant media, reorder. Unused steps are @include'd out.
PUBLISH_FINALIZE = Operation(
    "PublishFinalize",
    """
mutation PublishFinalize(
  $productId: ID!,
  $detach: [ProductVariantDetachMediaInput!]!, $withDetach: Boolean!,
  $deleteIds: [ID!]!, $withDelete: Boolean!,
  $files: [FileUpdateInput!]!, $withFiles: Boolean!,
  $append: [ProductVariantAppendMediaInput!]!, $withAppend: Boolean!,
  $moves: [MoveInput!]!, $withMoves: Boolean!
) {
  detach: productVariantDetachMedia(productId: $productId, variantMedia: $detach) @include(if: $withDetach) {
    userErrors { field message code }
  }
  delete: fileDelete(fileIds: $deleteIds) @include(if: $withDelete) {
    deletedFileIds
    userErrors { field message code }
  }
  files: fileUpdate(files: $files) @include(if: $withFiles) {
    userErrors { field message code }
  }
  append: productVariantAppendMedia(productId: $productId, variantMedia: $append) @include(if: $withAppend) {
    userErrors { field message code }
  }
  reorder: productReorderMedia(id: $productId, moves: $moves) @include(if: $withMoves) {
    job { id done }
    mediaUserErrors { field message code }
  }
}
""",
    {
        "productId": EXAMPLE_PRODUCT,
        "detach": [{"variantId": EXAMPLE_VARIANT, "mediaIds": ["gid://shopify/MediaImage/10000007"]}],
        "withDetach": True,
        "deleteIds": ["gid://shopify/MediaImage/10000008"],
        "withDelete": True,
        "files": [{"id": EXAMPLE_MEDIA, "alt": "Linen Blazer – Front"}],
        "withFiles": True,
        "append": [{"variantId": EXAMPLE_VARIANT, "mediaIds": [EXAMPLE_MEDIA]}],
        "withAppend": True,
        "moves": [{"id": EXAMPLE_MEDIA, "newPosition": "1"}],
        "withMoves": True,
    },
)

# The inner document of a bulk catalog export (no first/last: bulk queries page by themselves). At most 5
# connections and nesting depth 2, so variant media cannot be asked for here (products > variants > media is 3).
BULK_PRODUCTS_QUERY = Operation(
    "BulkProducts",
    """
query BulkProducts {
  products {
    edges {
      node {
        id
        title
        handle
        updatedAt
        media {
          edges { node { id alt status mediaContentType ... on MediaImage { image { url width height } } } }
        }
        variants {
          edges { node { id title sku selectedOptions { name value } } }
        }
      }
    }
  }
}
""",
)

# groupObjects is passed explicitly: its default changed from true (2025-10) to false (2026-01+).
BULK_RUN_QUERY = Operation(
    "BulkRunQuery",
    """
mutation BulkRunQuery($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: false) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}
""",
    {"query": BULK_PRODUCTS_QUERY.document},
)

# bulkOperation(id:), not the deprecated currentBulkOperation.
BULK_STATUS = Operation(
    "BulkStatus",
    """
query BulkStatus($id: ID!) {
  bulkOperation(id: $id) {
    id
    status
    errorCode
    objectCount
    rootObjectCount
    fileSize
    url
    partialDataUrl
    completedAt
  }
}
""",
    {"id": "gid://shopify/BulkOperation/10000123"},
)

ALL_OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        SHOP_INFO,
        PRODUCTS_PAGE,
        PRODUCT_WITH_MEDIA,
        PRODUCT_VARIANTS_PAGE,
        PRODUCTS_BY_IDS,
        PRODUCT_COLLECTIONS,
        PRODUCT_FOR_PUBLISH,
        OWN_FAILED_MEDIA,
        STAGED_UPLOADS_CREATE,
        PRODUCT_CREATE_MEDIA,
        MEDIA_STATUS,
        PRODUCT_REORDER_MEDIA,
        JOB_STATUS,
        VARIANT_APPEND_MEDIA,
        VARIANT_DETACH_MEDIA,
        MEDIA_DELETE,
        MEDIA_UPDATE,
        PUBLISH_FINALIZE,
        BULK_RUN_QUERY,
        BULK_STATUS,
        BULK_PRODUCTS_QUERY,
    )
}
