"""retarget: bone lengths from the subject, directions from the pose; property tests over random poses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpu_worker.pose.authoring import CHIBI, PoseAngles, Proportions, build_skeleton
from gpu_worker.pose.library import list_pose_sets, load_pose_set
from gpu_worker.pose.retarget import PARENT, retarget, retarget_detailed
from gpu_worker.pose.skeleton import L_SHOULDER, R_SHOULDER, Skeleton, check_plausible

LIMB_BONES = [(p, j) for j, p in PARENT.items() if p >= 0] + [(11, 12), (23, 24)]


def _lengths(sk: Skeleton) -> dict[tuple[int, int], float]:
    vis = sk.visible()
    return {
        (a, b): float(np.hypot(*(sk.points[a] - sk.points[b]))) for a, b in LIMB_BONES if vis[a] and vis[b]
    }


def _spine(sk: Skeleton) -> float:
    p = sk.points
    return float(np.hypot(*((p[11] + p[12]) / 2 - (p[23] + p[24]) / 2)))


angles = st.builds(
    PoseAngles,
    l_arm=st.floats(-30, 180),
    l_fore=st.floats(-170, 180),
    r_arm=st.floats(-30, 180),
    r_fore=st.floats(-170, 180),
    l_hand=st.floats(-40, 40),
    r_hand=st.floats(-40, 40),
    l_thigh=st.floats(-20, 60),
    l_shin=st.floats(-30, 40),
    r_thigh=st.floats(-20, 60),
    r_shin=st.floats(-30, 40),
    lean=st.floats(-15, 15),
    head=st.floats(-20, 20),
    head_yaw=st.floats(-60, 60),
    shoulder_tilt=st.floats(-10, 10),
    hip_tilt=st.floats(-10, 10),
)
proportions = st.builds(
    Proportions,
    shoulders=st.floats(0.7, 1.3),
    hips=st.floats(0.7, 1.3),
    upper_arm=st.floats(0.5, 1.2),
    forearm=st.floats(0.5, 1.2),
    thigh=st.floats(0.5, 1.2),
    shin=st.floats(0.5, 1.2),
    head=st.floats(0.8, 2.0),
)


def _subject(a: PoseAngles, pr: Proportions, canvas: int = 3000) -> Skeleton:
    # A big frame with the figure in the middle, so that no frame fitting is needed.
    small = build_skeleton(a, proportions=pr)
    return Skeleton(small.points + (canvas - 1000) / 2, small.visibility, canvas, canvas)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=angles, pr=proportions, target=angles)
def test_bone_lengths_come_from_the_subject(subject: PoseAngles, pr: Proportions, target: PoseAngles) -> None:
    src = _subject(subject, pr)
    pose = build_skeleton(target)
    res = retarget_detailed(src, pose)
    assert res.scale == 1.0
    out = res.skeleton
    assert (out.width, out.height) == (src.width, src.height) and out.mask is None
    assert np.array_equal(out.visible(), src.visible())
    before, after = _lengths(src), _lengths(out)
    for bone, length in before.items():
        assert after[bone] == pytest.approx(length, rel=0.02, abs=0.5), bone
    assert _spine(out) == pytest.approx(_spine(src), rel=0.02)
    # Directions come from the pose.
    for a, b in [(11, 13), (13, 15), (23, 25), (25, 27)]:
        d_out = out.points[b] - out.points[a]
        d_pose = pose.points[b] - pose.points[a]
        cos = d_out @ d_pose / (np.linalg.norm(d_out) * np.linalg.norm(d_pose))
        assert cos > 0.999


@settings(max_examples=40, deadline=None)
@given(subject=angles, pr=proportions)
def test_own_pose_is_a_fixed_point(subject: PoseAngles, pr: Proportions) -> None:
    src = _subject(subject, pr)
    # The subject's own pose, drawn in a different frame and at another scale.
    pose = Skeleton(src.points * 0.4 + 17, src.visibility, 1300, 1300)
    out = retarget(src, pose)
    assert np.allclose(out.points, src.points, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(subject=angles, target=angles)
def test_left_and_right_are_never_swapped(subject: PoseAngles, target: PoseAngles) -> None:
    out = retarget(_subject(subject, Proportions()), build_skeleton(target))
    # Frontal pose: the subject's left shoulder stays on the image's right, and each hand on its own arm.
    assert out.points[L_SHOULDER, 0] > out.points[R_SHOULDER, 0]
    pose = build_skeleton(target)
    for sh, el in ((11, 13), (12, 14)):
        d_pose = pose.points[el, 0] - pose.points[sh, 0]
        if (
            abs(d_pose) > 20
        ):  # elbow clearly on one side of its shoulder in the pose: the same side in the output
            assert np.sign(out.points[el, 0] - out.points[sh, 0]) == np.sign(d_pose)
    # A back view puts the subject's left shoulder on the image's left.
    back = retarget(_subject(subject, Proportions()), load_pose_set("editorial").pose("over-the-shoulder"))
    assert back.points[L_SHOULDER, 0] < back.points[R_SHOULDER, 0]


def test_detected_subjects_into_every_builtin_pose(detected: dict[str, Skeleton]) -> None:
    for name, src in detected.items():
        for ps in list_pose_sets():
            for pose in ps.poses:
                out = retarget(src, pose)
                vis = out.visible()
                assert (out.width, out.height) == (src.width, src.height)
                assert vis.sum() > 0
                assert np.all(out.points[vis] >= -1e-6)
                assert np.all(out.points[vis, 0] <= src.width + 1e-6) and np.all(
                    out.points[vis, 1] <= src.height + 1e-6
                )
                assert not (vis & ~src.visible()).any(), f"{name}/{pose.id}: a joint was invented"


def test_chibi_stays_a_chibi() -> None:
    src = _subject(PoseAngles(), CHIBI)
    out = retarget(src, load_pose_set("mascot").pose("cheer"))
    check_plausible(out)
    ratio_in = _lengths(src)[(23, 25)] / _spine(src)
    ratio_out = _lengths(out)[(23, 25)] / _spine(out)
    assert ratio_out == pytest.approx(ratio_in, rel=0.02)


def test_feet_stay_on_the_floor_and_a_jump_lifts_them(detected: dict[str, Skeleton]) -> None:
    src = detected["groom1_jarno_vasamaa_01"]
    floor = src.points[27:33, 1].max()
    walk = retarget(src, load_pose_set("catalog-basics").pose("walking-stride"))
    assert walk.points[27:33, 1].max() == pytest.approx(floor, abs=1.0)
    jump = retarget(src, load_pose_set("mascot").pose("jump"))
    assert jump.points[27:33, 1].max() < floor - 0.2 * _spine(src)


def test_torso_stays_where_the_subject_is(detected: dict[str, Skeleton]) -> None:
    src = detected["groom1_jarno_vasamaa_01"]
    out = retarget(src, load_pose_set("catalog-basics").pose("hands-on-hips"))
    centre = lambda sk: (sk.points[[11, 12, 23, 24]]).mean(axis=0)  # noqa: E731
    assert np.hypot(*(centre(out) - centre(src))) < 0.1 * _spine(src)


def test_waist_up_subject_gets_no_legs(detected: dict[str, Skeleton]) -> None:
    src = detected["astronaut"]
    for pose in load_pose_set("catalog-basics").poses:
        out = retarget(src, pose)
        assert not out.visible()[23:].any()
        assert out.visible()[[0, 11, 12]].all()


def test_frame_fitting_scales_down_only_when_needed() -> None:
    # A subject filling its frame; arms up must then be scaled down to stay inside.
    tight = build_skeleton(PoseAngles())
    x0, y0, x1, y1 = tight.bbox()
    src = Skeleton(tight.points - (x0 - 5, y0 - 5), tight.visibility, int(x1 - x0 + 10), int(y1 - y0 + 10))
    res = retarget_detailed(src, load_pose_set("lifestyle").pose("stretch-up"))
    assert res.scale < 1.0
    bx0, by0, bx1, by1 = res.skeleton.bbox()
    assert bx0 >= -1e-6 and by0 >= -1e-6 and bx1 <= src.width + 1e-6 and by1 <= src.height + 1e-6
