"""`Skeleton`: 33 BlazePose landmarks in pixels, the one pose representation every module shares.

Conventions (MediaPipe's, which are also OpenPose's):
- index = MediaPipe landmark index (`MP_LANDMARKS`); odd = subject's left, even = subject's right. On a
  frontal figure the subject's left shoulder is on the *image's* right.
- `points` are pixel x (right), y (down) in a `width` × `height` frame.
- a joint is *missing* when its visibility is below `VISIBLE`. Missing joints are never invented: a joint the
  detector placed outside the frame, or that a hand-placed skeleton leaves out, has visibility 0 and NaN
  coordinates. A joint the detector saw only weakly (in frame, low visibility) keeps its coordinates and its
  low visibility, so a caller can pick a lower threshold with `visible(threshold)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gpu_worker.errors import ImplausibleSkeleton, PoseLibraryError

MP_LANDMARKS: tuple[str, ...] = (
    "nose",
    "left_eye_inner", "left_eye", "left_eye_outer",
    "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear",
    "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
    "left_pinky", "right_pinky",
    "left_index", "right_index",
    "left_thumb", "right_thumb",
    "left_hip", "right_hip",
    "left_knee", "right_knee",
    "left_ankle", "right_ankle",
    "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)  # fmt: skip
N_LANDMARKS = 33
LANDMARK_INDEX: dict[str, int] = {name: i for i, name in enumerate(MP_LANDMARKS)}

VISIBLE = 0.5

# Named indices used across the package.
NOSE = 0
L_EYE, R_EYE = 2, 5
L_EAR, R_EAR = 7, 8
L_SHOULDER, R_SHOULDER = 11, 12
L_ELBOW, R_ELBOW = 13, 14
L_WRIST, R_WRIST = 15, 16
L_HIP, R_HIP = 23, 24
L_KNEE, R_KNEE = 25, 26
L_ANKLE, R_ANKLE = 27, 28

# Face landmarks: they move rigidly with the head.
HEAD: tuple[int, ...] = tuple(range(11))
# The four torso corners, in polygon order (left shoulder, right shoulder, right hip, left hip).
TORSO: tuple[int, int, int, int] = (11, 12, 24, 23)

# parent → child pairs. The torso is the four edges between shoulders and hips (rigid in retargeting).
# MediaPipe has no neck landmark: the neck is the shoulders' midpoint, and the head hangs from it through the
# pairs (11, 0) and (12, 0) (both shoulders → nose), then nose → eyes/ears/mouth. Limbs are chains from the
# shoulders and hips.
BONES: tuple[tuple[int, int], ...] = (
    # torso
    (11, 12), (11, 23), (12, 24), (23, 24),
    # neck → head
    (11, 0), (12, 0),
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (0, 9), (0, 10),
    # arms
    (11, 13), (13, 15), (15, 17), (15, 19), (15, 21),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22),
    # legs
    (23, 25), (25, 27), (27, 29), (27, 31),
    (24, 26), (26, 28), (28, 30), (28, 32),
)  # fmt: skip

# Left/right swap: MIRROR[i] is the index of i's counterpart on the other side (nose maps to itself).
MIRROR: tuple[int, ...] = (0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9) + tuple(
    i + 1 if i % 2 else i - 1 for i in range(11, 33)
)

# MediaPipe → OpenPose COCO-18 (notes B9); None = neck, the midpoint of both shoulders.
OPENPOSE18_FROM_MP: tuple[int | None, ...] = (
    0,
    None,
    12,
    14,
    16,
    11,
    13,
    15,
    24,
    26,
    28,
    23,
    25,
    27,
    5,
    2,
    8,
    7,
)
OPENPOSE18_NAMES: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip
# MediaPipe → COCO-17 (notes B9), the order OKS sigmas are given in.
COCO17_FROM_MP: tuple[int, ...] = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


@dataclass(frozen=True, eq=False)
class Skeleton:
    """33 landmarks in pixel coordinates of a `width` × `height` image (see module docstring)."""

    points: np.ndarray  # (33, 2) float64, pixel x, y; NaN where the joint has no position
    visibility: np.ndarray  # (33,) 0..1
    width: int
    height: int
    mask: np.ndarray | None = field(default=None, repr=False)  # (H, W) float32 0..1 person mask

    def __post_init__(self) -> None:
        pts = np.array(self.points, dtype=np.float64).reshape(N_LANDMARKS, 2)
        vis = np.clip(
            np.nan_to_num(np.array(self.visibility, dtype=np.float64).reshape(N_LANDMARKS)), 0.0, 1.0
        )
        # A joint without coordinates cannot be visible.
        vis[~np.isfinite(pts).all(axis=1)] = 0.0
        pts.setflags(write=False)
        vis.setflags(write=False)
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "visibility", vis)
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"skeleton frame must be positive, got {self.width}x{self.height}")
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        if self.mask is not None and self.mask.shape != (self.height, self.width):
            raise ValueError(f"mask shape {self.mask.shape} does not match frame {self.height}x{self.width}")

    # -- queries ---------------------------------------------------------------------------------------------
    def visible(self, threshold: float = VISIBLE) -> np.ndarray:
        """(33,) bool: joints whose visibility reaches `threshold`."""
        return (self.visibility >= threshold) & np.isfinite(self.points).all(axis=1)

    def neck(self) -> np.ndarray | None:
        """Midpoint of the shoulders, or None unless both are visible."""
        if self.visible()[L_SHOULDER] and self.visible()[R_SHOULDER]:
            return (self.points[L_SHOULDER] + self.points[R_SHOULDER]) / 2.0
        return None

    def openpose18(self) -> np.ndarray:
        """(18, 3) x, y, confidence in OpenPose COCO-18 order; missing joints are (0, 0, 0)."""
        out = np.zeros((18, 3), dtype=np.float64)
        vis = self.visible()
        for k, mp in enumerate(OPENPOSE18_FROM_MP):
            if mp is None:
                neck = self.neck()
                if neck is not None:
                    conf = min(self.visibility[L_SHOULDER], self.visibility[R_SHOULDER])
                    out[k] = (neck[0], neck[1], conf)
            elif vis[mp]:
                out[k] = (self.points[mp, 0], self.points[mp, 1], self.visibility[mp])
        return out

    def coco17(self) -> np.ndarray:
        """(17, 3) x, y, confidence in COCO-17 order (for OKS); missing joints are (0, 0, 0)."""
        out = np.zeros((17, 3), dtype=np.float64)
        vis = self.visible()
        for k, mp in enumerate(COCO17_FROM_MP):
            if vis[mp]:
                out[k] = (self.points[mp, 0], self.points[mp, 1], self.visibility[mp])
        return out

    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the visible joints; (0, 0, 0, 0) when none is visible."""
        pts = self.points[self.visible()]
        if len(pts) == 0:
            return (0.0, 0.0, 0.0, 0.0)
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        return (float(x0), float(y0), float(x1), float(y1))

    # -- copies ----------------------------------------------------------------------------------------------
    def with_points(self, points: np.ndarray, visibility: np.ndarray | None = None) -> Skeleton:
        """A copy with new points (and visibility); the mask is kept only if the frame is unchanged."""
        return Skeleton(
            points=np.array(points, dtype=np.float64),
            visibility=self.visibility if visibility is None else np.array(visibility, dtype=np.float64),
            width=self.width,
            height=self.height,
            mask=self.mask,
        )

    def scaled_to(self, width: int, height: int) -> Skeleton:
        """The same skeleton in a `width` × `height` frame (x and y scaled independently; mask resized)."""
        sx, sy = width / self.width, height / self.height
        mask = None
        if self.mask is not None:
            import cv2  # local: keep `import skeleton` light

            mask = cv2.resize(
                self.mask.astype(np.float32), (int(width), int(height)), interpolation=cv2.INTER_LINEAR
            )
        return Skeleton(
            points=self.points * np.array([sx, sy]),
            visibility=self.visibility,
            width=int(width),
            height=int(height),
            mask=mask,
        )

    def mirrored(self) -> Skeleton:
        """Flipped horizontally *and* relabelled: the figure's mirror image (left joints stay left)."""
        pts = self.points.copy()
        pts[:, 0] = self.width - pts[:, 0]
        perm = np.array(MIRROR)
        mask = None if self.mask is None else self.mask[:, ::-1].copy()
        return Skeleton(pts[perm], self.visibility[perm], self.width, self.height, mask)

    # -- JSON ------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able: frame size and 33 normalized [x, y, visibility] (null for a joint without position)."""
        landmarks: list[list[float] | None] = []
        for (x, y), v in zip(self.points, self.visibility, strict=True):
            if not (math.isfinite(x) and math.isfinite(y)):
                landmarks.append(None)
            else:
                landmarks.append([round(x / self.width, 6), round(y / self.height, 6), round(float(v), 4)])
        return {"width": self.width, "height": self.height, "landmarks": landmarks}

    @classmethod
    def from_dict(cls, d: Any) -> Skeleton:
        """Parse and strictly validate `to_dict()` output (or a hand-placed skeleton, docs/POSE_SETS.md).

        Raises PoseLibraryError with a one-line reason.
        """
        if not isinstance(d, dict):
            raise PoseLibraryError(f"skeleton must be a JSON object, got {type(d).__name__}")
        for key in ("width", "height"):
            val = d.get(key)
            if isinstance(val, bool) or not isinstance(val, int) or not 1 <= val <= 20_000:
                raise PoseLibraryError(f"skeleton '{key}' must be an integer 1..20000, got {val!r}")
        width, height = int(d["width"]), int(d["height"])
        lms = d.get("landmarks")
        if not isinstance(lms, list) or len(lms) != N_LANDMARKS:
            got = len(lms) if isinstance(lms, list) else type(lms).__name__
            raise PoseLibraryError(
                f"skeleton 'landmarks' must be a list of {N_LANDMARKS} [x, y, visibility] entries "
                f"(MediaPipe order, null for a missing joint), got {got}"
            )
        pts = np.full((N_LANDMARKS, 2), np.nan)
        vis = np.zeros(N_LANDMARKS)
        for i, lm in enumerate(lms):
            name = MP_LANDMARKS[i]
            if lm is None:
                continue
            if not isinstance(lm, list | tuple) or len(lm) not in (2, 3):
                raise PoseLibraryError(
                    f"landmark {i} ({name}) must be [x, y] or [x, y, visibility] or null, got {lm!r}"
                )
            if not all(isinstance(c, int | float) and not isinstance(c, bool) for c in lm):
                raise PoseLibraryError(f"landmark {i} ({name}) must hold numbers, got {lm!r}")
            x, y = float(lm[0]), float(lm[1])
            v = float(lm[2]) if len(lm) == 3 else 1.0
            if not (math.isfinite(x) and math.isfinite(y) and -0.5 <= x <= 1.5 and -0.5 <= y <= 1.5):
                raise PoseLibraryError(
                    f"landmark {i} ({name}) coordinates must be normalized to the frame (0..1), "
                    f"got [{x}, {y}]"
                )
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise PoseLibraryError(f"landmark {i} ({name}) visibility must be 0..1, got {v}")
            pts[i] = (x * width, y * height)
            vis[i] = v
        return cls(points=pts, visibility=vis, width=width, height=height)


