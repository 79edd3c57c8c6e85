"""The gate's thresholds, per backend, and where each number came from.

Calibrated on the labelled set (tests/gpu_worker/gate/data/labels.json: the shipped samples and calibration figures
re-posed by the warp into catalog-basics and lifestyle, every output judged by eye) with `bench/gate.py --calibrate`,
which prints each score's range over the outputs labelled publishable and over those labelled broken. A threshold
sits just outside the publishable range, on the side of the broken ones; docs/QUALITY.md lists each with its
measured ranges. The diffusion backend cannot be calibrated here (no weights on CPU machines): it starts from the
warp's numbers, loosened where a generator legitimately differs from a cut-out (pattern and head patches are redrawn,
not copied), and is marked uncalibrated until a GPU run labels its outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Thresholds:
    # pose
    min_oks: float = 0.55
    min_pck: float = 0.70
    max_missing_limb_joints: int = 0
    max_limb_end_error: float = 0.30  # hand or foot distance from the target, share of that limb's length
    right_pose_margin: float = 0.03  # own OKS minus the best other pose's OKS
    distinct_pose: float = 0.85  # poses of a set more alike than this (target vs target OKS) are not told apart
    swap_margin: float = 0.10
    mirror_margin: float = 0.10
    max_torso_turn: float = 30.0  # degrees between the output's and the target's torso direction
    unchanged_margin: float = 0.05  # OKS against the source minus OKS against the target
    # not the source itself
    min_figure_change: float = 0.05  # share of the figure's pixels (source ∪ output silhouettes) that changed
    # figure integrity
    max_area_change: float = 0.30  # |figure area ratio − 1|
    max_new_pieces: float = 0.02  # detached pieces' area, share of the figure, beyond the source's
    min_bone_coverage: float = 0.60  # per bone, where the source's bone was covered
    solid_torso: float = 0.8  # the torso check applies where the source's torso is this solidly non-backdrop
    max_torso_loss: float = 0.15  # torso coverage lost
    garment_span: float = 0.85  # source coverage between the legs from which a garment spans both legs
    max_garment_loss: float = 0.10  # ... and how much of it the output may lose
    # appearance
    max_colour_distance: float = 6.0
    max_hue_shift: float = 6.0
    min_torso_match: float = 0.10
    patch_mirror_margin: float = 0.10
    head_mirror_margin: float = 0.05
    min_head_match: float = 0.30
    # what a backend reports about itself (may only add reasons to fail)
    max_foldover: float = 0.005
    max_uncovered: float = 0.015


WARP = Thresholds()
DIFFUSION = replace(WARP, min_torso_match=0.15, min_head_match=0.10, max_colour_distance=10.0, max_area_change=0.4)
BY_BACKEND: dict[str, Thresholds] = {"warp": WARP, "diffusion": DIFFUSION, "edit": DIFFUSION}


def for_backend(name: str | None) -> Thresholds:
    """The thresholds of backend `name`; an unknown or unnamed backend gets the strictest (the warp's)."""
    return BY_BACKEND.get(name or "warp", WARP)
