"""Find the person's 33 landmarks (and a person mask) with MediaPipe's PoseLandmarker, fully offline.

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
from gpu_worker.pose.skeleton import N_LANDMARKS, Skeleton, check_plausible

MODEL_PATH = Path(__file__).resolve().parent.parent / "assets" / "models" / "pose_landmarker_full.task"
NUM_POSES = 2
# A landmark this far outside the frame (normalized units) is a guess, not an observation.
_FRAME_MARGIN = 0.0


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


def detect_all(image: ImageSource, *, max_size: int = 2048) -> list[Skeleton]:
    """Every person found (at most 2), largest first; each with its person mask. No plausibility check."""
    import mediapipe as mp

    im = (
        image
        if isinstance(image, Image.Image) and image.mode == "RGB"
        else load_image(image, max_size=max_size)
    )
    if max(im.size) > max_size:
        im = load_image(im, max_size=max_size)
    # SRGB, uint8, C-contiguous: the only layout that is safe for the landmarker (notes A2).
    arr = np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))
    result = detect_raw(mp.Image(image_format=mp.ImageFormat.SRGB, data=arr))
    w, h = im.size
    masks = result.segmentation_masks or []
    people = []
    for k, landmarks in enumerate(result.pose_landmarks or []):
        mask = None
        if k < len(masks):
            mask = _mask_to_frame(masks[k].numpy_view(), w, h)
        people.append(_to_skeleton(landmarks, w, h, mask))
    people.sort(key=_bbox_area, reverse=True)
    return people


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


def _to_skeleton(landmarks: Any, w: int, h: int, mask: np.ndarray | None) -> Skeleton:
    pts = np.full((N_LANDMARKS, 2), np.nan)
    vis = np.zeros(N_LANDMARKS)
    for i, lm in enumerate(landmarks[:N_LANDMARKS]):
        x, y = float(lm.x), float(lm.y)
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
