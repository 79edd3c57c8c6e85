"""The output gate: one function that decides whether an image may reach a shopper, from pixels.

Inputs are the output image, the source photo and the target pose (plus, when known, the other poses of its set and
the source skeleton). What a backend reports about itself may add reasons to fail, never a reason to pass; warp,
diffusion and any later backend are judged by this same function, each with its calibrated thresholds
(`thresholds.py`). Every failed check is a reason in words a merchant understands; every measured number is in
`scores`. docs/QUALITY.md explains each check and where its threshold came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from gpu_worker.errors import InputRejected
from gpu_worker.gate import appearance, pose_match, regions
from gpu_worker.gate.figure import Silhouette, analysis_copy, silhouette
from gpu_worker.gate.thresholds import Thresholds, for_backend
from gpu_worker.pose.skeleton import Skeleton

# A pixel counts as changed when a channel moved by more than this (0..255): re-encoding noise stays below it.
CHANGED_LEVEL = 24
SIDE_PARTS = {"top": "head", "bottom": "feet", "left": "left side", "right": "right side"}


@dataclass
class Verdict:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    detected: Skeleton | None = field(default=None, repr=False)  # the pose found on the output

    @property
    def oks(self) -> float:
        return float(self.scores.get("oks", 0.0))

    @property
    def pck(self) -> float:
        return float(self.scores.get("pck", 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reasons": list(self.reasons),
            "scores": {k: round(float(v), 4) for k, v in self.scores.items()},
        }


@dataclass(frozen=True)
class Side:
    """One side of the comparison at analysis size: the picture, its silhouette, and the skeleton it is measured
    with (the source's own; the output's target)."""

    small: np.ndarray
    fig: Silhouette
    sk: Skeleton


@dataclass(frozen=True)
class BackendReport:
    """What the backend says about its own output (optional; it can only make the gate stricter)."""

    uncovered_fraction: float | None = None
    foldover_fraction: float | None = None


def _fit(sk: Skeleton, w: int, h: int) -> Skeleton:
    return sk if (sk.width, sk.height) == (w, h) else sk.scaled_to(w, h)


def judge(
    output: Image.Image,
    source: Image.Image,
    target: Skeleton,
    *,
    source_skeleton: Skeleton,
    others: Sequence[tuple[str, Skeleton]] = (),
    backend: str | None = None,
    report: BackendReport | None = None,
    thresholds: Thresholds | None = None,
) -> Verdict:
    """Judge one output image against its target pose and its source photo (module docstring).

    `others`: (pose id, target skeleton) of the other poses of the set, for the right-pose check.
    """
    from gpu_worker.pose.detect import detect_all  # mediapipe only when judging

    th = thresholds or for_backend(backend)
    out_rgb = np.asarray(output.convert("RGB"))
    src_rgb = np.asarray(source.convert("RGB"))
    h, w = out_rgb.shape[:2]
    target = _fit(target, w, h)
    src_sk = _fit(source_skeleton, src_rgb.shape[1], src_rgb.shape[0])
    reasons: list[str] = []
    scores: dict[str, float] = {}

    # 1. analysis copies; the not-the-source check needs the silhouettes (step 4) and comes with them
    src_small, src_scale = analysis_copy(src_rgb)
    out_small, out_scale = analysis_copy(out_rgb)

    # 2. re-detect the pose on the output
    try:
        people = detect_all(output.convert("RGB"), max_size=max(w, h))
    except InputRejected:
        people = []
    found = people[0] if people and people[0].visible().any() else None

    # 3. pose checks
    if found is None:
        reasons.append("no person can be seen in the image")
        scores.update(oks=0.0, pck=0.0)
    else:
        found = _best_reading(output.convert("RGB"), found, target, th)
        reasons += _pose_reasons(found, target, src_sk, others, th, scores)

    # 4. figure integrity against the source (same kind of silhouette on both sides)
    src_fig = silhouette(src_rgb, src_sk.mask, (src_small, src_scale))
    out_fig = silhouette(out_rgb, found.mask if found is not None else None, (out_small, out_scale))
    src = Side(src_small, src_fig, src_sk)
    out = Side(out_small, out_fig, target)
    reasons += _unchanged_reasons(src, out, th, scores)
    reasons += _integrity_reasons(src, out, th, scores)

    # 5. garment, pattern and head against the source
    reasons += _appearance_reasons(src, out, th, scores)

    # 6. what the backend says about itself: reasons to fail only
    if report is not None:
        if report.foldover_fraction is not None and report.foldover_fraction > th.max_foldover:
            reasons.append(f"the picture folds over itself in {report.foldover_fraction:.1%} of the figure")
        if report.uncovered_fraction is not None and report.uncovered_fraction > th.max_uncovered:
            reasons.append(f"{report.uncovered_fraction:.0%} of the figure had to be invented (filled in)")
    return Verdict(passed=not reasons, reasons=reasons, scores=scores, detected=found)


def _area(found: Skeleton, target: Skeleton) -> float:
    area = float((found.mask > 0.5).sum()) if found.mask is not None else 0.0
    if area <= 0:
        x0, y0, x1, y1 = target.bbox()
        area = max((x1 - x0) * (y1 - y0), 1.0)
    return area


def _reaches(found: Skeleton, target: Skeleton, th: Thresholds) -> bool:
    area = _area(found, target)
    return (
        pose_match.oks(found, target, area) >= th.min_oks
        and pose_match.pck(found, target) >= th.min_pck
        and len(pose_match.missing_limbs(found, target)) <= th.max_missing_limb_joints
    )


def _best_reading(output: Image.Image, found: Skeleton, target: Skeleton, th: Thresholds) -> Skeleton:
    """`found`, or — when it does not show the target — the reading of another view that matches it best.

    Every view is the detector's honest reading of the same pixels; a swapped, mirrored or broken image matches
    the target in none of them, while a good one misread at one scale is read right at another.
    """
    from gpu_worker.pose.detect import detect_other_views

    if _reaches(found, target, th):
        return found
    readings = [found, *detect_other_views(output)]
    return max(readings, key=lambda sk: pose_match.oks(sk, target, _area(sk, target)))


def _pose_reasons(
    found: Skeleton,
    target: Skeleton,
    src_sk: Skeleton,
    others: Sequence[tuple[str, Skeleton]],
    th: Thresholds,
    scores: dict[str, float],
) -> list[str]:
    reasons: list[str] = []
    area = _area(found, target)
    own = pose_match.oks(found, target, area)
    scores["oks"] = own
    scores["pck"] = pose_match.pck(found, target)
    if own < th.min_oks or scores["pck"] < th.min_pck:
        reasons.append(f"the figure does not stand in the chosen pose (match {own:.2f}, needs {th.min_oks:.2f})")
    errors = pose_match.limb_end_errors(found, target)
    scores["max_limb_end_error"] = max(errors.values(), default=0.0)
    astray = [name for name, e in errors.items() if e > th.max_limb_end_error]
    if astray:
        reasons.append(f"not where the pose puts it: {', '.join(astray)}")
    missing = pose_match.missing_limbs(found, target)
    scores["missing_limb_joints"] = float(len(missing))
    if len(missing) > th.max_missing_limb_joints:
        reasons.append(f"limbs missing or hidden: {', '.join(missing)}")
    # the right pose of the set, not a neighbour's
    rivals = [
        (pid, pose_match.oks(found, other.scaled_to(target.width, target.height), area))
        for pid, other in others
        if pose_match.similarity(other.scaled_to(target.width, target.height), target) < th.distinct_pose
    ]
    if rivals:
        best_id, best = max(rivals, key=lambda r: r[1])
        scores["right_pose_margin"] = own - best
        if own - best < th.right_pose_margin:
            reasons.append(f"the figure looks more like another pose of the set ({best_id}) than the chosen one")
    # mirrored, swapped, rotated, unchanged
    if pose_match.similarity(pose_match.mirrored_about_figure(target), target) < th.distinct_pose:
        mirrored = pose_match.oks(found, pose_match.mirrored_about_figure(target), area)
        scores["mirrored_pose_margin"] = mirrored - own
        if mirrored > own + th.mirror_margin:
            reasons.append("the image is mirrored (left and right sides of the pose are reversed)")
    swapped = pose_match.oks(found, pose_match.swapped(target), area)
    if swapped > own + th.swap_margin:
        reasons.append("left and right are swapped (the figure faces the wrong way)")
    a_found, a_target = pose_match.torso_angle(found), pose_match.torso_angle(target)
    if a_found is not None and a_target is not None:
        turn = pose_match.angle_between(a_found, a_target)
        scores["torso_turn"] = turn
        if turn > th.max_torso_turn:
            reasons.append(f"the figure is rotated by {turn:.0f}°")
    src_in_frame = src_sk.scaled_to(target.width, target.height)
    if pose_match.similarity(src_in_frame, target) < th.distinct_pose:
        unchanged = pose_match.oks(found, src_in_frame, area)
        scores["unchanged_margin"] = unchanged - own
        if unchanged > own + th.unchanged_margin:
            reasons.append("the pose was not changed: the figure still stands as in the source photo")
    return reasons


def _unchanged_reasons(src: Side, out: Side, th: Thresholds, scores: dict[str, float]) -> list[str]:
    """The source photo handed back: hardly a figure pixel changed although the target differs from the source."""
    src_small, src_fig, src_sk = src.small, src.fig, src.sk
    out_small, out_fig, target = out.small, out.fig, out.sk
    if src_small.shape != out_small.shape:
        return []
    union = src_fig.mask | out_fig.mask
    if not union.any():
        return []
    diff = np.abs(src_small.astype(np.int16) - out_small.astype(np.int16)).max(axis=2)
    changed = float((diff[union] > CHANGED_LEVEL).mean())
    scores["figure_changed"] = changed
    moved = pose_match.similarity(src_sk.scaled_to(target.width, target.height), target) < th.distinct_pose
    if changed < th.min_figure_change and moved:
        return ["the image is the unchanged source photo"]
    return []


def _integrity_reasons(src: Side, out: Side, th: Thresholds, scores: dict[str, float]) -> list[str]:
    src_fig, src_sk, out_fig, target = src.fig, src.sk, out.fig, out.sk
    reasons: list[str] = []
    if src_fig.area == 0 or out_fig.area == 0:
        return ["the figure cannot be told apart from the background"] if out_fig.area == 0 else []
    # size: a figure that grew or shrank lost or doubled something (an arm, a left-behind copy, a torn-off prop)
    ratio = out_fig.area / (src_fig.area * (out_fig.scale / src_fig.scale) ** 2)
    scores["area_ratio"] = ratio
    if abs(ratio - 1.0) > th.max_area_change:
        grew = "larger" if ratio > 1 else "smaller"
        reasons.append(f"the figure is {abs(ratio - 1):.0%} {grew} than in the source: parts are missing or doubled")
    # the frame cuts the figure where the source was not cut
    src_touch, out_touch = src_fig.touches(), out_fig.touches()
    cut = [SIDE_PARTS[side] for side, t in out_touch.items() if t and not src_touch[side]]
    scores["new_frame_cuts"] = float(len(cut))
    if cut:
        reasons.append(f"the figure is cut off by the frame ({', '.join(cut)})")
    # detached pieces: left-behind copies, ghosts, torn-off parts
    src_main, src_rest = src_fig.pieces()
    out_main, out_rest = out_fig.pieces()
    new_pieces = sum(out_rest) / max(out_main, 1) - sum(src_rest) / max(src_main, 1)
    scores["new_pieces"] = new_pieces
    if new_pieces > th.max_new_pieces:
        reasons.append(f"detached pieces or left-behind copies next to the figure ({new_pieces:.0%} of it)")
    # body parts: bones, torso, and a garment that spans both legs
    # ink, not silhouette: backdrop painted over an arm in front of the body is enclosed by the figure
    src_bones = regions.bone_coverage(src_fig.ink, src_sk, src_fig.scale)
    out_bones = regions.bone_coverage(out_fig.ink, target, out_fig.scale)
    broken = [
        name for name, cov in out_bones.items()
        if src_bones.get(name, 0.0) >= th.min_bone_coverage and cov < th.min_bone_coverage
    ]  # fmt: skip
    scores["min_bone_coverage"] = min(out_bones.values(), default=1.0)
    if broken:
        reasons.append(f"broken or missing: {', '.join(broken)}")
    # ink again: a hole is backdrop colour inside the figure, where the source had garment
    st = regions.torso_coverage(src_fig.ink, src_sk, src_fig.scale)
    ot = regions.torso_coverage(out_fig.ink, target, out_fig.scale)
    if st is not None and ot is not None and st >= th.solid_torso:
        scores["torso_loss"] = st - ot
        if st - ot > th.max_torso_loss:
            reasons.append("there is a hole in the torso (the background shows through)")
    sg = regions.between_legs_coverage(src_fig.mask, src_sk, src_fig.scale)
    og = regions.between_legs_coverage(out_fig.mask, target, out_fig.scale)
    if sg is not None and og is not None:
        scores["garment_span_loss"] = sg - og if sg >= th.garment_span else 0.0
        if sg >= th.garment_span and sg - og > th.max_garment_loss:
            reasons.append("the skirt, dress or coat is torn apart between the legs")
    return reasons


def _appearance_reasons(src: Side, out: Side, th: Thresholds, scores: dict[str, float]) -> list[str]:
    src_small, src_fig, src_sk = src.small, src.fig, src.sk
    out_small, out_fig, target = out.small, out.fig, out.sk
    reasons: list[str] = []
    a, b = appearance.lab_stats(src_small, src_fig.mask), appearance.lab_stats(out_small, out_fig.mask)
    scores["colour_distance"] = appearance.colour_distance(a, b)
    scores["hue_shift"] = appearance.hue_shift(a, b)
    if scores["colour_distance"] > th.max_colour_distance or scores["hue_shift"] > th.max_hue_shift:
        reasons.append("the garment's colours changed")
    gs, go = appearance.grey(src_small), appearance.grey(out_small)
    torso = appearance.patch_match(
        appearance.torso_patch(gs, src_sk, src_fig.scale), appearance.torso_patch(go, target, out_fig.scale)
    )
    if torso is not None:
        scores["torso_match"], scores["torso_match_mirrored"] = torso
        if torso[0] < th.min_torso_match:
            reasons.append("the garment's print or pattern does not match the source")
    head = appearance.patch_match(
        appearance.head_patch(gs, src_sk, src_fig.scale), appearance.head_patch(go, target, out_fig.scale)
    )
    if head is not None:
        scores["head_match"], scores["head_match_mirrored"] = head
        if head[0] < th.min_head_match:
            reasons.append("the head or face does not match the source (another person?)")
    # mirrored: the face and hair match the source's mirror image better than the source (a side parting, a
    # profile), or torso and head together do (a print); the head alone is the cleaner signal (docs/QUALITY.md)
    mirror_votes = [m - s for s, m in (p for p in (torso, head) if p is not None)]
    if mirror_votes:
        scores["patch_mirror_margin"] = float(np.mean(mirror_votes))
        head_margin = head[1] - head[0] if head is not None else -1.0
        scores["head_mirror_margin"] = head_margin
        if scores["patch_mirror_margin"] > th.patch_mirror_margin or head_margin > th.head_mirror_margin:
            reasons.append("the image is mirrored (the print or the face is reversed)")
    return reasons
