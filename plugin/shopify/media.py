"""Media write-back: publish generated images to a product's gallery, idempotently, in few requests.

    published = MediaWriteBack(client).publish(product_gid, [ImageToPublish(...), ...])

Happy path for N images on one product (GraphQL requests):
  1. ProductForPublish   read the gallery (to find our own earlier uploads by filename) and the variants' media
  2. StagedUploadsCreate ONE call for all N targets (resource IMAGE, POST); then N multipart uploads (not GraphQL)
  3. ProductCreateMedia  productUpdate(product:, media:) appends all N; its payload lists the new ids
  4. MediaStatus         poll until READY (backoff; FAILED surfaces Shopify's reason)
  5. PublishFinalize     one mutation: detach old variant media, unlink superseded outputs, fix alt, set variant
                         media, reorder (unneeded parts are @include'd out)
  6. JobStatus           poll the reorder job (skipped when it is already done)
so 6 requests for any N <= 250 when media is ready by the first poll.

Idempotency: every output has a deterministic filename (`pose-studio-<job>-<pose>.png`). Shopify keeps it in
the READY image's CDN URL (appending `_<uuid>` when taken; never in `originalSource.url`, a short-lived signed
URL), so before creating anything we match the gallery by
filename and create only what is missing; a retry, a crash halfway or a timed-out write never makes a second
copy. Only media whose filename carries our prefix (or whose id the caller says is ours) is ever removed, and
only from this product (`fileUpdate referencesToRemove`): `fileDelete` removes a file store-wide, so it is kept
for our FAILED uploads, which no product can show. The merchant's media is at most detached from a variant
that gets our image.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from plugin.shopify import operations as ops
from plugin.shopify.admin_api import AdminClient, GraphQLResult
from plugin.shopify.errors import (
    MediaNotReady,
    MediaProcessingFailed,
    ShopifyOutcomeUnknown,
    ShopifyUnavailable,
    ShopifyUserError,
)

OUR_PREFIX = "pose-studio-"
ALT_LIMIT = 512
MAX_MEDIA_PER_PRODUCT = 250
ALLOWED_MIME = {"image/png", "image/jpeg", "image/webp", "image/gif"}
# MediaErrorCodes worth one more upload: the bytes are fine, Shopify's processing or download hiccuped.
TRANSIENT_MEDIA_ERRORS = {"IMAGE_PROCESSING_FAILURE", "MEDIA_TIMEOUT_ERROR", "IMAGE_DOWNLOAD_FAILURE", "UNKNOWN"}
PENDING = {"UPLOADED", "PROCESSING"}
AMBIGUOUS_WRITE_ROUNDS = 3  # re-read-and-retry rounds after writes whose outcome was unknown


class Placement(StrEnum):
    APPEND = "append"  # after all existing media
    FIRST = "first"  # ahead of everything
    AFTER_FIRST = "after_first"  # right after the merchant's first (featured) image
    EXPLICIT = "explicit"  # each image's `position` (0-based in the final gallery); others after


@dataclass(frozen=True)
class PositionPolicy:
    placement: Placement = Placement.AFTER_FIRST


@dataclass(frozen=True)
class ImageToPublish:
    key: str  # the caller's id for this output (returned in PublishedMedia)
    filename: str  # deterministic; must start with "pose-studio-" (see deterministic_filename)
    bytes: bytes
    mime: str
    alt: str  # may contain "{product_title}", filled in from the product read in step 1
    variant_id: str | None = None  # set as this variant's image
    position: int | None = None  # with Placement.EXPLICIT


@dataclass(frozen=True)
class PublishedMedia:
    key: str
    media_id: str
    status: str
    url: str | None = None


@dataclass
class _Media:
    id: str
    alt: str
    status: str
    filename: str | None
    url: str | None
    error_code: str | None = None
    error_message: str = ""


@dataclass
class _State:
    title: str
    gallery: list[_Media]
    variant_media: dict[str, str | None] = field(default_factory=dict)
    ours: set[str] = field(default_factory=set)  # ids known to be our uploads though their filename is unknown

    def by_id(self) -> dict[str, _Media]:
        return {m.id: m for m in self.gallery}


def deterministic_filename(job_id: str | int, pose: str, ext: str = "png") -> str:
    """`pose-studio-<job>-<pose>.<ext>`, safe for Shopify's file names (letters, digits, dashes)."""

    def slug(value: str | int) -> str:
        return re.sub(r"[^a-z0-9]+", "-", str(value).lower()).strip("-") or "x"

    return f"{OUR_PREFIX}{slug(job_id)}-{slug(pose)}.{ext.lstrip('.').lower()}"


