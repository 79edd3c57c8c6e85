"""As-rigid-as-possible image deformation of one piece (a dress, a coat) from skeleton handles.

A garment that spans both legs has no joint to bend at: cut along the legs it comes out as trousers. It has to deform
as one smooth piece that follows both legs. Meta's AnimatedDrawings does this with a triangle mesh over the figure
and an as-rigid-as-possible (ARAP, Igarashi et al. 2005) solve from skeleton handles. For one garment piece the
moving-least-squares *rigid* deformation (Schaefer, McPhail & Warren, "Image Deformation Using Moving Least
Squares", SIGGRAPH 2006) gives the same kind of map in closed form: every point moves by the rotation + translation
that best fits the handles, weighted by 1/distance², so the piece bends smoothly between the handles, is locally
rigid (cloth neither shrinks nor swells), and needs no mesh solve. It is evaluated *backwards* (target pixel →
source pixel, handles swapped) on a coarse grid (the map is smooth) and upsampled, which is what `cv2.remap` needs.
"""

from __future__ import annotations

import cv2
import numpy as np

# Grid step of the backward map, in output pixels. The map is smooth (a weighted rotation field), so bilinear
# upsampling from this grid is exact to well under a pixel.
GRID_STEP = 6
# Keeps the 1/d² weight finite on a handle.
_EPS = 1e-3


def rigid_mls_backward(
    handles_target: np.ndarray,
    handles_source: np.ndarray,
    box: tuple[int, int, int, int],
    *,
    step: int = GRID_STEP,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense backward map (map_x, map_y: float32, the box's shape) of the rigid-MLS deformation over `box`.

    `handles_target[i]` in the output must show `handles_source[i]` of the source; every other pixel of the box gets
    the source point that the weighted best rotation of the handles about their weighted centroids puts there.
    `box` = (x0, y0, x1, y1) in output pixels.
    """
    x0, y0, x1, y1 = box
    p = np.asarray(handles_target, np.float64)
    q = np.asarray(handles_source, np.float64)
    gx = np.arange(x0, x1 + step, step, dtype=np.float64)
    gy = np.arange(y0, y1 + step, step, dtype=np.float64)
    vx, vy = np.meshgrid(gx, gy)
    v = np.stack([vx.ravel(), vy.ravel()], axis=1)  # (N, 2)
    d2 = ((v[:, None, :] - p[None, :, :]) ** 2).sum(axis=2)
    w = 1.0 / (d2 + _EPS)  # (N, M)
    sw = w.sum(axis=1, keepdims=True)
    p_star = (w @ p) / sw
    q_star = (w @ q) / sw
    # weighted Σ p̂·q̂ and Σ p̂×q̂ without forming p̂, q̂ per grid point: Σw(p−p*)(q−q*) = Σw·pq − Σw·p*q*
    dot = w @ (p * q).sum(axis=1) - sw[:, 0] * (p_star * q_star).sum(axis=1)
    pq_cross = p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]
    cross = w @ pq_cross - sw[:, 0] * (p_star[:, 0] * q_star[:, 1] - p_star[:, 1] * q_star[:, 0])
    theta = np.arctan2(cross, dot)  # the rotation that best takes the handles' p̂ onto q̂ (2-D Procrustes)
    c, s = np.cos(theta), np.sin(theta)
    r = v - p_star
    src = np.stack([c * r[:, 0] - s * r[:, 1], s * r[:, 0] + c * r[:, 1]], axis=1) + q_star
    mx = src[:, 0].reshape(len(gy), len(gx)).astype(np.float32)
    my = src[:, 1].reshape(len(gy), len(gx)).astype(np.float32)
    # bilinear upsampling of the grid to every pixel of the box (grid node k sits at pixel k·step)
    w_out, h_out = x1 - x0, y1 - y0
    xs = (np.arange(w_out, dtype=np.float32) / step)[None, :].repeat(h_out, axis=0)
    ys = (np.arange(h_out, dtype=np.float32) / step)[:, None].repeat(w_out, axis=1)
    map_x = cv2.remap(mx, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    map_y = cv2.remap(my, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return map_x, map_y
