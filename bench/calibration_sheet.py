"""Before/after sheet of the warp on the calibration figures (and the samples): each source beside its outputs.

    .venv/bin/python bench/calibration_sheet.py [--pose-set catalog-basics] [--max-size 512]
                                                [--out docs/warp_before_after.png]

One row per figure of gpu_worker/assets/calibration/, then of gpu_worker/assets/samples/: the source ("before"), then
one tile per pose of the set ("after"), or the reason the pose was skipped or the picture rejected. A figure the
detector cannot see uses the skeleton placed by hand in calibration/skeletons/ when there is one (what the pose
editor would give).
No scores: this is for looking at.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpu_worker.engine import repose  # noqa: E402
from gpu_worker.errors import PoseStudioError  # noqa: E402
from gpu_worker.pose.library import load_pose_set  # noqa: E402
from gpu_worker.pose.skeleton import Skeleton  # noqa: E402

CALIBRATION = ROOT / "gpu_worker" / "assets" / "calibration"
SAMPLES = ROOT / "gpu_worker" / "assets" / "samples"
THUMB_W, THUMB_H, LABEL_H, PAD = 150, 200, 46, 6
INK, MUTED, SKIP = (25, 25, 25), (90, 90, 90), (170, 90, 0)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _thumb(im: Image.Image) -> Image.Image:
    im = im.convert("RGB")
    s = min(THUMB_W / im.width, THUMB_H / im.height)
    im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.Resampling.LANCZOS)
    tile = Image.new("RGB", (THUMB_W, THUMB_H), (255, 255, 255))
    tile.paste(im, ((THUMB_W - im.width) // 2, (THUMB_H - im.height) // 2))
    return tile


def _cell(image: Image.Image | None, title: str, note: str = "", colour: tuple[int, int, int] = MUTED) -> Image.Image:
    cell = Image.new("RGB", (THUMB_W, THUMB_H + LABEL_H), (246, 246, 246))
    if image is not None:
        cell.paste(_thumb(image), (0, 0))
    draw = ImageDraw.Draw(cell)
    draw.text((3, THUMB_H + 2), title[:26], fill=INK, font=_font(12))
    for k, line in enumerate(textwrap.wrap(note, 30)[:3]):
        draw.text((3, THUMB_H + 16 + 10 * k), line, fill=colour, font=_font(9))
    return cell


def _placed(stem: str) -> Skeleton | None:
    path = CALIBRATION / "skeletons" / f"{stem}.json"
    return Skeleton.from_dict(json.loads(path.read_text())) if path.exists() else None


def figure_row(path: Path, pose_set: str, max_size: int) -> list[Image.Image]:
    """The cells of one figure: its source, then one per pose."""
    poses = load_pose_set(pose_set).poses
    source = Image.open(path)
    placed = _placed(path.stem)
    first = _cell(source, path.stem, "skeleton placed by hand" if placed is not None else "")
    try:
        result = repose(path, load_pose_set(pose_set), max_size=max_size, source_skeleton=placed)
    except PoseStudioError as e:
        return [first, _cell(None, "rejected", str(e), SKIP)]
    cells = [first]
    done = {o.pose.id: o for o in result.outputs}
    skipped = {s.pose.id: s.reason for s in result.skipped}
    for p in poses:
        if p.id in done:
            cells.append(_cell(done[p.id].rendered.image, p.name))
        else:
            cells.append(_cell(None, p.name, f"skipped: {skipped.get(p.id, '')}", SKIP))
    return cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pose-set", default="catalog-basics")
    ap.add_argument("--max-size", type=int, default=512)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "warp_before_after.png")
    args = ap.parse_args()
    figures = sorted(CALIBRATION.glob("*.png")) + sorted(SAMPLES.glob("*.png"))
    rows = [figure_row(p, args.pose_set, args.max_size) for p in figures]
    cols = max(len(r) for r in rows)
    cw, ch = THUMB_W + PAD, THUMB_H + LABEL_H + PAD
    sheet = Image.new("RGB", (PAD + cols * cw, PAD + len(rows) * ch), (255, 255, 255))
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            sheet.paste(cell, (PAD + j * cw, PAD + i * ch))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"{args.out} ({sheet.width}x{sheet.height}, {len(rows)} figures, pose set {args.pose_set})")


if __name__ == "__main__":
    main()
