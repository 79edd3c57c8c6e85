"""Find the person's 33 landmarks (and a person mask) with MediaPipe's PoseLandmarker, fully offline.

BlazePose is unreliable on very tall, narrow pictures and on figures cut by the frame (measured on the police
sample, 440×1280: the knees land on the belt, mean visibility 0.80). When the first result looks doubtful (low
visibility, implausible, or a very narrow picture: `_doubtful`) the landmarker runs a second time on a copy padded
with the border colour (`PAD_FRACTION` of the long side on every side) and the padded result replaces the first only
when it is clearly better (`_score`); landmarks are mapped back to the original frame exactly and joints that fall in
the padding are dropped. A confident first result costs nothing extra.

One landmarker per process, created lazily and shared behind a lock (the Tasks API object is not thread-safe),
closed at exit (an unclosed one prints a TypeError from `__del__` at interpreter exit), and thrown away after
*any* error: a single bad call (e.g. a GRAY8 image) poisons the instance for every later call (notes A2).
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gpu_worker.errors import NoPersonDetected
from gpu_worker.pose.image_io import ImageSource, load_image
from gpu_worker.pose.skeleton import N_LANDMARKS, Skeleton, check_plausible, plausibility_problems

MODEL_PATH = Path(__file__).resolve().parent.parent / "assets" / "models" / "pose_landmarker_full.task"
NUM_POSES = 2
# A landmark this far outside the frame (normalized units) is a guess, not an observation.
_FRAME_MARGIN = 0.0
# Retry on a padded copy when the first result's mean landmark visibility is below this, it is implausible, or the
# picture is narrower than 1:RETRY_ASPECT. The six samples measure 0.96–0.99 when the skeleton is
# right and 0.43 (astronaut, cut off at the waist) / 0.80 (police, knees on the belt) when it is not.
RETRY_VISIBILITY = 0.9
RETRY_ASPECT = 2.2
PAD_FRACTION = 0.1
# The padded result replaces the first only when it is this much better (mean visibility): a tie keeps the first.
RETRY_GAIN = 0.02


class _LandmarkerHolder:
    """The process-wide PoseLandmarker: lazily created, recreated after an error, closed at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._landmarker: Any = None
        self.created = 0  # how many instances this process has built (observable in tests)
        atexit.register(self.close)

    def _create(self) -> Any:
        from mediapipe.tasks.python import BaseOptions, vision  # heavy import, only when detecting

        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(MODEL_PATH)),
            running_mode=vision.RunningMode.IMAGE,
            num_poses=NUM_POSES,
            output_segmentation_masks=True,
        )
        self.created += 1
        return vision.PoseLandmarker.create_from_options(options)

    def run(self, mp_image: Any) -> Any:
        with self._lock:
            if self._landmarker is None:
                self._landmarker = self._create()
            try:
                return self._landmarker.detect(mp_image)
            except BaseException:
                self._close_locked()
                raise

    def _close_locked(self) -> None:
        lm, self._landmarker = self._landmarker, None
        if lm is not None:
            try:
                lm.close()
            except Exception:
                # A poisoned instance cannot close (its task runner is dead) and would try again in `__del__`,
                # printing an unraisable ValueError; clearing its handle makes that a no-op. It leaks a little
                # native memory, once per failed call.
                lm._handle = None

    def close(self) -> None:
        with self._lock:
            self._close_locked()


_HOLDER = _LandmarkerHolder()


def detect_raw(mp_image: Any) -> Any:
    """Low-level: run the shared landmarker on a `mediapipe.Image` (recreating it after any error)."""
    return _HOLDER.run(mp_image)


def landmarker_instances_created() -> int:
    """How many landmarkers this process has created (1 normally; +1 after each error)."""
    return _HOLDER.created


def detect_all(image: ImageSource, *, max_size: int = 2048, retry: bool = True) -> list[Skeleton]:
    """Every person found (at most 2), largest first; each with its person mask. No plausibility check.

    With `retry` (the default) a doubtful first result is compared with a detection on a padded copy and the
    better one is kept (module docstring).
    """
    im = (
        image
        if isinstance(image, Image.Image) and image.mode == "RGB"
        else load_image(image, max_size=max_size)
    )
    if max(im.size) > max_size:
        im = load_image(im, max_size=max_size)
    # SRGB, uint8, C-contiguous: the only layout that is safe for the landmarker (notes A2).
    arr = np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))
    people = _detect_array(arr, 0, 0, arr.shape[1], arr.shape[0])
    if retry and _doubtful(people, arr.shape[1], arr.shape[0]):
        h, w = arr.shape[:2]
        m = max(1, round(PAD_FRACTION * max(w, h)))
        padded = np.empty((h + 2 * m, w + 2 * m, 3), np.uint8)
        padded[:] = _border_colour(arr)
        padded[m : m + h, m : m + w] = arr
        again = _detect_array(padded, m, m, w, h)
        if again and (not people or _score(again[0], people[0]) > _score(people[0], people[0]) + RETRY_GAIN):
            people = again
    return people


