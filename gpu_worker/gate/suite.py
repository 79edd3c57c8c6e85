"""The labelled set and the damage suite, as data the gate's tests and `bench/gate.py` share.

A labelled item is the check manifest's item ({"source", "image", "pose", "backend"}) plus the by-eye verdict
({"publishable", "defect", "note", "origin"}); paths are relative to the labels file. The damage suite is built from
the items labelled publishable: every class of `damage.CLASSES`, each damaged image judged against the good item's
own source and target.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from gpu_worker.gate import damage
from gpu_worker.gate.judge import BackendReport, Verdict, judge
from gpu_worker.gate.pose_match import similarity
from gpu_worker.gate.targets import rivals, set_targets
from gpu_worker.gate.thresholds import WARP
from gpu_worker.pose.skeleton import Skeleton


@dataclass(frozen=True)
class Labelled:
    source: Path
    image: Path
    set_id: str
    pose_id: str
    backend: str
    publishable: bool
    defect: str | None
    origin: str
    report: BackendReport | None = None

    @property
    def figure(self) -> str:
        """The figure's identity: its source file (a doll's source is `<doll>/source.png`)."""
        return str(self.source)


def load_labels(path: Path) -> list[Labelled]:
    items: list[Labelled] = []
    for x in json.loads(path.read_text(encoding="utf-8")):
        set_id, _, pose_id = x["pose"].partition("/")
        items.append(
            Labelled(
                source=(path.parent / x["source"]).resolve(),
                image=(path.parent / x["image"]).resolve(),
                set_id=set_id,
                pose_id=pose_id,
                backend=x.get("backend", "warp"),
                publishable=bool(x["publishable"]),
                defect=x.get("defect"),
                origin=x.get("origin", ""),
                report=BackendReport(**x["report"]) if x.get("report") else None,
            )
        )
    return items


class Judge:
    """Judges images of labelled items, detecting each source once (as `pose-studio check` does)."""

    def __init__(self) -> None:
        self._sources: dict[tuple[Path, int], tuple[Image.Image, Skeleton | None, dict[str, Skeleton]]] = {}

    def source(self, item: Labelled, size: int) -> tuple[Image.Image, Skeleton | None, dict[str, Skeleton]]:
        from gpu_worker.errors import InputRejected
        from gpu_worker.pose.detect import detect
        from gpu_worker.pose.image_io import load_image
        from gpu_worker.pose.library import load_pose_set

        key = (item.source, size)
        if key not in self._sources:
            photo = load_image(item.source, max_size=size)
            try:
                sk: Skeleton | None = detect(photo, max_size=max(photo.size))
            except InputRejected:
                sk = None
            targets = set_targets(sk, load_pose_set(item.set_id)) if sk is not None else {}
            self._sources[key] = (photo, sk, targets)
        photo, sk, targets = self._sources[key]
        if sk is not None and item.pose_id not in targets:  # another set of the same figure
            targets = {**targets, **set_targets(sk, load_pose_set(item.set_id))}
            self._sources[key] = (photo, sk, targets)
        return photo, sk, targets

    def __call__(self, item: Labelled, image: Image.Image | None = None) -> Verdict:
        from gpu_worker.pose.image_io import load_image

        out = image if image is not None else load_image(item.image, max_size=16384)
        photo, sk, targets = self.source(item, max(out.size))
        if sk is None:
            return Verdict(passed=False, reasons=["no person found in the source photo"])
        return judge(out, photo, targets[item.pose_id], source_skeleton=sk, others=rivals(targets, item.pose_id),
                     backend=item.backend, report=item.report if image is None else None)  # fmt: skip

    def target(self, item: Labelled, size: int) -> Skeleton | None:
        photo, sk, targets = self.source(item, size)
        return targets.get(item.pose_id) if sk is not None else None


DISTINCT = WARP.distinct_pose
Damage = Callable[[Image.Image, Skeleton], Image.Image | None]
PIXEL_DAMAGE: dict[str, Damage] = {
    "mirrored": damage.mirrored,
    "rotated": damage.rotated,
    "arm erased": damage.arm_erased,
    "torn garment": damage.torn_garment,
    "hole in torso": damage.hole_in_torso,
    "ghost fragment": damage.ghost_fragment,
    "hue shift": damage.hue_shift,
    "frame-cut head": damage.frame_cut_head,
}


def damage_suite(good: list[Labelled], judge_: Judge) -> Iterator[tuple[str, Labelled, Image.Image]]:
    """(class, the good item whose slot it is submitted in, the damaged image) for every applicable damage."""
    from gpu_worker.pose.image_io import load_image

    by_figure: dict[tuple[str, str], list[Labelled]] = {}
    for g in good:
        by_figure.setdefault((g.figure, g.set_id), []).append(g)
    for g in good:
        img = load_image(g.image, max_size=16384)
        target = judge_.target(g, max(img.size))
        if target is None:
            continue
        for name, fn in PIXEL_DAMAGE.items():
            hurt = fn(img, target)
            if hurt is not None:
                yield name, g, hurt
        # another pose of the same set, submitted in this slot: the most different one (a near-twin pose is not a
        # visible defect)
        siblings = [s for s in by_figure[(g.figure, g.set_id)] if s.pose_id != g.pose_id]
        if siblings:
            yield "swapped slot", g, load_image(siblings[len(siblings) // 2].image, max_size=16384)
        # the source photo handed back as the output (no defect where the target is the source's own pose)
        photo, sk, _ = judge_.source(g, max(img.size))
        if sk is not None and similarity(sk.scaled_to(target.width, target.height), target) < DISTINCT:
            yield "source returned", g, photo
        # the same pose of another figure
        others = [o for o in good if o.pose_id == g.pose_id and o.set_id == g.set_id and o.figure != g.figure]
        if others:
            yield "another person", g, load_image(others[0].image, max_size=16384)


def summary(rows: list[tuple[str, bool]]) -> dict[str, Any]:
    """{class: (caught, total)} from (class, caught) rows."""
    out: dict[str, list[int]] = {}
    for name, caught in rows:
        c = out.setdefault(name, [0, 0])
        c[0] += int(caught)
        c[1] += 1
    return {k: tuple(v) for k, v in out.items()}