def missing_skeleton(width: int, height: int) -> Skeleton:
    """A skeleton with no joint at all (a starting point for building one by hand)."""
    return Skeleton(np.full((N_LANDMARKS, 2), np.nan), np.zeros(N_LANDMARKS), width, height)


# -- plausibility --------------------------------------------------------------------------------------------
def check_plausible(sk: Skeleton) -> None:
    """Raise ImplausibleSkeleton unless `sk` has the proportions of a human figure (adult, child or cartoon).

    See `plausibility_problems` for the rules.
    """
    problems = plausibility_problems(sk)
    if problems:
        raise ImplausibleSkeleton(
            f"the figure found does not have human proportions ({problems[0]}); use a photo of a person, "
            "or place the skeleton by hand in the pose editor"
        )


def _dist(p: np.ndarray, a: int, b: int) -> float:
    return float(np.hypot(*(p[a] - p[b])))


def plausibility_problems(sk: Skeleton) -> list[str]:
    """Reasons why `sk` is not a human figure; empty when it is plausible."""
    p, v = sk.points, sk.visible()
    problems: list[str] = []
    if not (v[L_SHOULDER] and v[R_SHOULDER]):
        return ["both shoulders must be visible"]
    if not v[list(HEAD)].any():
        return ["no head"]
    neck = (p[L_SHOULDER] + p[R_SHOULDER]) / 2.0
    shoulder_w = _dist(p, L_SHOULDER, R_SHOULDER)
    hips = v[L_HIP] and v[R_HIP]
    torso_h = float(np.hypot(*(neck - (p[L_HIP] + p[R_HIP]) / 2.0))) if hips else 0.0
    # The body scale: torso height when the hips are in frame, else the shoulder width (never both tiny).
    scale = max(torso_h, shoulder_w, 1e-6)
    if scale < 0.02 * max(sk.width, sk.height):
        return ["figure too small"]

    # Paired limbs: the two sides of one body have the same bone lengths. Foreshortening (a limb pointing at
    # the camera) shortens one side, hence the wide bound.
    pairs = (
        (L_SHOULDER, L_ELBOW, R_SHOULDER, R_ELBOW, "upper arms"),
        (L_ELBOW, L_WRIST, R_ELBOW, R_WRIST, "forearms"),
        (L_HIP, L_KNEE, R_HIP, R_KNEE, "thighs"),
        (L_KNEE, L_ANKLE, R_KNEE, R_ANKLE, "shins"),
    )
    for a, b, c, d, label in pairs:
        if v[a] and v[b] and v[c] and v[d]:
            la, lb = _dist(p, a, b), _dist(p, c, d)
            if max(la, lb) > 0.25 * scale and min(la, lb) < max(la, lb) / 3.5:
                problems.append(f"left and right {label} differ too much in length")

    # Limb lengths relative to the torso: wide bounds that take in children and cartoon figures.
    if hips and torso_h > 0.3 * shoulder_w:
        limits = ((L_SHOULDER, L_ELBOW, 1.4), (R_SHOULDER, R_ELBOW, 1.4), (L_ELBOW, L_WRIST, 1.4),
                  (R_ELBOW, R_WRIST, 1.4), (L_HIP, L_KNEE, 1.9), (R_HIP, R_KNEE, 1.9), (L_KNEE, L_ANKLE, 1.9),
                  (R_KNEE, R_ANKLE, 1.9))  # fmt: skip
        for a, b, hi in limits:
            if v[a] and v[b] and _dist(p, a, b) > hi * torso_h:
                problems.append(f"{MP_LANDMARKS[a]}–{MP_LANDMARKS[b]} is too long for the torso")
        hip_w = _dist(p, L_HIP, R_HIP)
        if hip_w > 2.5 * max(shoulder_w, 0.25 * torso_h):
            problems.append("hips much wider than shoulders")
    return problems
