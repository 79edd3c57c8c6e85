"""Build the built-in pose sets from joint angles, and write them as the JSON files in `sets/`.

The JSON files are the data the library loads; this module is how they were made (edit an angle here, then run
`python -m gpu_worker.pose.authoring` to rewrite them; a test checks the files match). Angles are what matters
to `retarget` (it takes bone directions from a pose and bone lengths from the subject), so the figure below
only needs sensible adult proportions: measured with MediaPipe on the shipped catalog samples, in units of the
torso (neck = shoulders' midpoint → pelvis = hips' midpoint).

Angle convention (degrees, image plane, frontal figure): a limb angle is measured from straight *down*,
positive *outward* (away from the body's midline): 0 = hanging, 90 = horizontal out to the side, 180 =
straight up, negative = across the body. The forearm / shin angles are absolute (same convention), hand / foot
angles are relative to the forearm / shin. `lean` tilts the spine (positive = top towards the subject's left,
i.e. image right), `head` tilts the neck→nose line likewise, `head_yaw` turns the face (positive = towards the
subject's left), `body_yaw` turns the torso around the vertical axis (beyond 90° the figure shows its back:
the subject's left goes to image left).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpu_worker.pose.skeleton import N_LANDMARKS, Skeleton

CANVAS = 1000  # canonical square canvas of the built-in poses, pixels
SETS_DIR = Path(__file__).resolve().parent / "sets"

# Proportions, × torso length (MediaPipe joint centres on the groom / business woman / fitness samples).
TORSO = 230.0
SHOULDER_HALF = 0.30
HIP_HALF = 0.17
UPPER_ARM = 0.50
FOREARM = 0.45
THIGH = 0.78
SHIN = 0.72
NECK_TO_HEAD_CENTRE = 0.30
# Face in head-centred 3D (x = subject's left, y = down, z = towards the camera), × torso; nose from the
# samples.
FACE_3D: dict[int, tuple[float, float, float]] = {
    0: (0.0, 0.04, 0.20),
    1: (0.037, -0.02, 0.16), 2: (0.063, -0.02, 0.15), 3: (0.088, -0.018, 0.12),
    4: (-0.037, -0.02, 0.16), 5: (-0.063, -0.02, 0.15), 6: (-0.088, -0.018, 0.12),
    7: (0.125, 0.01, -0.02), 8: (-0.125, 0.01, -0.02),
    9: (0.045, 0.125, 0.16), 10: (-0.045, 0.125, 0.16),
}  # fmt: skip
# Hand landmarks: (length × torso, angle offset in degrees, + = outward) from the wrist.
HAND = {"index": (0.14, -10.0), "pinky": (0.15, 12.0), "thumb": (0.10, -35.0)}
FOOT_HEEL, FOOT_TOE = 0.08, 0.21  # ankle → heel (just below), ankle → toe (turned out by the foot angle)


@dataclass(frozen=True)
class PoseAngles:
    """A pose as joint angles (module docstring). Defaults: standing relaxed, facing the camera."""

    l_arm: float = 8.0
    l_fore: float = 4.0
    l_hand: float = 0.0
    r_arm: float = 8.0
    r_fore: float = 4.0
    r_hand: float = 0.0
    l_thigh: float = 4.0
    l_shin: float = 2.0
    l_foot: float = 20.0
    r_thigh: float = 4.0
    r_shin: float = 2.0
    r_foot: float = 20.0
    lean: float = 0.0
    shoulder_tilt: float = 0.0  # degrees, positive = subject's left shoulder lower
    hip_tilt: float = 0.0  # degrees, positive = subject's left hip lower
    head: float = 0.0
    head_yaw: float = 0.0
    head_pitch: float = 0.0  # positive = chin down
    body_yaw: float = 0.0
    airborne: float = 0.0  # feet above the floor, × torso (a jump)


@dataclass(frozen=True)
class Proportions:
    """Bone-length multipliers against the adult figure (a child or mascot; used by tests and demos)."""

    shoulders: float = 1.0
    hips: float = 1.0
    upper_arm: float = 1.0
    forearm: float = 1.0
    thigh: float = 1.0
    shin: float = 1.0
    head: float = 1.0


ADULT = Proportions()
CHIBI = Proportions(shoulders=0.9, upper_arm=0.6, forearm=0.6, thigh=0.55, shin=0.5, head=2.0)


@dataclass(frozen=True)
class PoseSpec:
    id: str
    name: str
    description: str
    angles: PoseAngles
    backends: tuple[str, ...] = ("warp", "diffusion")


@dataclass(frozen=True)
class SetSpec:
    id: str
    version: int
    name: str
    description: str
    category: str
    poses: tuple[PoseSpec, ...] = field(default_factory=tuple)


def _rot(v: np.ndarray, deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def _limb_dir(angle: float, side: int) -> np.ndarray:
    """Unit vector for a limb angle (from down, + outward) on `side` (+1 = subject's left = image right)."""
    a = math.radians(angle)
    return np.array([side * math.sin(a), math.cos(a)])


def build_skeleton(a: PoseAngles, *, canvas: int = CANVAS, proportions: Proportions = ADULT) -> Skeleton:
    """The skeleton of `a` on a `canvas` × `canvas` frame, feet on a floor line near the bottom."""
    t = TORSO * canvas / CANVAS
    pr = proportions
    pts = np.zeros((N_LANDMARKS, 2))
    yaw = math.radians(a.body_yaw)
    width_k = math.cos(yaw)  # < 0 past 90°: the back is shown, left and right change image sides
    pelvis = np.array([0.0, 0.0])
    up = _rot(np.array([0.0, -1.0]), a.lean)
    neck = pelvis + up * t
    across = _rot(np.array([1.0, 0.0]), a.lean)  # towards the subject's left
    pts[11] = neck + _rot(across, a.shoulder_tilt) * SHOULDER_HALF * pr.shoulders * t * width_k
    pts[12] = neck - _rot(across, a.shoulder_tilt) * SHOULDER_HALF * pr.shoulders * t * width_k
    pts[23] = pelvis + _rot(across, a.hip_tilt) * HIP_HALF * pr.hips * t * width_k
    pts[24] = pelvis - _rot(across, a.hip_tilt) * HIP_HALF * pr.hips * t * width_k
    # Limbs: the outward side flips with the torso when the figure turns its back.
    sgn = 1 if width_k >= 0 else -1
    for side, (sh, el, wr, pk, ix, th), arm, fore, hand in (
        (sgn, (11, 13, 15, 17, 19, 21), a.l_arm, a.l_fore, a.l_hand),
        (-sgn, (12, 14, 16, 18, 20, 22), a.r_arm, a.r_fore, a.r_hand),
    ):
        pts[el] = pts[sh] + _limb_dir(arm, side) * UPPER_ARM * pr.upper_arm * t
        pts[wr] = pts[el] + _limb_dir(fore, side) * FOREARM * pr.forearm * t
        for idx, key in ((ix, "index"), (pk, "pinky"), (th, "thumb")):
            length, off = HAND[key]
            pts[idx] = pts[wr] + _limb_dir(fore + hand + off, side) * length * pr.forearm * t
    for side, (hp, kn, an, he, to), thigh, shin, foot in (
        (sgn, (23, 25, 27, 29, 31), a.l_thigh, a.l_shin, a.l_foot),
        (-sgn, (24, 26, 28, 30, 32), a.r_thigh, a.r_shin, a.r_foot),
    ):
        pts[kn] = pts[hp] + _limb_dir(thigh, side) * THIGH * pr.thigh * t
        pts[an] = pts[kn] + _limb_dir(shin, side) * SHIN * pr.shin * t
        # Toe direction: along the shin, turned outward by `foot`; the heel sits just below the ankle.
        pts[to] = pts[an] + _limb_dir(shin + foot, side) * FOOT_TOE * pr.shin * t
        pts[he] = pts[an] + _limb_dir(shin - 0.25 * foot, side) * FOOT_HEEL * pr.shin * t
    # Head: a rigid 3D face, turned (yaw), nodded (pitch), then tilted in the image plane with the neck.
    head_up = _rot(up, a.head)
    centre = neck + head_up * NECK_TO_HEAD_CENTRE * pr.head * t
    yaw_h = math.radians(a.head_yaw + a.body_yaw)
    pitch = math.radians(a.head_pitch)
    roll = a.lean + a.head
    for idx, (x, y, z) in FACE_3D.items():
        x1, z1 = x * math.cos(yaw_h) + z * math.sin(yaw_h), -x * math.sin(yaw_h) + z * math.cos(yaw_h)
        y1 = y * math.cos(pitch) + z1 * math.sin(pitch)
        pts[idx] = centre + _rot(np.array([x1, y1]), roll) * pr.head * t
    # Floor: the lowest foot point sits at 91 % of the canvas; a jump lifts the figure. Centre the figure in
    # x.
    floor = 0.91 * canvas
    pts[:, 1] += floor - pts[11:, 1].max() - a.airborne * t
    pts[:, 0] += canvas / 2 - (pts[:, 0].min() + pts[:, 0].max()) / 2
    # Keep the raised arms inside the canvas (figure scaled about the floor point if needed).
    top = pts[:, 1].min()
    if top < 0.02 * canvas:
        k = (floor - 0.02 * canvas) / (floor - top)
        base = np.array([canvas / 2, floor])
        pts = base + (pts - base) * k
    return Skeleton(points=pts, visibility=np.ones(N_LANDMARKS), width=canvas, height=canvas)


P = PoseAngles
W = ("warp", "diffusion")
D = ("diffusion",)

BUILTIN_SETS: tuple[SetSpec, ...] = (
    SetSpec(
        "catalog-basics",
        1,
        "Catalog basics",
        "Five calm fashion-catalog poses. Arms and legs move, the torso stays upright and facing the camera, "
        "so every pose can be made by the fast warp backend as well as by diffusion.",
        "fashion",
        (
            PoseSpec(
                "front-relaxed",
                "Front, relaxed",
                "Standing straight, arms relaxed at the sides.",
                P(l_arm=10, l_fore=6, r_arm=10, r_fore=6, l_thigh=5, r_thigh=5, l_shin=3, r_shin=3),
            ),
            PoseSpec(
                "hand-on-hip",
                "Hand on hip",
                "Left hand on the hip, elbow out; right arm relaxed.",
                P(l_arm=42, l_fore=-40, l_hand=-30, r_arm=9, r_fore=5, l_thigh=6, r_thigh=3),
            ),
            PoseSpec(
                "walking-stride",
                "Walking stride",
                "Mid-stride: one leg forward, the opposite arm swinging.",
                P(
                    l_arm=22,
                    l_fore=30,
                    r_arm=-6,
                    r_fore=-14,
                    l_thigh=-10,
                    l_shin=8,
                    r_thigh=16,
                    r_shin=12,
                    l_foot=10,
                    r_foot=30,
                ),
            ),
            PoseSpec(
                "hands-on-hips",
                "Hands on hips",
                "Both hands on the hips, elbows out, feet apart.",
                P(
                    l_arm=45,
                    l_fore=-42,
                    l_hand=-30,
                    r_arm=45,
                    r_fore=-42,
                    r_hand=-30,
                    l_thigh=10,
                    r_thigh=10,
                    l_shin=6,
                    r_shin=6,
                ),
            ),
            PoseSpec(
                "weight-shift",
                "Weight on one leg",
                "Three-quarter-style catalog stance: weight on the right leg, left knee relaxed and crossed "
                "slightly in front, hands loose.",
                P(
                    l_arm=14,
                    l_fore=-6,
                    r_arm=12,
                    r_fore=22,
                    l_thigh=-6,
                    l_shin=10,
                    r_thigh=6,
                    r_shin=0,
                    l_foot=35,
                    hip_tilt=-5,
                    shoulder_tilt=3,
                    head=-4,
                ),
            ),
        ),
    ),
    SetSpec(
        "editorial",
        1,
        "Editorial",
        "Expressive fashion-editorial poses: hands in the hair, leaning, looking back over the shoulder.",
        "fashion",
        (
            PoseSpec(
                "hands-in-hair",
                "Hands in hair",
                "Both hands raised to the back of the head, elbows wide.",
                P(l_arm=150, l_fore=-83, r_arm=150, r_fore=-83, head=-5, l_thigh=5, r_thigh=5),
            ),
            PoseSpec(
                "casual-lean",
                "Casual lean",
                "Body leaning to one side, one hand on the hip, legs crossed.",
                P(
                    lean=-7,
                    l_arm=40,
                    l_fore=-38,
                    l_hand=-30,
                    r_arm=18,
                    r_fore=12,
                    l_thigh=-8,
                    l_shin=4,
                    r_thigh=8,
                    r_shin=2,
                    head=6,
                    hip_tilt=6,
                ),
            ),
            PoseSpec(
                "hand-to-face",
                "Hand to face",
                "One hand raised to the chin, the other relaxed.",
                P(l_arm=-5, l_fore=-160, l_hand=-20, r_arm=12, r_fore=8, head=-6, l_thigh=3, r_thigh=7),
            ),
            PoseSpec(
                "over-the-shoulder",
                "Over the shoulder",
                "Back three-quarter view, looking back over the shoulder (diffusion only: the body turns).",
                P(body_yaw=150, head_yaw=-120, l_arm=10, l_fore=6, r_arm=10, r_fore=6, l_thigh=4, r_thigh=6),
                D,
            ),
            PoseSpec(
                "arms-crossed",
                "Arms crossed",
                "Arms folded across the chest, feet apart.",
                P(l_arm=-8, l_fore=-105, r_arm=-8, r_fore=-98, l_thigh=7, r_thigh=7, l_shin=3, r_shin=3),
                D,
            ),
            PoseSpec(
                "power-stance",
                "Power stance",
                "Feet wide, hands on the hips, chin up.",
                P(
                    l_arm=48,
                    l_fore=-40,
                    l_hand=-30,
                    r_arm=48,
                    r_fore=-40,
                    r_hand=-30,
                    l_thigh=16,
                    r_thigh=16,
                    l_shin=10,
                    r_shin=10,
                    head_pitch=-10,
                ),
            ),
        ),
    ),
    SetSpec(
        "lifestyle",
        1,
        "Lifestyle",
        "Relaxed everyday moments: waving hello, a phone call, walking, a stretch, a shrug.",
        "lifestyle",
        (
            PoseSpec(
                "hello-wave",
                "Hello wave",
                "Smiling wave with the right hand, the other arm relaxed.",
                P(r_arm=85, r_fore=165, l_arm=10, l_fore=6, head=3),
            ),
            PoseSpec(
                "phone-call",
                "Phone call",
                "Right hand holding a phone to the ear.",
                P(r_arm=-10, r_fore=-175, r_hand=-30, l_arm=12, l_fore=20, head=5, r_thigh=6, l_thigh=3),
            ),
            PoseSpec(
                "easy-walk",
                "Easy walk",
                "A relaxed walking step, arms swinging.",
                P(
                    l_arm=-8,
                    l_fore=-4,
                    r_arm=20,
                    r_fore=26,
                    l_thigh=14,
                    l_shin=10,
                    r_thigh=-8,
                    r_shin=6,
                    r_foot=12,
                ),
            ),
            PoseSpec(
                "stretch-up",
                "Morning stretch",
                "Both arms stretched up overhead.",
                P(l_arm=165, l_fore=172, r_arm=165, r_fore=172, l_thigh=6, r_thigh=6, head_pitch=-10),
            ),
            PoseSpec(
                "shrug",
                "Shrug",
                "Palms up at waist height, a friendly shrug.",
                P(
                    l_arm=25,
                    l_fore=95,
                    l_hand=10,
                    r_arm=25,
                    r_fore=95,
                    r_hand=10,
                    head=6,
                    shoulder_tilt=0,
                    l_thigh=5,
                    r_thigh=5,
                ),
            ),
        ),
    ),
    SetSpec(
        "mascot",
        1,
        "Mascot",
        "Big, readable gestures for brand mascots and kids' wear: wave, jump, cheer, point, thumbs up.",
        "mascot",
        (
            PoseSpec(
                "wave",
                "Wave",
                "Big wave with the right arm high.",
                P(r_arm=120, r_fore=160, l_arm=12, l_fore=8, head=4),
            ),
            PoseSpec(
                "jump",
                "Jump",
                "In the air, knees bent, arms up in a V.",
                P(
                    l_arm=145,
                    l_fore=150,
                    r_arm=145,
                    r_fore=150,
                    l_thigh=35,
                    l_shin=-15,
                    r_thigh=35,
                    r_shin=-15,
                    l_foot=40,
                    r_foot=40,
                    airborne=0.35,
                ),
            ),
            PoseSpec(
                "cheer",
                "Cheer",
                "Both fists up, feet apart.",
                P(
                    l_arm=125,
                    l_fore=170,
                    r_arm=125,
                    r_fore=170,
                    l_thigh=12,
                    r_thigh=12,
                    l_shin=6,
                    r_shin=6,
                    head_pitch=-8,
                ),
            ),
            PoseSpec(
                "point",
                "Point",
                "Right arm pointing out to the side, left hand on the hip.",
                P(r_arm=90, r_fore=92, l_arm=42, l_fore=-40, l_hand=-30, head=-5, l_thigh=6, r_thigh=6),
            ),
            PoseSpec(
                "thumbs-up",
                "Thumbs up",
                "Right forearm raised in front, thumb up; left arm relaxed.",
                P(r_arm=25, r_fore=175, r_hand=-40, l_arm=10, l_fore=6, l_thigh=5, r_thigh=5),
            ),
        ),
    ),
    SetSpec(
        "activewear",
        1,
        "Activewear",
        "Sport and fitness moves for activewear: side stretch, lunge, arms out, running, squat.",
        "sport",
        (
            PoseSpec(
                "side-stretch",
                "Side stretch",
                "Right arm over the head, leaning to the left.",
                P(lean=10, r_arm=160, r_fore=130, l_arm=25, l_fore=10, l_thigh=12, r_thigh=12, head=6),
            ),
            PoseSpec(
                "lunge",
                "Side lunge",
                "Wide stance, weight on the bent right knee, hands on the thigh.",
                P(
                    l_thigh=38,
                    l_shin=36,
                    r_thigh=42,
                    r_shin=-2,
                    r_arm=12,
                    r_fore=-10,
                    l_arm=18,
                    l_fore=2,
                    lean=4,
                    hip_tilt=-4,
                ),
            ),
            PoseSpec(
                "t-pose",
                "Arms out",
                "Arms straight out to the sides, feet apart.",
                P(l_arm=90, l_fore=90, r_arm=90, r_fore=90, l_thigh=10, r_thigh=10, l_shin=5, r_shin=5),
            ),
            PoseSpec(
                "run",
                "Running",
                "Running stride: knee up, arms pumping.",
                P(
                    l_thigh=-40,
                    l_shin=30,
                    r_thigh=18,
                    r_shin=28,
                    l_arm=-30,
                    l_fore=-95,
                    r_arm=35,
                    r_fore=80,
                    lean=2,
                    l_foot=10,
                ),
                D,
            ),
            PoseSpec(
                "squat",
                "Squat",
                "Half squat, arms stretched forward.",
                P(
                    l_thigh=55,
                    l_shin=-10,
                    r_thigh=55,
                    r_shin=-10,
                    l_arm=20,
                    l_fore=-70,
                    r_arm=20,
                    r_fore=-70,
                    l_foot=40,
                    r_foot=40,
                ),
                D,
            ),
        ),
    ),
)


def set_to_dict(spec: SetSpec) -> dict[str, Any]:
    """The JSON document of one built-in set (schema: docs/POSE_SETS.md)."""
    poses = []
    for p in spec.poses:
        sk = build_skeleton(p.angles)
        poses.append(
            {
                "id": p.id,
                "name": p.name,
                "description": p.description,
                "backends": list(p.backends),
                "airborne": p.angles.airborne,
                "skeleton": sk.to_dict(),
            }
        )
    return {
        "schema": "pose-studio/pose-set@1",
        "id": spec.id,
        "version": spec.version,
        "name": spec.name,
        "description": spec.description,
        "category": spec.category,
        "poses": poses,
    }


def write_sets(directory: Path = SETS_DIR) -> list[Path]:
    """(Re)write every built-in set's JSON file; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in BUILTIN_SETS:
        path = directory / f"{spec.id}.json"
        path.write_text(json.dumps(set_to_dict(spec), indent=1) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_sets():
        print(written)
