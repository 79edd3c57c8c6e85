"""What every generation backend (warp, diffusion) takes and returns.

The engine calls `backend.render(...)` once per source photo with all target skeletons, so a backend can batch
(diffusion denoises every pose of one photo in one call).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

    from gpu_worker.pose.library import Pose
    from gpu_worker.pose.skeleton import Skeleton

# progress(fraction 0..1, stage label)
ProgressCallback = Callable[[float, str], None]


@dataclass
class Rendered:
    """One generated image for one target pose."""

    image: Image.Image
    # Pixels copied exactly (rigidly) from the source photo — garment, prints, logos. Diffusion `refine` composites
    # these back over its output so they stay pixel-faithful. (H, W) bool, or None when nothing is exact.
    exact_mask: np.ndarray | None = None
    # Share of the output figure that was filled in (inpainted) rather than taken from the source, 0..1.
    uncovered_fraction: float = 0.0
    # Share of figure pixels where the deformation's Jacobian determinant is <= 0 (fold-over), 0..1.
    foldover_fraction: float = 0.0
    extras: dict[str, object] = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def supports(self, pose: Pose) -> bool: ...

    def render(
        self,
        photo: Image.Image,
        source: Skeleton,
        targets: Sequence[Skeleton],
        *,
        seed: int = 0,
        progress: ProgressCallback | None = None,
        # The poses the targets came from (same order): a backend picks its mode per pose and seeds per pose id.
        poses: Sequence[Pose] | None = None,
    ) -> list[Rendered]: ...
