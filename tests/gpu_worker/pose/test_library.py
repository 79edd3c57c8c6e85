"""Pose library: the built-in sets, custom sets, poses from JSON and from a photo."""

from __future__ import annotations

import copy
import json

import pytest

from gpu_worker.errors import InputRejected, PoseLibraryError
from gpu_worker.pose import authoring
from gpu_worker.pose.library import (
    Pose,
    PoseSet,
    list_pose_sets,
    load_pose_set,
    pose_from_image,
    pose_from_json,
    pose_set_from_dict,
    pose_to_dict,
)
from gpu_worker.pose.skeleton import check_plausible

from .conftest import sample_path


def test_builtin_sets() -> None:
    sets = list_pose_sets()
    ids = [s.id for s in sets]
    assert {"catalog-basics", "editorial", "lifestyle", "mascot", "activewear"} <= set(ids)
    assert len(sets) >= 5 and len(ids) == len(set(ids))
    for ps in sets:
        assert isinstance(ps, PoseSet) and ps.version >= 1 and ps.name and ps.category
        assert len(ps.poses) >= 5
        pose_ids = [p.id for p in ps.poses]
        assert len(pose_ids) == len(set(pose_ids))
        for pose in ps.poses:
            assert pose.backends and pose.backends <= {"warp", "diffusion"}
            assert pose.skeleton.visible().all(), f"{ps.id}/{pose.id}: built-in poses place all 33 joints"
            check_plausible(pose.skeleton)
            assert ps.pose(pose.id) is pose


def test_catalog_basics_is_all_warpable_and_upright() -> None:
    ps = load_pose_set("catalog-basics")
    assert [p.id for p in ps.poses][:1] == ["front-relaxed"]
    for pose in ps.poses:
        assert "warp" in pose.backends
        sk = pose.skeleton
        neck = (sk.points[11] + sk.points[12]) / 2
        pelvis = (sk.points[23] + sk.points[24]) / 2
        assert abs(neck[0] - pelvis[0]) < 0.1 * (pelvis[1] - neck[1])  # torso upright
        assert sk.points[11, 0] > sk.points[12, 0]  # facing the camera


def test_back_turns_are_diffusion_only() -> None:
    pose = load_pose_set("editorial").pose("over-the-shoulder")
    assert pose.backends == frozenset({"diffusion"})
    assert pose.skeleton.points[11, 0] < pose.skeleton.points[12, 0]  # the back is shown


def test_face_landmarks_sit_on_the_head() -> None:
    for ps in list_pose_sets():
        for pose in ps.poses:
            p = pose.skeleton.points
            neck = (p[11] + p[12]) / 2
            head = abs(p[0, 1] - neck[1]) + abs(p[0, 0] - neck[0])
            for i in range(1, 11):
                assert abs(p[i] - p[0]).max() < 0.8 * head, f"{ps.id}/{pose.id} landmark {i}"
            assert (p[:11, 1] < neck[1]).all()


def test_json_files_match_the_authoring_module() -> None:
    for spec in authoring.BUILTIN_SETS:
        on_disk = json.loads((authoring.SETS_DIR / f"{spec.id}.json").read_text())
        assert on_disk == json.loads(json.dumps(authoring.set_to_dict(spec))), (
            f"{spec.id}.json is stale: run python -m gpu_worker.pose.authoring"
        )


def test_unknown_ids_list_the_known_ones() -> None:
    with pytest.raises(PoseLibraryError, match="known pose sets: .*catalog-basics"):
        load_pose_set("nope")
    with pytest.raises(PoseLibraryError, match="known poses: front-relaxed"):
        load_pose_set("catalog-basics").pose("nope")


def _hand_placed() -> dict:
    return pose_to_dict(load_pose_set("mascot").pose("wave"))


def test_pose_json_round_trip() -> None:
    doc = _hand_placed()
    doc["id"] = "my-wave"
    pose = pose_from_json(json.dumps(doc))
    assert isinstance(pose, Pose) and pose.id == "my-wave"
    again = pose_from_json(pose_to_dict(pose))
    assert again.backends == pose.backends
    assert abs(again.skeleton.points - pose.skeleton.points).max() < 1e-2


def _breaking(path: str, value: object):  # type: ignore[no-untyped-def]
    def make() -> dict:
        doc = copy.deepcopy(_hand_placed())
        node = doc
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        if value is KeyError:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
        return doc

    return make


BAD_POSES = {
    "not json": (lambda: "{nope", "not valid JSON"),
    "a list": (lambda: [], "JSON object"),
    "bad id": (_breaking("id", "Hello World"), "lowercase"),
    "bad backend": (_breaking("backends", ["magic"]), "backends"),
    "no skeleton": (_breaking("skeleton", KeyError), "no 'skeleton'"),
    "32 landmarks": (_breaking("skeleton.landmarks", [[0.5, 0.5, 1.0]] * 32), "33"),
    "coordinate out of range": (_breaking("skeleton.landmarks.15", [3.0, 0.5, 1.0]), "left_wrist"),
    "missing hip": (_breaking("skeleton.landmarks.23", None), "hips"),
    "giant arm": (_breaking("skeleton.landmarks.13", [1.4, 1.4, 1.0]), "human proportions"),
    "wrong schema": (_breaking("schema", "other@9"), "schema"),
    "airborne": (_breaking("airborne", -1), "airborne"),
}


@pytest.mark.parametrize("case", list(BAD_POSES))
def test_pose_json_rejects_bad_input(case: str) -> None:
    make, words = BAD_POSES[case]
    with pytest.raises(PoseLibraryError) as info:
        pose_from_json(make())
    assert words in str(info.value) and "\n" not in str(info.value)


def test_custom_set() -> None:
    doc = {
        "id": "my-set",
        "version": 3,
        "name": "Mine",
        "category": "custom",
        "poses": [_hand_placed(), {**_hand_placed(), "id": "wave-2"}],
    }
    ps = pose_set_from_dict(doc)
    assert ps.version == 3 and [p.id for p in ps.poses] == ["wave", "wave-2"]
    with pytest.raises(PoseLibraryError, match="used twice"):
        pose_set_from_dict({**doc, "poses": [_hand_placed(), _hand_placed()]})
    with pytest.raises(PoseLibraryError, match="version"):
        pose_set_from_dict({**doc, "version": 0})
    with pytest.raises(PoseLibraryError, match="pose #1"):
        pose_set_from_dict({**doc, "poses": [{"id": "x"}]})


def test_pose_from_reference_photo() -> None:
    pose = pose_from_image(sample_path("fitness_architetto_franc_01"))
    assert pose.skeleton.visible().all() and pose.skeleton.mask is None
    with pytest.raises(InputRejected, match="full-body"):
        pose_from_image(sample_path("astronaut"))
