"""Pose sets: built-in (versioned JSON in `sets/`) and custom, and poses taken from a photo or placed
by hand.

Schema of the JSON documents: docs/POSE_SETS.md. A pose's *joint angles* are what `retarget` uses; its canvas
size and bone lengths do not matter (the subject keeps its own proportions).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from gpu_worker.errors import InputRejected, PoseLibraryError
from gpu_worker.pose.image_io import ImageSource
from gpu_worker.pose.skeleton import (
    L_HIP,
    L_SHOULDER,
    R_HIP,
    R_SHOULDER,
    Skeleton,
    plausibility_problems,
)

BACKENDS = frozenset({"warp", "diffusion"})
SET_SCHEMA = "pose-studio/pose-set@1"
POSE_SCHEMA = "pose-studio/pose@1"
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class Pose:
    """A target pose. `skeleton` is in the pose's own canvas; `airborne`: feet above the floor, × torso."""

    id: str
    name: str
    description: str
    skeleton: Skeleton
    backends: frozenset[str] = BACKENDS
    airborne: float = 0.0


@dataclass(frozen=True)
class PoseSet:
    id: str
    version: int
    name: str
    description: str
    category: str
    poses: tuple[Pose, ...]

    def pose(self, id: str) -> Pose:  # noqa: A002 - the contract's name
        for p in self.poses:
            if p.id == id:
                return p
        known = ", ".join(p.id for p in self.poses)
        raise PoseLibraryError(f"pose set '{self.id}' has no pose '{id}'; known poses: {known}")


# -- built-in sets --------------------------------------------------------------------------------
def _builtin_files() -> dict[str, Any]:
    files = {}
    for entry in resources.files("gpu_worker.pose").joinpath("sets").iterdir():
        if entry.name.endswith(".json"):
            files[entry.name[: -len(".json")]] = entry
    return files


@lru_cache(maxsize=1)
def _builtin_sets() -> dict[str, PoseSet]:
    sets: dict[str, PoseSet] = {}
    for set_id, entry in sorted(_builtin_files().items()):
        try:
            data = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PoseLibraryError(f"built-in pose set file {entry.name} cannot be read: {exc}") from exc
        ps = pose_set_from_dict(data)
        if ps.id != set_id:
            raise PoseLibraryError(f"built-in pose set file {entry.name} declares id '{ps.id}'")
        sets[ps.id] = ps
    return sets


def list_pose_sets() -> list[PoseSet]:
    """Every built-in pose set, sorted by id."""
    return list(_builtin_sets().values())


def load_pose_set(id: str) -> PoseSet:  # noqa: A002 - the contract's name
    """The built-in pose set `id`; PoseLibraryError naming the known ids when there is none."""
    sets = _builtin_sets()
    if id not in sets:
        raise PoseLibraryError(f"unknown pose set '{id}'; known pose sets: {', '.join(sets)}")
    return sets[id]


# -- parsing -------------------------------------------------------------------------------------------------
def pose_set_from_dict(d: Any) -> PoseSet:
    """Parse and validate a pose set document (docs/POSE_SETS.md). Raises PoseLibraryError."""
    if not isinstance(d, dict):
        raise PoseLibraryError(f"a pose set must be a JSON object, got {type(d).__name__}")
    schema = d.get("schema", SET_SCHEMA)
    if schema != SET_SCHEMA:
        raise PoseLibraryError(f"unsupported pose set schema {schema!r}; expected {SET_SCHEMA!r}")
    set_id = _id(d.get("id"), "pose set id")
    version = d.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise PoseLibraryError(f"pose set '{set_id}': 'version' must be a positive integer, got {version!r}")
    name = _text(d.get("name"), f"pose set '{set_id}' name", 80)
    description = _text(d.get("description", ""), f"pose set '{set_id}' description", 500, empty_ok=True)
    category = _text(d.get("category", "custom"), f"pose set '{set_id}' category", 40)
    raw_poses = d.get("poses")
    if not isinstance(raw_poses, list) or not raw_poses:
        raise PoseLibraryError(f"pose set '{set_id}': 'poses' must be a non-empty list")
    if len(raw_poses) > 50:
        raise PoseLibraryError(f"pose set '{set_id}' has {len(raw_poses)} poses; at most 50 are allowed")
    poses = []
    seen: set[str] = set()
    for k, raw in enumerate(raw_poses):
        try:
            pose = pose_from_json(raw)
        except PoseLibraryError as exc:
            raise PoseLibraryError(f"pose set '{set_id}', pose #{k + 1}: {exc}") from None
        if pose.id in seen:
            raise PoseLibraryError(f"pose set '{set_id}': pose id '{pose.id}' is used twice")
        seen.add(pose.id)
        poses.append(pose)
    return PoseSet(set_id, version, name, description, category, tuple(poses))