def pose_alt_text(product_title: str, pose_name: str) -> str:
    return f"{product_title} – {pose_name}"[:ALT_LIMIT]


def filename_from_url(url: str | None) -> str | None:
    if not url:
        return None
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return name or None


def filename_matches(actual: str | None, wanted: str) -> bool:
    """Shopify keeps the name, or appends `_<uuid>` before the extension when the name is taken."""
    if not actual:
        return False
    actual, wanted = actual.lower(), wanted.lower()
    stem, dot, ext = wanted.rpartition(".")
    if not dot:
        return actual == wanted or actual.startswith(wanted + "_")
    return actual == wanted or (actual.startswith(stem + "_") and actual.endswith("." + ext))


class MediaWriteBack:
    """Publishes images to one product per call. Thread-safe as long as the AdminClient is."""

    def __init__(
        self,
        client: AdminClient,
        *,
        ready_timeout_s: float = 180.0,
        poll_initial_s: float = 1.0,
        poll_max_s: float = 5.0,
        job_poll_s: float = 0.5,
        media_attempts: int = 3,
        upload_session: requests.Session | None = None,
        upload_timeout: tuple[float, float] = (5.0, 60.0),
        upload_attempts: int = 3,
        hook: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.ready_timeout_s = ready_timeout_s
        self.poll_initial_s = poll_initial_s
        self.poll_max_s = poll_max_s
        self.job_poll_s = job_poll_s
        self.media_attempts = media_attempts
        self.upload_session = upload_session or requests.Session()
        self.upload_timeout = upload_timeout
        self.upload_attempts = upload_attempts
        self.hook = hook or (lambda step: None)  # called after each step: tests crash here on purpose
        self.sleep = sleep

    # -- public -----------------------------------------------------------------------------------------------
    def publish(
        self,
        product_id: str,
        images: Sequence[ImageToPublish],
        policy: PositionPolicy | None = None,
        replace_previous: bool = True,
        *,
        owned_media_ids: Iterable[str] = (),
    ) -> list[PublishedMedia]:
        """Make the product show exactly one READY copy of each image, placed per policy, variant images set.

        replace_previous: delete our earlier outputs (filename prefix `pose-studio-` or `owned_media_ids`) that
        are not in `images`. Never deletes anything else."""
        policy = policy or PositionPolicy()
        self._check(images)
        variant_ids = [i.variant_id for i in images if i.variant_id]
        owned = set(owned_media_ids)

        # 1. read what is there, waiting out media still processing from an interrupted earlier run
        state = self._settled_state(product_id, variant_ids, images)
        self.hook("read")
        matched = self._match(state, images)

        # 2-4. create what is missing until every image has a READY media (FAILED + transient: once more)
        failures: Counter[str] = Counter()
        for _round in range(self.media_attempts + AMBIGUOUS_WRITE_ROUNDS):
            missing = [img for img in images if img.key not in matched]
            if not missing:
                break
            try:
                created = self._create(product_id, state, missing)
            except ShopifyOutcomeUnknown:
                # the productUpdate may have run: re-read and match instead of creating twice
                _count_retry("outcome_unknown")
                state = self._settled_state(product_id, variant_ids, images)
                matched = self._match(state, images)
                continue
            self.hook("created")
            statuses = self._wait_ready(list(created.values()))
            self._accept_ready(created, statuses, images, matched, failures)
            # productUpdate appended the new media in input order: extend our picture instead of re-reading
            state.gallery += [statuses[media_id] for media_id in created.values()]
            state.ours.update(created.values())  # ours by construction, whatever becomes of them
            self.hook("ready")
        if any(img.key not in matched for img in images):
            raise ShopifyUnavailable(
                f"Could not create media for product {product_id}: Shopify kept failing; retry later.",
                attempts=self.media_attempts,
            )

        # 5-6. variants, superseded outputs, alt text, order: recompute from fresh state after an ambiguous failure
        for _ in range(AMBIGUOUS_WRITE_ROUNDS):
            try:
                self._finalize(product_id, state, images, matched, policy, replace_previous, owned)
                break
            except ShopifyOutcomeUnknown:
                _count_retry("finalize_outcome_unknown")
                state = self._read_state(product_id, variant_ids)
                matched = self._match(state, images)
        else:
            raise ShopifyUnavailable(f"Could not finish publishing to {product_id}; retry later.")
        self.hook("finalized")
        return [
            PublishedMedia(img.key, matched[img.key].id, matched[img.key].status, matched[img.key].url)
            for img in images
        ]

    # -- steps ------------------------------------------------------------------------------------------------
    def _accept_ready(
        self, created: Mapping[str, str], statuses: Mapping[str, _Media], images: Sequence[ImageToPublish],
        matched: dict[str, _Media], failures: Counter[str],
    ) -> None:  # fmt: skip
        """Record each created media that is READY; a FAILED one is retried (transient errors, up to
        `media_attempts`) or raises MediaProcessingFailed with what to do."""
        for key, media_id in created.items():
            media = statuses[media_id]
            if media.status == "READY":
                matched[key] = media
                continue
            failures[key] += 1
            transient = media.error_code in TRANSIENT_MEDIA_ERRORS
            if not transient or failures[key] >= self.media_attempts:
                image = next(i for i in images if i.key == key)
                raise MediaProcessingFailed(
                    f"Shopify could not process {image.filename} ({media.error_code}: "
                    f"{media.error_message or 'no detail'}). "
                    + ("Check the image (format, size, resolution)." if not transient else "Try again later."),
                    media_id=media_id,
                    code=media.error_code or "UNKNOWN",
                )
            _count_retry(f"media_{(media.error_code or 'unknown').lower()}")

    def _check(self, images: Sequence[ImageToPublish]) -> None:
        if not images:
            raise ValueError("publish() needs at least one image")
        if len(images) > MAX_MEDIA_PER_PRODUCT:
            raise ValueError(f"at most {MAX_MEDIA_PER_PRODUCT} images per product (Shopify's media limit)")
        names = [i.filename.lower() for i in images]
        keys = [i.key for i in images]
        variants = [i.variant_id for i in images if i.variant_id]
        for label, values in (("filename", names), ("key", keys), ("variant_id", variants)):
            if len(set(values)) != len(values):
                raise ValueError(f"each image needs its own {label}; duplicates in {values}")
        for i in images:
            if not i.filename.startswith(OUR_PREFIX):
                raise ValueError(f"{i.filename!r} must start with {OUR_PREFIX!r} (use deterministic_filename)")
            if i.mime not in ALLOWED_MIME:
                raise ValueError(f"{i.filename}: mime {i.mime!r} is not an image type Shopify accepts")

    def _read_state(self, product_id: str, variant_ids: list[str]) -> _State:
        gallery: list[_Media] = []
        after: str | None = None
        title = ""
        variant_media: dict[str, str | None] = {}
        while True:
            result = self.client.execute(
                ops.PRODUCT_FOR_PUBLISH, {"id": product_id, "mediaAfter": after, "variantIds": variant_ids}
            ).raise_for_errors()
            product = (result.data or {}).get("product")
            if product is None:
                raise ShopifyUserError(f"Product {product_id} does not exist (deleted?)", user_errors=[])
            title = product["title"]
            gallery += [_media(node) for node in product["media"]["nodes"] if node]
            for node in result.fields.get("variants") or []:
                if node:
                    media_nodes = node["media"]["nodes"]
                    variant_media[node["id"]] = media_nodes[0]["id"] if media_nodes else None
            page = product["media"]["pageInfo"]
            if not page["hasNextPage"]:
                break
            after = page["endCursor"]
        for vid in variant_ids:
            if vid not in variant_media:
                raise ShopifyUserError(f"Variant {vid} does not exist", user_errors=[])
        return _State(title, gallery, variant_media, self._own_failed(product_id, gallery))

    def _own_failed(self, product_id: str, gallery: list[_Media]) -> set[str]:
        """Which FAILED media of the gallery are our uploads (one Files search, only when there are any)."""
        if not any(m.status == "FAILED" and m.filename is None for m in gallery):
            return set()
        numeric = product_id.rsplit("/", 1)[-1]
        result = self.client.execute(
            ops.OWN_FAILED_MEDIA, {"query": f"product_id:{numeric} status:FAILED filename:{OUR_PREFIX}*"}
        ).raise_for_errors()
        on_product = {m.id for m in gallery}
        return {n["id"] for n in (result.fields.get("files") or {}).get("nodes") or [] if n and n["id"] in on_product}

    def _settled_state(self, product_id: str, variant_ids: list[str], images: Sequence[ImageToPublish]) -> _State:
        """Read; if media is still processing and might be ours (filename unknown or ours), wait for it."""
        state = self._read_state(product_id, variant_ids)
        pending = [
            m.id
            for m in state.gallery
            if m.status in PENDING and (m.filename is None or m.filename.lower().startswith(OUR_PREFIX))
        ]
        if pending:
            self._wait_ready(pending)
            state = self._read_state(product_id, variant_ids)
        return state

    def _match(self, state: _State, images: Sequence[ImageToPublish]) -> dict[str, _Media]:
        """key -> the READY gallery media carrying that image's filename (the first, if several)."""
        matched: dict[str, _Media] = {}
        for img in images:
            for media in state.gallery:
                if media.status == "READY" and filename_matches(media.filename, img.filename):
                    matched[img.key] = media
                    break
        return matched

    def _create(self, product_id: str, state: _State, missing: list[ImageToPublish]) -> dict[str, str]:
        """Stage, upload and attach `missing`; returns key -> new media id."""
        staged = self.client.execute(
            ops.STAGED_UPLOADS_CREATE,
            {
                "input": [
                    {"filename": i.filename, "mimeType": i.mime, "resource": "IMAGE", "httpMethod": "POST"}
                    for i in missing
                ]
            },
        ).raise_for_user_errors("stagedUploadsCreate")
        targets = staged.fields["stagedUploadsCreate"]["stagedTargets"]
        for image, target in zip(missing, targets, strict=True):
            self._upload(image, target)
        self.hook("uploaded")
        before = {m.id for m in state.gallery}
        media_input = [
            {"originalSource": t["resourceUrl"], "mediaContentType": "IMAGE", "alt": _alt(i.alt, state.title)}
            for i, t in zip(missing, targets, strict=True)
        ]
        result = self.client.execute(
            ops.PRODUCT_CREATE_MEDIA,
            {"product": {"id": product_id}, "media": media_input, "last": len(missing)},
        ).raise_for_user_errors("productUpdate")
        tail = [n for n in result.fields["productUpdate"]["product"]["media"]["nodes"] if n]
        new = [_media(n) for n in tail if n["id"] not in before]
        if len(new) != len(missing):
            # someone else changed the gallery at the same moment; the filenames still tell ours apart
            raise ShopifyOutcomeUnknown(f"Could not tell the new media of {product_id} apart; re-reading")
        return {img.key: m.id for img, m in zip(missing, new, strict=True)}

    def _upload(self, image: ImageToPublish, target: dict[str, Any]) -> None:
        """multipart/form-data POST: every parameter as a field, the file LAST (storage policies require it)."""
        fields: list[tuple[str, Any]] = [(p["name"], (None, p["value"])) for p in target["parameters"]]
        fields.append(("file", (image.filename, image.bytes, image.mime)))
        last_error = ""
        for attempt in range(1, self.upload_attempts + 1):
            try:
                response = self.upload_session.post(target["url"], files=fields, timeout=self.upload_timeout)
            except requests.RequestException as exc:
                last_error = type(exc).__name__
            else:
                if response.status_code in (200, 201, 204):
                    return
                last_error = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code < 500:
                    break  # a rejected form will be rejected again
            if attempt < self.upload_attempts:
                _count_retry("upload")
            self.sleep(min(4.0, 0.25 * 2**attempt))
        raise ShopifyUnavailable(f"Uploading {image.filename} to Shopify's staging failed ({last_error})")

    def _wait_ready(self, media_ids: list[str]) -> dict[str, _Media]:
        """Poll MediaStatus with backoff until every media is READY or FAILED."""
        deadline = time.monotonic() + self.ready_timeout_s
        interval = self.poll_initial_s
        while True:
            self.sleep(interval)
            result = self.client.execute(ops.MEDIA_STATUS, {"ids": media_ids}).raise_for_errors()
            found = {m.id: m for m in (_media(n) for n in result.fields["nodes"] if n)}
            if set(found) != set(media_ids):
                gone = sorted(set(media_ids) - set(found))
                raise MediaNotReady(f"Media {gone} disappeared while processing (deleted by someone else?)")
            if all(m.status not in PENDING for m in found.values()):
                return found
            if time.monotonic() + interval > deadline:
                raise MediaNotReady(
                    f"Media not ready after {self.ready_timeout_s:.0f}s ({sorted(found)}); Shopify is slow, "
                    "publish again later (nothing will be duplicated)."
                )
            interval = min(self.poll_max_s, interval * 1.6)

    def _finalize(
        self,
        product_id: str,
        state: _State,
        images: Sequence[ImageToPublish],
        matched: dict[str, _Media],
        policy: PositionPolicy,
        replace_previous: bool,
        owned: set[str],
    ) -> None:
        ours_now = {matched[i.key].id for i in images}
        by_id = state.by_id()

        def is_ours(m: _Media) -> bool:
            return m.id in owned or m.id in state.ours or bool(m.filename and m.filename.lower().startswith(OUR_PREFIX))

        # superseded outputs (and our FAILED or duplicate leftovers): ours, not wanted now. fileDelete removes a
        # file from EVERY product and Shopify offers no way to ask which products use a file, so a READY one is
        # only unlinked from this product (fileUpdate referencesToRemove): the merchant may have added it to
        # another product. Only FAILED ones, which no product can show, are deleted.
        superseded = [
            m
            for m in state.gallery
            if m.id not in ours_now
            and is_ours(m)
            and (replace_previous or m.status == "FAILED" or _is_copy_of(m, images))
        ]
        delete = [m.id for m in superseded if m.status == "FAILED"]
        unlink = [m.id for m in superseded if m.status != "FAILED"]
        detach, append = [], []
        for img in images:
            if not img.variant_id:
                continue
            target = matched[img.key].id
            current = state.variant_media.get(img.variant_id)
            if current == target:
                continue
            if current is not None and current not in delete:  # fileDelete clears variants itself
                detach.append({"variantId": img.variant_id, "mediaIds": [current]})
            append.append({"variantId": img.variant_id, "mediaIds": [target]})
        files: list[dict[str, Any]] = [{"id": mid, "referencesToRemove": [product_id]} for mid in unlink]
        for img in images:
            media, alt = by_id.get(matched[img.key].id), _alt(img.alt, state.title)
            if media is not None and media.alt != alt:
                files.append({"id": media.id, "alt": alt})
        gone = {m.id for m in superseded}
        remaining = [m.id for m in state.gallery if m.id not in gone]
        moves = _moves(remaining, _desired_order(remaining, [matched[i.key].id for i in images], images, policy))
        if not (detach or delete or files or append or moves):
            return
        result = self.client.execute(
            ops.PUBLISH_FINALIZE,
            {
                "productId": product_id,
                "detach": detach,
                "withDetach": bool(detach),
                "deleteIds": delete,
                "withDelete": bool(delete),
                "files": files,
                "withFiles": bool(files),
                "append": append,
                "withAppend": bool(append),
                "moves": moves,
                "withMoves": bool(moves),
            },
        ).raise_for_errors()
        for alias in ("detach", "delete", "files", "append", "reorder"):
            result.raise_for_user_errors(alias)
        job = ((result.data or {}).get("reorder") or {}).get("job")
        if job and not job["done"]:
            self._wait_job(job["id"])

    def _wait_job(self, job_id: str) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        interval = self.job_poll_s
        while time.monotonic() < deadline:
            self.sleep(interval)
            result: GraphQLResult = self.client.execute(ops.JOB_STATUS, {"id": job_id}).raise_for_errors()
            if (result.fields.get("job") or {}).get("done", True):
                return
            interval = min(self.poll_max_s, interval * 1.6)
        raise MediaNotReady(f"Shopify's reorder job {job_id} did not finish in {self.ready_timeout_s:.0f}s")


# -- helpers ----------------------------------------------------------------------------------------------------
def _count_retry(reason: str) -> None:
    """pose_studio_writeback_retries_total{reason}: a step of the write-back is being done again."""
    from pose_studio import metrics

    metrics.record_writeback_retry(reason)


def _media(node: dict[str, Any]) -> _Media:
    image_url = (node.get("image") or {}).get("url")
    errors = node.get("mediaErrors") or []
    return _Media(
        id=node["id"],
        alt=node.get("alt") or "",
        status=node.get("status") or "",
        # Only the CDN URL of a READY image carries the file's name. `originalSource.url` is a signed, short-lived
        # storage URL with an opaque key: a name read from it would be wrong, so media still processing has none
        # (None: "may be ours", waited for before matching).
        filename=filename_from_url(image_url),
        url=image_url,
        error_code=errors[0].get("code") if errors else None,
        error_message=errors[0].get("message", "") if errors else "",
    )


def _alt(template: str, title: str) -> str:
    return template.replace("{product_title}", title)[:ALT_LIMIT]


def _is_copy_of(media: _Media, images: Sequence[ImageToPublish]) -> bool:
    return any(filename_matches(media.filename, i.filename) for i in images)


def _desired_order(
    gallery: list[str], ours: list[str], images: Sequence[ImageToPublish], policy: PositionPolicy
) -> list[str]:
    ours_set = set(ours)
    others = [m for m in gallery if m not in ours_set]
    placement = policy.placement
    if placement == Placement.APPEND:
        return others + ours
    if placement == Placement.FIRST:
        return ours + others
    if placement == Placement.AFTER_FIRST:
        return others[:1] + ours + others[1:]
    order = list(others)
    positioned = sorted(
        ((img.position, mid) for img, mid in zip(images, ours, strict=True) if img.position is not None),
        key=lambda pair: pair[0],
    )
    for position, mid in positioned:
        order.insert(min(position, len(order)), mid)
    order += [mid for img, mid in zip(images, ours, strict=True) if img.position is None]
    return order


def _moves(current: list[str], desired: list[str]) -> list[dict[str, str]]:
    """Sequential MoveInputs turning `current` into `desired` (only items that actually move)."""
    order = list(current)
    moves = []
    for index, media_id in enumerate(desired):
        if order[index] != media_id:
            order.remove(media_id)
            order.insert(index, media_id)
            moves.append({"id": media_id, "newPosition": str(index)})
    return moves