def _detect_array(arr: np.ndarray, ox: int, oy: int, w: int, h: int) -> list[Skeleton]:
    """People in `arr`, mapped to the `w` × `h` frame whose top-left corner is at (`ox`, `oy`) inside `arr`."""
    import mediapipe as mp

    result = detect_raw(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(arr)))
    ah, aw = arr.shape[:2]
    masks = result.segmentation_masks or []
    people = []
    for k, landmarks in enumerate(result.pose_landmarks or []):
        mask = None
        if k < len(masks):
            mask = _mask_to_frame(masks[k].numpy_view(), aw, ah)[oy : oy + h, ox : ox + w]
            mask = np.ascontiguousarray(mask)
        people.append(_to_skeleton(landmarks, (aw, ah, ox, oy), w, h, mask))
    people.sort(key=_bbox_area, reverse=True)
    return people


def _doubtful(people: list[Skeleton], w: int, h: int) -> bool:
    """Whether a first detection is worth a second look on a padded copy (module docstring)."""
    narrow = max(w, h) > RETRY_ASPECT * min(w, h)
    if not people or not people[0].visible().any():
        # "no person" is doubted only on a very narrow picture (where BlazePose also misses the re-posed police
        # officer entirely): a second look on the padded copy of a drawn penguin finds a bogus skeleton that even
        # passes the plausibility check (measured, tests/gpu_worker/pose/test_detect.py)
        return narrow
    sk = people[0]
    if sk.visibility.mean() < RETRY_VISIBILITY or narrow:
        return True
    # a figure merely touching the frame is not enough: four of the six samples do, and their first result is right
    return bool(plausibility_problems(sk))


def _score(sk: Skeleton, first: Skeleton) -> float:
    """Higher is better: a plausible skeleton beats an implausible one, then the mean visibility decides — over the
    joints the first pass placed in the frame, so that joints the padded pass adds at the frame's edge (the hips of
    a photo cut at the waist: guesses) do not win it the comparison."""
    if not sk.visible().any():
        return -2.0
    placed = np.isfinite(first.points).all(axis=1)
    vis = sk.visibility[placed] if placed.any() else sk.visibility
    return float(vis.mean()) - (1.0 if plausibility_problems(sk) else 0.0)


def _border_colour(arr: np.ndarray) -> np.ndarray:
    """Median colour of the picture's outermost pixels: padding in it continues a studio backdrop seamlessly."""
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    return np.median(border, axis=0).astype(np.uint8)


def detect(image: ImageSource, *, max_size: int = 2048) -> Skeleton:
    """The (largest) person's skeleton in `image`, in `load_image(image, max_size=...)`'s frame.

    Raises BadImage / ImageTooLarge (unusable file), NoPersonDetected, ImplausibleSkeleton.
    """
    people = detect_all(image, max_size=max_size)
    if not people or not people[0].visible().any():
        raise NoPersonDetected(
            "no person was found in the photo; use a photo where the model's head and shoulders are "
            "clearly visible, "
            "or place the skeleton by hand in the pose editor"
        )
    check_plausible(people[0])
    return people[0]


def _to_skeleton(
    landmarks: Any, frame: tuple[int, int, int, int], w: int, h: int, mask: np.ndarray | None
) -> Skeleton:
    """Landmarks normalised to the detector's `frame` (width, height, x and y offset of the photo in it) → pixels of
    the `w` × `h` photo."""
    fw, fh, ox, oy = frame
    pts = np.full((N_LANDMARKS, 2), np.nan)
    vis = np.zeros(N_LANDMARKS)
    for i, lm in enumerate(landmarks[:N_LANDMARKS]):
        x, y = (float(lm.x) * fw - ox) / w, (float(lm.y) * fh - oy) / h
        v = float(lm.visibility) if lm.visibility is not None else 0.0
        presence = float(lm.presence) if lm.presence is not None else 1.0
        inside = -_FRAME_MARGIN <= x <= 1 + _FRAME_MARGIN and -_FRAME_MARGIN <= y <= 1 + _FRAME_MARGIN
        if not inside or presence < 0.5:
            # Off-frame (a waist-up photo's legs): the model guesses where they would be. Never use a guess.
            continue
        pts[i] = (min(max(x, 0.0), 1.0) * w, min(max(y, 0.0), 1.0) * h)
        vis[i] = v
    return Skeleton(points=pts, visibility=vis, width=w, height=h, mask=mask)


def _mask_to_frame(mask: np.ndarray, w: int, h: int) -> np.ndarray:
    m = np.asarray(mask, dtype=np.float32)
    if m.ndim == 3:
        m = m[..., 0]
    if m.shape != (h, w):
        import cv2

        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(m, 0.0, 1.0).astype(np.float32)


def _bbox_area(sk: Skeleton) -> float:
    x0, y0, x1, y1 = sk.bbox()
    return (x1 - x0) * (y1 - y0)


def model_path() -> str:
    """Path of the shipped `.task` bundle."""
    return os.fspath(MODEL_PATH)
