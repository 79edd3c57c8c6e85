"""One picture per source photo to judge a run at a glance.

First tile: the source photo with a small inset of it with its detected skeleton. Then one tile per output: the
generated image, an inset stick figure of the target pose, and a badge with its score — green PASS, or red FAIL and
the first reason.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from gpu_worker.engine import ReposeResult
from gpu_worker.pose.render import draw_overlay, render_figure

TILE_W, TILE_H = 360, 480
LABEL_H = 92
PAD = 12
COLUMNS = 4
PASS_GREEN = (22, 140, 60)
FAIL_RED = (200, 30, 30)
INK = (25, 25, 25)
MUTED = (90, 90, 90)


@dataclass(frozen=True)
class Tile:
    image: Image.Image
    inset: Image.Image
    title: str
    score: str
    passed: bool | None  # None: the source tile, no badge
    note: str


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def _fit(im: Image.Image, w: int, h: int) -> Image.Image:
    scale = min(w / im.width, h / im.height)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    return im.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def _draw_tile(sheet: Image.Image, tile: Tile, x: int, y: int) -> None:
    draw = ImageDraw.Draw(sheet)
    area_h = TILE_H - LABEL_H
    pic = _fit(tile.image, TILE_W, area_h)
    sheet.paste(pic, (x + (TILE_W - pic.width) // 2, y + (area_h - pic.height) // 2))
    inset = _fit(tile.inset, TILE_W // 3, area_h // 3)
    ix, iy = x + TILE_W - inset.width - 4, y + 4
    sheet.paste(inset, (ix, iy))
    draw.rectangle([ix - 1, iy - 1, ix + inset.width, iy + inset.height], outline=(160, 160, 160))
    # label block
    ly = y + area_h + 6
    draw.text((x + 4, ly), tile.title, fill=INK, font=_font(18))
    draw.text((x + 4, ly + 24), tile.score, fill=MUTED, font=_font(15))
    if tile.passed is not None:
        badge = "PASS" if tile.passed else "FAIL"
        colour = PASS_GREEN if tile.passed else FAIL_RED
        font = _font(17)
        bw = int(draw.textlength(badge, font=font)) + 16
        draw.rounded_rectangle([x + TILE_W - bw - 4, ly, x + TILE_W - 4, ly + 24], radius=6, fill=colour)
        draw.text((x + TILE_W - bw + 4, ly + 3), badge, fill=(255, 255, 255), font=font)
    if tile.note:
        lines = textwrap.wrap(tile.note, width=44)[:2]
        colour = FAIL_RED if tile.passed is False else MUTED
        for k, line in enumerate(lines):
            draw.text((x + 4, ly + 46 + 18 * k), line, fill=colour, font=_font(14))


def tiles_for(result: ReposeResult, source_name: str) -> list[Tile]:
    tiles = [
        Tile(
            image=result.image,
            inset=draw_overlay(result.image, result.source),
            title=f"source: {source_name}"[:34],
            score=f"{int(result.source.visible().sum())}/33 joints detected",
            passed=None,
            note=f"backend: {result.backend}",
        )
    ]
    for out in result.outputs:
        q = out.quality
        tiles.append(
            Tile(
                image=out.rendered.image,
                inset=render_figure(out.target, (TILE_W // 3, TILE_H // 3)),
                title=out.pose.name[:30],
                score=f"OKS {q.oks:.2f} · PCK {q.pck:.2f} · {out.seconds:.2f} s",
                passed=q.passed,
                note="; ".join(q.reasons),
            )
        )
    for sk in result.skipped:
        blank = Image.new("RGB", (TILE_W, TILE_H - LABEL_H), (238, 238, 238))
        tiles.append(
            Tile(blank, render_figure(sk.pose.skeleton, (TILE_W // 3, TILE_H // 3)), sk.pose.name[:30], "skipped",
                 None, sk.reason)
        )
    return tiles


def contact_sheet(result: ReposeResult, source_name: str = "photo") -> Image.Image:
    """The contact sheet of one `repose` result."""
    return compose(tiles_for(result, source_name))


def compose(tiles: Sequence[Tile]) -> Image.Image:
    cols = min(COLUMNS, max(1, len(tiles)))
    rows = (len(tiles) + cols - 1) // cols
    sheet = Image.new("RGB", (PAD + cols * (TILE_W + PAD), PAD + rows * (TILE_H + PAD)), (250, 250, 250))
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        x, y = PAD + c * (TILE_W + PAD), PAD + r * (TILE_H + PAD)
        frame = [x - 1, y - 1, x + TILE_W, y + TILE_H]
        ImageDraw.Draw(sheet).rectangle(frame, outline=(210, 210, 210), fill=(255, 255, 255))
        _draw_tile(sheet, tile, x, y)
    return sheet


def save_contact_sheet(result: ReposeResult, path: str | Path, source_name: str = "photo") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(result, source_name).save(path, format="PNG")
    return path
