"""The diffusion backend end to end on tiny seeded models (CPU): modes, batching, seeds, progress,
compositing, OOM."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_worker.generate.diffusion import DiffusionBackend, generation_size, item_seed
from gpu_worker.generate.model_config import Mode
from gpu_worker.generate.warp import WarpBackend

from .conftest import as_array

# Batching changes the order of float reductions, not the noise: images agree to a couple of 8-bit levels.
BATCH_TOLERANCE = 3


@pytest.fixture(scope="module")
def sd15(tiny_models):
    return DiffusionBackend(tiny_models.config("sd15"), warp=WarpBackend())


@pytest.fixture(scope="module")
def sd15_run(sd15, subject):
    photo, source, poses, targets = subject
    calls: list[tuple[float, str]] = []
    out = sd15.render(photo, source, targets, seed=7, poses=poses, progress=lambda f, s: calls.append((f, s)))
    return out, calls


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_both_modes_run_end_to_end(family: str, tiny_models, subject) -> None:
    photo, source, poses, targets = subject
    backend = DiffusionBackend(tiny_models.config(family))
    out = backend.render(photo, source, targets, seed=1, poses=poses)

    assert len(out) == len(targets)
    modes = [r.extras["mode"] for r in out]
    # activewear: run and squat are diffusion-only poses, the other three the warp can render.
    assert modes == ["refine" if "warp" in p.backends else "generate" for p in poses]
    assert set(modes) == {"refine", "generate"}
    for r, target in zip(out, targets, strict=True):
        assert r.image.size == (target.width, target.height)
        assert r.extras["family"] == family
        assert r.extras["control_image"].size == r.extras["generation_size"]
        assert (r.exact_mask is not None) == (r.extras["mode"] == "refine")
        assert np.asarray(r.image).std() > 1.0  # an actual picture, not a constant


def test_same_seed_same_images_other_seed_other_images(sd15, sd15_run, subject) -> None:
    photo, source, poses, targets = subject
    first, _ = sd15_run
    again = sd15.render(photo, source, targets, seed=7, poses=poses)
    other = sd15.render(photo, source, targets, seed=8, poses=poses)
    for a, b, c in zip(first, again, other, strict=True):
        assert np.array_equal(as_array(a.image), as_array(b.image))
        if (
            a.extras["mode"] == "generate"
        ):  # refine keeps the warp's exact pixels, so compare the whole picture
            assert not np.array_equal(as_array(a.image), as_array(c.image))
    assert first[0].extras["seed"] == item_seed(7, poses[0].id)
    assert len({r.extras["seed"] for r in first}) == len(first)  # one seed per pose


def test_batched_call_matches_one_by_one(sd15, sd15_run, subject) -> None:
    photo, source, poses, targets = subject
    batched, _ = sd15_run
    assert [r.extras["batch_size"] for r in batched] == [3, 3, 3, 2, 2]  # one call per mode
    for k, (pose, target) in enumerate(zip(poses, targets, strict=True)):
        (single,) = sd15.render(photo, source, [target], seed=7, poses=[pose])
        assert single.extras["batch_size"] == 1
        diff = np.abs(as_array(single.image) - as_array(batched[k].image)).max()
        assert diff <= BATCH_TOLERANCE, f"pose {pose.id}: batched and single differ by {diff}"


def test_progress_reports_every_stage_and_ends_at_one(sd15_run) -> None:
    _, calls = sd15_run
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    stages = " ".join(s for _, s in calls)
    for word in ("loading", "warp", "encoded", "denoising (refine)", "denoising (generate)", "done"):
        assert word in stages
    # 2 steps × batch 3 refine (strength 0.55 → 1 step) and 2 steps × batch 2 generate: one report per step.
    assert sum("denoising" in s for _, s in calls) == 1 + 2


def test_refine_keeps_exact_garment_pixels_bit_identical(sd15_run) -> None:
    out, _ = sd15_run
    refined = [r for r in out if r.extras["mode"] == "refine"]
    assert any(r.exact_mask.any() for r in refined)
    for r in refined:
        got, warp = as_array(r.image), as_array(r.extras["warp_image"])
        m = r.exact_mask
        assert np.array_equal(got[m], warp[m])
        # ...while the rest of the picture was redrawn by the denoiser.
        assert np.abs(got[~m] - warp[~m]).mean() > 1.0


def test_out_of_memory_halves_the_batch_and_gives_the_same_images(tiny_models, sd15_run, subject) -> None:
    photo, source, poses, targets = subject
    reference, _ = sd15_run
    backend = DiffusionBackend(tiny_models.config("sd15", SIMULATE_OOM_ABOVE="2"), warp=WarpBackend())
    out = backend.render(photo, source, targets, seed=7, poses=poses)
    # refine: 3 → OOM → 2 + 1; generate: 2 fits. The smaller batch is kept for later calls.
    assert [r.extras["batch_size"] for r in out] == [2, 2, 1, 2, 2]
    assert backend.max_batch == 2
    for a, b in zip(out, reference, strict=True):
        assert np.abs(as_array(a.image) - as_array(b.image)).max() <= BATCH_TOLERANCE


def test_configured_mode_overrides_the_pose(tiny_models, subject) -> None:
    photo, source, poses, targets = subject
    backend = DiffusionBackend(tiny_models.config("sd15", MODE="generate"))
    out = backend.render(photo, source, targets[:2], seed=0, poses=poses[:2])
    assert [r.extras["mode"] for r in out] == ["generate", "generate"]
    assert backend.mode_for(None) is Mode.GENERATE
    assert DiffusionBackend(tiny_models.config("sd15")).mode_for(None) is Mode.REFINE


@pytest.mark.parametrize(
    ("size", "long_side", "multiple", "expected"),
    [((139, 320), 64, 16, (32, 64)), ((768, 1024), 1024, 64, (768, 1024)),
     ((1000, 1000), 1024, 64, (1024, 1024)), ((300, 2000), 512, 64, (256, 512))],
)  # fmt: skip
def test_generation_size_snaps_to_an_aspect_bucket_on_the_latent_grid(size, long_side, multiple, expected) -> None:
    assert generation_size(*size, long_side, multiple) == expected
