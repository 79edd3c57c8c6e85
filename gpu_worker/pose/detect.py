"""Find the person's 33 landmarks (and a person mask) with MediaPipe's PoseLandmarker, fully offline.

BlazePose is unreliable on very tall, narrow pictures and on figures cut by the frame (measured on the police
sample, 440×1280: the knees land on the belt, mean visibility 0.80). When the first result looks doubtful (low
visibility, implausible, nobody found, or a very narrow picture: `_doubtful`) the landmarker looks again at other
views (`_views`): a copy padded with the border colour, and the figure cropped and padded to a square at three
scales — full-length drawings (a nurse in a white coat, a mascot) are often found only there. A later view replaces
the result only when it is clearly better (`_score`); landmarks are mapped back to the original frame exactly and
joints that fall outside it are dropped. A confident first result costs nothing extra.

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

from gpu_worker.errors import NoPersonDetected, SeveralPeople
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
# Figure crops padded to a square: tight, medium and loose. Measured on the samples + calibration figures
# (docs/QUALITY.md): each scale finds figures the others miss (a mascot only loose, a long coat only tight).
CROP_PADS = (0.05, 0.2, 1.0)
# A figure that only a crop finds (nobody on the full frame) counts only with at least this mean visibility: the
# calibration drawings found this way measure 0.77–0.95, the drawn penguins of the tests 0.58–0.75.
CROP_ONLY_VISIBILITY = 0.76
# A pixel belongs to the figure when one channel differs from the backdrop colour by more than this (0..255).
BACKDROP_TOLERANCE = 30
# A picture is refused as a scene when more than MAX_FIGURE_OUTSIDE of its non-backdrop pixels lie outside the
# person's box grown by OUTSIDE_MARGIN of its size per side; measured on a uniform backdrop (UNIFORM_BACKDROP of the
# border within BACKDROP_TOLERANCE): single figures with props ≤ 0.38 (a smith's anvil), a group scene 0.64.
OUTSIDE_MARGIN = 0.3
MAX_FIGURE_OUTSIDE = 0.5
UNIFORM_BACKDROP = 0.9


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

    With `retry` (the default) a doubtful first result is compared with detections on other views of the picture
    (`_views`: a padded copy, the figure cropped and padded to a square at two scales) and the best is kept
    (module docstring).
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
    h, w = arr.shape[:2]
    people = _detect_array(arr, 0, 0, w, h)
    if not retry or not _doubtful(people, w, h):
        return people
    best = _score(people[0], people[0]) if people else -2.0
    nobody = not people
    for canvas, ox, oy in _views(arr, crops_only=nobody and not _is_narrow(w, h)):
        again = _detect_array(canvas, ox, oy, w, h)
        if not again or (nobody and again[0].visibility.mean() < CROP_ONLY_VISIBILITY):
            continue
        score = _score(again[0], people[0] if people else again[0])
        if score > best + RETRY_GAIN:
            people, best = again, score
        if best >= RETRY_VISIBILITY:  # confident and plausible: no further view can be clearly better
            break
    return people


def detect_other_views(image: Image.Image) -> list[Skeleton]:
    """The first person found on each of `_views` (padded copy, figure crops), in `image`'s frame.

    For the output gate: when the first reading of an output does not show the target pose, another view may read
    the same picture right (the detector misreads some raised-arm drawings at one scale only).
    """
    arr = np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    h, w = arr.shape[:2]
    found = []
    for canvas, ox, oy in _views(arr, crops_only=False):
        people = _detect_array(canvas, ox, oy, w, h)
        if people and people[0].visible().any():
            found.append(people[0])
    return found


def _is_narrow(w: int, h: int) -> bool:
    return max(w, h) > RETRY_ASPECT * min(w, h)


def _views(arr: np.ndarray, *, crops_only: bool) -> list[tuple[np.ndarray, int, int]]:
    """Other views of `arr` for a second look: (canvas, x, y of the picture's top-left corner in the canvas).

    1. the picture padded with its border colour (`PAD_FRACTION`): a figure touching the frame gets room;
    2. the figure (what differs from the backdrop) cropped and padded to a square, tight and loose
       (`CROP_PADS`): BlazePose's person detector works on a square input and misses small or narrow figures in
       a tall frame (a full-length drawing in a white coat), and finds some drawn figures only at one scale.
    On a picture where the first look found nobody and that is not narrow, only the crops are tried: the padded
    copy of a drawn penguin gives a bogus skeleton (tests/gpu_worker/pose/test_detect.py).
    """
    h, w = arr.shape[:2]
    colour = _border_colour(arr)
    views: list[tuple[np.ndarray, int, int]] = []
    if not crops_only:
        m = max(1, round(PAD_FRACTION * max(w, h)))
        padded = np.empty((h + 2 * m, w + 2 * m, 3), np.uint8)
        padded[:] = colour
        padded[m : m + h, m : m + w] = arr
        views.append((padded, m, m))
    box = figure_box(arr, colour)
    if box is not None:
        for pad in CROP_PADS:
            views.append(_square_view(arr, box, pad, colour))
    return views


def figure_box(arr: np.ndarray, backdrop: np.ndarray | None = None) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of the pixels that differ from the backdrop colour; None when none do."""
    colour = _border_colour(arr) if backdrop is None else backdrop
    step = max(1, max(arr.shape[:2]) // 512)  # a coarse grid is enough for a box
    small = arr[::step, ::step].astype(np.int16)
    diff = np.abs(small - colour.astype(np.int16)).max(axis=2) > BACKDROP_TOLERANCE
    ys, xs = np.nonzero(diff)
    if len(xs) < 16:
        return None
    return int(xs.min()) * step, int(ys.min()) * step, int(xs.max() + 1) * step, int(ys.max() + 1) * step


def _square_view(
    arr: np.ndarray, box: tuple[int, int, int, int], pad: float, colour: np.ndarray
) -> tuple[np.ndarray, int, int]:
    h, w = arr.shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    side = max(8, round(max(bw, bh) * (1 + 2 * pad)))
    canvas = np.empty((side, side, 3), np.uint8)
    canvas[:] = colour
    ox, oy = (side - bw) // 2 - x0, (side - bh) // 2 - y0
    sx0, sy0, sx1, sy1 = max(0, -ox), max(0, -oy), min(w, side - ox), min(h, side - oy)
    canvas[sy0 + oy : sy1 + oy, sx0 + ox : sx1 + ox] = arr[sy0:sy1, sx0:sx1]
    return canvas, ox, oy


def _detect_array(arr: np.ndarray, ox: int, oy: int, w: int, h: int) -> list[Skeleton]:
    """People in `arr`, mapped to the `w` × `h` frame whose top-left corner is at (`ox`, `oy`) inside `arr` (the
    frame may reach outside `arr`: a crop)."""
    import mediapipe as mp

    result = detect_raw(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(arr)))
    ah, aw = arr.shape[:2]
    masks = result.segmentation_masks or []
    people = []
    for k, landmarks in enumerate(result.pose_landmarks or []):
        mask = None
        if k < len(masks):
            full = _mask_to_frame(masks[k].numpy_view(), aw, ah)
            mask = np.zeros((h, w), np.float32)
            fx0, fy0, fx1, fy1 = max(0, ox), max(0, oy), min(aw, ox + w), min(ah, oy + h)
            if fx1 > fx0 and fy1 > fy0:
                mask[fy0 - oy : fy1 - oy, fx0 - ox : fx1 - ox] = full[fy0:fy1, fx0:fx1]
        people.append(_to_skeleton(landmarks, (aw, ah, ox, oy), w, h, mask))
    people.sort(key=_bbox_area, reverse=True)
    return people


def _doubtful(people: list[Skeleton], w: int, h: int) -> bool:
    """Whether a first detection is worth a second look on other views (`_views`)."""
    if not people or not people[0].visible().any():
        return True  # nobody found: full-length drawings are often found only on a square crop of the figure
    sk = people[0]
    if sk.visibility.mean() < RETRY_VISIBILITY or _is_narrow(w, h):
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
    """The person's skeleton in `image`, in `load_image(image, max_size=...)`'s frame.

    Raises BadImage / ImageTooLarge (unusable file), NoPersonDetected, SeveralPeople (a group or a scene),
    ImplausibleSkeleton. Of two people, the larger is returned.
    """
    im = load_image(image, max_size=max_size)
    people = detect_all(im, max_size=max_size)
    if not people or not people[0].visible().any():
        raise NoPersonDetected(
            "no person was found in the photo; use a photo where the model's head and shoulders are "
            "clearly visible, or place the skeleton by hand in the pose editor"
        )
    # two people: the larger is re-posed (people are sorted by size); a group or a scene is refused below
    if _figure_outside_share(im, people[0]) > MAX_FIGURE_OUTSIDE:
        raise SeveralPeople(
            "only part of the picture was recognised as a person (a group, a scene, or a figure the detector "
            "cannot see whole); use a photo of one person, or place the skeleton by hand in the pose editor"
        )
    check_plausible(people[0])
    return people[0]


def _figure_outside_share(image: Image.Image, person: Skeleton) -> float:
    """Share of the non-backdrop pixels that lie well outside the person's box (grown by `OUTSIDE_MARGIN`).

    High for a group scene or a picture where only part of a figure was recognised; 0 for a busy (non-uniform)
    backdrop, where figure and backdrop cannot be told apart this way.
    """
    arr = np.asarray(image.convert("RGB"), dtype=np.uint8)
    step = max(1, max(arr.shape[:2]) // 512)
    small = arr[::step, ::step].astype(np.int16)
    colour = _border_colour(arr).astype(np.int16)
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    if (np.abs(border - colour).max(axis=1) <= BACKDROP_TOLERANCE).mean() < UNIFORM_BACKDROP:
        return 0.0
    ink = np.abs(small - colour).max(axis=2) > BACKDROP_TOLERANCE
    total = int(ink.sum())
    if total == 0:
        return 0.0
    x0, y0, x1, y1 = (v / step for v in person.bbox())
    mx, my = OUTSIDE_MARGIN * (x1 - x0), OUTSIDE_MARGIN * (y1 - y0)
    inside = ink[max(0, int(y0 - my)) : int(y1 + my) + 1, max(0, int(x0 - mx)) : int(x1 + mx) + 1].sum()
    return 1.0 - float(inside) / total


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
    m: np.ndarray = np.asarray(mask, dtype=np.float32)
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