def pose_from_json(data: dict[str, Any] | str) -> Pose:
    """A pose from its JSON (a dict or a JSON string), e.g. a skeleton placed by hand in the pose editor.

    Validated strictly: id, name, backends, 33 landmarks with normalized coordinates, the torso and at least
    the head present, human proportions. Raises PoseLibraryError with a one-line reason.
    """
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise PoseLibraryError(f"pose is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PoseLibraryError(f"a pose must be a JSON object, got {type(data).__name__}")
    schema = data.get("schema", POSE_SCHEMA)
    if schema != POSE_SCHEMA:
        raise PoseLibraryError(f"unsupported pose schema {schema!r}; expected {POSE_SCHEMA!r}")
    pose_id = _id(data.get("id"), "pose id")
    name = _text(data.get("name", pose_id), f"pose '{pose_id}' name", 80)
    description = _text(data.get("description", ""), f"pose '{pose_id}' description", 500, empty_ok=True)
    backends_raw = data.get("backends", sorted(BACKENDS))
    if (
        not isinstance(backends_raw, list)
        or not backends_raw
        or not all(isinstance(b, str) and b in BACKENDS for b in backends_raw)
    ):
        raise PoseLibraryError(
            f"pose '{pose_id}': 'backends' must be a non-empty list drawn from {sorted(BACKENDS)}, "
            f"got {backends_raw!r}"
        )
    airborne = data.get("airborne", 0.0)
    if isinstance(airborne, bool) or not isinstance(airborne, int | float) or not 0.0 <= airborne <= 2.0:
        raise PoseLibraryError(
            f"pose '{pose_id}': 'airborne' must be a number 0..2 (× torso), got {airborne!r}"
        )
    if "skeleton" not in data:
        raise PoseLibraryError(f"pose '{pose_id}' has no 'skeleton'")
    try:
        skeleton = Skeleton.from_dict(data["skeleton"])
    except PoseLibraryError as exc:
        raise PoseLibraryError(f"pose '{pose_id}': {exc}") from None
    vis = skeleton.visible()
    if not (vis[L_SHOULDER] and vis[R_SHOULDER] and vis[L_HIP] and vis[R_HIP]):
        raise PoseLibraryError(
            f"pose '{pose_id}': both shoulders and both hips must be placed (visibility ≥ 0.5)"
        )
    problems = plausibility_problems(skeleton)
    if problems:
        raise PoseLibraryError(f"pose '{pose_id}' does not have human proportions: {problems[0]}")
    return Pose(pose_id, name, description, skeleton, frozenset(backends_raw), float(airborne))


def pose_to_dict(pose: Pose) -> dict[str, Any]:
    """The JSON document of `pose` (inverse of `pose_from_json`)."""
    return {
        "schema": POSE_SCHEMA,
        "id": pose.id,
        "name": pose.name,
        "description": pose.description,
        "backends": sorted(pose.backends),
        "airborne": pose.airborne,
        "skeleton": pose.skeleton.to_dict(),
    }


def pose_from_image(photo: ImageSource, *, id: str = "from-photo", name: str = "From photo") -> Pose:  # noqa: A002
    """The pose of the person in a reference photo (InputRejected when there is none or it is not human)."""
    from gpu_worker.pose.detect import detect  # mediapipe only when needed

    skeleton = detect(photo)
    vis = skeleton.visible()
    if not (vis[L_HIP] and vis[R_HIP]):
        raise InputRejected(
            "the reference photo shows no hips (waist-up crop); use a full-body reference photo for a pose"
        )
    frame_only = Skeleton(skeleton.points, skeleton.visibility, skeleton.width, skeleton.height)  # no mask
    return Pose(_id(id, "pose id"), name, "Pose taken from a reference photo.", frame_only)


def _id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise PoseLibraryError(
            f"{what} must be 1-64 lowercase letters, digits or '-' (starting with a letter or digit), "
            f"got {value!r}"
        )
    return value


def _text(value: Any, what: str, max_len: int, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str) or (not empty_ok and not value.strip()) or len(value) > max_len:
        raise PoseLibraryError(
            f"{what} must be a {'' if empty_ok else 'non-empty '}string of at most {max_len} characters"
        )
    return value
