"""The diffusion backend's fixes, through its public interfaces on tiny models: size buckets, what `generate`
reports, what the IP-Adapter sees, LoRA loading, and the engine's re-render of failed outputs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gpu_worker.engine import repose
from gpu_worker.generate.diffusion import ASPECT_BUCKETS, DiffusionBackend, Letterbox, generation_size
from gpu_worker.generate.references import face_crop, person_crop
from gpu_worker.pose.library import load_pose_set

from .conftest import as_array


def test_generation_sizes_fall_in_a_few_buckets_and_keep_the_aspect() -> None:
    # Product photos come in every aspect; a compiled UNet recompiles for every new shape.
    sizes = {(w, 1000): generation_size(w, 1000, 1024, 64) for w in range(300, 3001, 37)}
    assert len(set(sizes.values())) <= len(ASPECT_BUCKETS)
    for (w, h), (gw, gh) in sizes.items():
        assert gw % 64 == 0 and gh % 64 == 0 and max(gw, gh) == 1024
        x0, y0, x1, y1 = Letterbox((w, h), (gw, gh)).box
        assert abs((x1 - x0) / (y1 - y0) - w / h) < 0.02 * w / h  # letterboxed, not stretched
        assert (x1 - x0 == gw) or (y1 - y0 == gh)  # touches the bucket on one axis


@pytest.fixture(scope="module")
def sd15_face_run(tiny_models, subject):
    photo, source, poses, targets = subject
    # The face adapter: the tiny IP-Adapter file once more (a second adapter of the same kind).
    config = tiny_models.config("sd15", IP_ADAPTER_FACE=str(tiny_models.sd15["ip_adapter"]))
    return DiffusionBackend(config).render(photo, source, targets, seed=5, poses=poses)


def test_generate_outputs_report_no_invented_share(sd15_face_run) -> None:
    generated = [r for r in sd15_face_run if r.extras["mode"] == "generate"]
    assert generated
    for r in generated:
        # Nothing was copied from the source, so the warp's "uncovered" measure does not apply (it used to be
        # 1.0, which failed every diffusion-only pose at the gate whatever the pixels).
        assert r.uncovered_fraction == 0.0
        assert "not applicable" in r.extras["uncovered_fraction"]


def test_ip_adapter_sees_the_whole_figure_square_and_the_face(sd15_face_run, subject) -> None:
    from transformers import CLIPImageProcessor

    photo, source, _, _ = subject
    person, face = sd15_face_run[0].extras["ip_adapter_image"]
    # Square: CLIP's centre crop keeps all of it (the 139×320 photo itself loses 57 % of its height).
    assert person.width == person.height
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    assert processor(images=person, return_tensors="np")["pixel_values"].shape[-2:] == (32, 32)
    vis = source.visible()
    ys = source.points[vis, 1]
    eye_y, shoulder_y = source.points[[2, 5], 1].mean(), source.points[[11, 12], 1].mean()
    figure_height = ys.max() - (eye_y - 0.8 * (shoulder_y - eye_y))  # feet to the top of the head
    assert person.height >= figure_height  # head to feet, nothing cut off
    assert np.array_equal(as_array(person), as_array(person_crop(photo, source)))
    # The face adapter gets a square around the head, much smaller than the figure.
    assert face.width == face.height and face.width < person.width / 2
    assert np.array_equal(as_array(face), as_array(face_crop(photo, source)))


def test_face_crop_is_none_without_face_landmarks(subject) -> None:
    photo, source, _, _ = subject
    vis = source.visibility.copy()
    vis[:11] = 0.0
    assert face_crop(photo, source.with_points(source.points, vis)) is None


def test_lora_loads_through_peft_and_changes_the_images(tiny_models, subject) -> None:
    photo, source, poses, targets = subject
    lora = tiny_models.root / "sd15" / "latent-consistency--lcm-lora-sdv1-5" / "pytorch_lora_weights.safetensors"
    assert lora.is_file()  # written by `models fake`, where `models fetch --few-step` puts the real one
    plain = DiffusionBackend(tiny_models.config("sd15", MODE="generate"))
    with_lora = DiffusionBackend(tiny_models.config("sd15", MODE="generate", LORA=str(lora), SCHEDULER="lcm"))
    a = plain.render(photo, source, targets[:1], seed=1, poses=poses[:1])[0]
    b = with_lora.render(photo, source, targets[:1], seed=1, poses=poses[:1])[0]
    assert np.abs(as_array(a.image) - as_array(b.image)).mean() > 1.0


def test_engine_rerenders_failed_outputs_with_new_seeds_then_reports_them_failed(tiny_models, subject) -> None:
    photo, *_ = subject
    backend = DiffusionBackend(tiny_models.config("sd15", MODE="generate"))
    result = repose(photo, load_pose_set("activewear"), poses=["run"], backend=backend, seed=3, max_attempts=3)
    assert len(result.outputs) == 1 and not result.skipped
    for out in result.outputs:
        # Noise from random weights never passes: rendered three times, then reported failed with reasons.
        assert out.attempts == 3
        assert not out.passed and out.quality.reasons
        assert out.rendered.extras["seed"] != backend.render(
            result.image, result.source, [out.target], seed=3, poses=[out.pose]
        )[0].extras["seed"]
    assert result.timings["retry"] > 0


def test_letterbox_crop_returns_the_output_frame() -> None:
    box = Letterbox((139, 320), (48, 64))
    x0, y0, x1, y1 = box.box
    image = Image.new("RGB", (48, 64), (0, 0, 0))
    image.paste((255, 0, 0), (x0, y0, x1, y1))
    out = np.asarray(box.crop(image))
    assert out.shape == (320, 139, 3)
    assert (out[..., 0] > 200).mean() > 0.97  # only the letterboxed content, no bars
