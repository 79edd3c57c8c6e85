"""MediaWriteBack against the emulator: the happy path's requests and cost, idempotency (rerun, crash halfway,
timed-out writes), merchant media left alone, and exactly-once publishing under injected faults."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image

from plugin.shopify.admin_api import AdminClient
from plugin.shopify.errors import MediaProcessingFailed, ShopifyError
from plugin.shopify.media import (
    ImageToPublish,
    MediaWriteBack,
    Placement,
    PositionPolicy,
    deterministic_filename,
    filename_matches,
    pose_alt_text,
)
from plugin.shopify.operations import Operation
from shopify_emulator import EmuProduct, MediaStatus, ShopifyEmulator
from tests.conftest import TEST_SHOP

MakeClient = Callable[..., AdminClient]
POSES = ("front", "back", "side", "walk", "sit", "wave")


def png(color: tuple[int, int, int], size: tuple[int, int] = (48, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def images_for(job: str, product: EmuProduct, n: int = 6, *, variant_image: bool = True) -> list[ImageToPublish]:
    out = []
    for i, pose in enumerate(POSES[:n]):
        out.append(
            ImageToPublish(
                key=f"{job}/{pose}",
                filename=deterministic_filename(job, pose),
                bytes=png((40 * i % 255, 100, 200 - 20 * i)),
                mime="image/png",
                alt=pose_alt_text("{product_title}", pose.title()),
                variant_id=product.variants[0].gid if (variant_image and i == 0) else None,
            )
        )
    return out


def writer(client: AdminClient, **options) -> MediaWriteBack:
    defaults = {"poll_initial_s": 0.15, "poll_max_s": 0.3, "job_poll_s": 0.03, "ready_timeout_s": 10}
    defaults.update(options)
    return MediaWriteBack(client, **defaults)


def product_with_variant_image(emulator: ShopifyEmulator) -> EmuProduct:
    """Linen Blazer: 2 merchant images, 3 variants, the first with its own (merchant) image."""
    return next(p for p in emulator.shop(TEST_SHOP).products.values() if p.handle == "linen-blazer")


def ours(emulator: ShopifyEmulator, product: EmuProduct) -> list:
    return [m for m in emulator.shop(TEST_SHOP).gallery(product) if m.filename.startswith("pose-studio-")]


def assert_exactly_once(emulator: ShopifyEmulator, product: EmuProduct, images: list[ImageToPublish]) -> None:
    """Each image has exactly one media on the product (Shopify may have suffixed the name), nothing else of ours."""
    mine = ours(emulator, product)
    for image in images:
        copies = [m for m in mine if filename_matches(m.filename, image.filename)]
        assert len(copies) == 1, (image.filename, [m.filename for m in mine])
    assert len(mine) == len(images)


def test_happy_path_six_images_in_six_requests(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    """Six requests when the new media is READY by the first status poll. Readiness is controlled: the emulator
    stamps `ready_at` before it answers the create, and the writer sleeps `poll_initial_s` after that answer, so a
    delay shorter than the first poll is READY at it however slow the machine. The fixture's 0.3 s read timeout
    (made for the fault tests) is what a loaded machine could hit here, turning one slow answer into retries and
    re-reads; the happy path has no faults, so it gets a read timeout no scheduler hiccup reaches."""
    client = admin_client(timeout=(5.0, 30.0))
    write_back = writer(client)
    assert emulator.media_ready_delay < write_back.poll_initial_s  # the precondition of "six requests"
    product = product_with_variant_image(emulator)
    merchant = list(product.media_ids)
    images = images_for("j1", product)

    published = write_back.publish(product.gid, images)

    requests_sent = client.metrics.total_requests()
    cost = client.metrics.total_cost()
    print(
        f"\nwrite-back of 6 images: {requests_sent} GraphQL requests, actual cost {cost}, requested "
        f"{sum(client.metrics.requested_cost.values())}, by operation {dict(client.metrics.requests)}"
    )
    assert requests_sent <= 6, dict(client.metrics.requests)
    gallery = emulator.shop(TEST_SHOP).gallery(product)
    # policy AFTER_FIRST: merchant's featured image, our six in order, then the merchant's others
    assert [m.gid for m in gallery] == [merchant[0], *(p.media_id for p in published), *merchant[1:]]
    assert [m.filename for m in gallery[1:7]] == [i.filename for i in images]
    assert all(m.status() == MediaStatus.READY for m in gallery)
    assert gallery[1].alt == "Linen Blazer – Front"
    assert product.variants[0].media_ids == [published[0].media_id]
    assert [p.key for p in published] == [i.key for i in images] and all(p.status == "READY" for p in published)


def test_running_twice_creates_no_duplicates(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    client = admin_client()
    product = product_with_variant_image(emulator)
    images = images_for("j2", product)
    first = writer(client).publish(product.gid, images)
    before = client.metrics.total_requests()
    second = writer(client).publish(product.gid, images)
    assert [p.media_id for p in first] == [p.media_id for p in second]
    assert_exactly_once(emulator, product, images)
    assert client.metrics.total_requests() - before == 1  # one read: everything already in place


@pytest.mark.parametrize("crash_after", ["read", "uploaded", "created", "ready"])
def test_crash_halfway_then_rerun_gives_exactly_one_copy(
    emulator: ShopifyEmulator, admin_client: MakeClient, crash_after: str
) -> None:
    product = product_with_variant_image(emulator)
    images = images_for("j3", product)

    def crash(step: str) -> None:
        if step == crash_after:
            raise RuntimeError(f"worker killed after {step}")

    with pytest.raises(RuntimeError):
        writer(admin_client(), hook=crash).publish(product.gid, images)
    published = writer(admin_client()).publish(product.gid, images)
    assert_exactly_once(emulator, product, images)
    assert product.variants[0].media_ids == [published[0].media_id]


def test_replacing_removes_only_our_earlier_outputs(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    client = admin_client()
    product = product_with_variant_image(emulator)
    merchant = list(product.media_ids)
    writer(client).publish(product.gid, images_for("old", product))
    new = writer(client).publish(product.gid, images_for("new", product, n=3), PositionPolicy(Placement.APPEND))
    gallery = emulator.shop(TEST_SHOP).gallery(product)
    assert [m.gid for m in gallery] == [*merchant, *(p.media_id for p in new)]
    assert all(m.filename.startswith("pose-studio-new-") for m in ours(emulator, product))
    assert product.variants[0].media_ids == [new[0].media_id]


def test_keep_previous_and_explicit_positions(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    client = admin_client()
    product = product_with_variant_image(emulator)
    merchant = list(product.media_ids)
    writer(client).publish(product.gid, images_for("a", product, n=2, variant_image=False))
    extra = [
        ImageToPublish(
            "b/first",
            deterministic_filename("b", "first"),
            png((1, 2, 3)),
            "image/png",
            "{product_title} – First",
            position=0,
        )
    ]
    writer(client).publish(product.gid, extra, PositionPolicy(Placement.EXPLICIT), replace_previous=False)
    gallery = emulator.shop(TEST_SHOP).gallery(product)
    assert gallery[0].filename == "pose-studio-b-first.png"
    assert len(ours(emulator, product)) == 3 and [m for m in merchant if m in product.media_ids] == merchant


def test_bad_image_surfaces_shopifys_reason(emulator: ShopifyEmulator, admin_client: MakeClient) -> None:
    product = product_with_variant_image(emulator)
    bad = ImageToPublish(
        "x/broken",
        deterministic_filename("x", "broken"),
        b"not an image at all",
        "image/png",
        "{product_title} – Broken",
    )
    with pytest.raises(MediaProcessingFailed, match="UNSUPPORTED_IMAGE_FILE_TYPE"):
        writer(admin_client()).publish(product.gid, [bad])
    assert all(
        m.filename.startswith("pose-studio-") is False
        for m in emulator.shop(TEST_SHOP).gallery(product)
        if m.status() == MediaStatus.READY
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_exactly_once_under_twenty_percent_faults(
    emulator: ShopifyEmulator, admin_client: MakeClient, seed: int
) -> None:
    """20 % of GraphQL requests fail (5 % each: 429, 5xx, timeout after the write ran, THROTTLED) and 20 % of new
    media FAIL in processing. The publish is retried
    like a Celery task would, and each image ends up published exactly once."""
    # An injected timeout holds its answer 1.2 s against the client's 0.6 s read timeout: a wide margin either way,
    # so a slow answer on a loaded machine is not an extra, unplanned timeout (the fixture's 0.3 s vs 0.5 s is not).
    emulator.faults.configure(http_429=0.05, http_5xx=0.05, timeout=0.05, throttled=0.05, media_failed=0.2, seed=seed,
                              timeout_sleep=1.2)  # fmt: skip
    product = product_with_variant_image(emulator)
    images = images_for(f"f{seed}", product)
    published = None
    for _attempt in range(8):  # redeliveries, as Celery would; exactly-once must hold however many it takes
        try:
            published = writer(admin_client(max_retries=4, timeout=(1.0, 0.6))).publish(product.gid, images)
            break
        except ShopifyError:
            continue
    assert published is not None, emulator.faults.injected
    emulator.faults.reset()
    assert_exactly_once(emulator, product, images)
    assert all(m.status() == MediaStatus.READY for m in ours(emulator, product))
    assert product.variants[0].media_ids == [published[0].media_id]
    assert sum(emulator.faults.injected.values()) > 0


def test_replacing_never_strips_a_file_the_merchant_also_put_on_another_product(
    emulator: ShopifyEmulator, admin_client: MakeClient
) -> None:
    """fileDelete removes a file store-wide (from every product that shows it). The merchant added our earlier
    output to a second product; publishing a new set to the first must leave it on the second."""
    client = admin_client()
    product = product_with_variant_image(emulator)
    other = next(p for p in emulator.shop(TEST_SHOP).products.values() if p.gid != product.gid)
    old = writer(client).publish(product.gid, images_for("old", product, n=2))
    shared = old[1].media_id
    client.execute(  # what the admin does when the merchant picks an existing file for another product
        Operation(
            "ShareFile",
            "mutation ShareFile($files: [FileUpdateInput!]!) { fileUpdate(files: $files) { userErrors { code } } }",
        ),
        {"files": [{"id": shared, "referencesToAdd": [other.gid]}]},
    ).raise_for_user_errors("fileUpdate")
    writer(client).publish(product.gid, images_for("new", product, n=2))
    assert shared in other.media_ids  # still on the other product
    assert shared not in product.media_ids  # gone from this one
    assert all(m.filename.startswith("pose-studio-new-") for m in ours(emulator, product))
