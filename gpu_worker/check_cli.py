"""`pose-studio check`: judge images made anywhere with the same output gate that `pose-studio generate` runs.

ITEMS.json is a list of {"source": path, "image": path, "pose": "set-id/pose-id"}; optional "backend" (whose
calibrated thresholds apply, default warp) and "report" ({"uncovered_fraction", "foldover_fraction"}: what the
backend said about the image — it can only add reasons to fail; `generate`'s report.json records it for every
output). Relative paths are read from the manifest's folder. VERDICTS.json is the
same-length list of {"passed": bool, "reasons": [str], "scores": {name: number}}.

The source photo is normalised exactly as `generate` normalises it (long side = the image's long side) and its pose
detected the same way, so the verdict is the one `generate` reached on the same images.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from gpu_worker.errors import InputRejected, PoseLibraryError
from gpu_worker.gate.judge import BackendReport

USAGE = 2
REPORT_FIELDS = {"uncovered_fraction", "foldover_fraction"}


@dataclass(frozen=True)
class Item:
    source: Path
    image: Path
    set_id: str
    pose_id: str
    backend: str
    report: BackendReport | None = None


def _usage(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(USAGE)


def read_manifest(path: Path) -> list[Item]:
    """Parse and check the manifest; exits with status 2 and one line on any usage error."""
    from gpu_worker.engine import BACKEND_NAMES
    from gpu_worker.pose.library import load_pose_set

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _usage(f"cannot read manifest {path}: {' '.join(str(exc).split())}")
    if not isinstance(raw, list) or not raw:
        _usage("the manifest must be a non-empty JSON list of {source, image, pose} objects")
    items: list[Item] = []
    for k, entry in enumerate(raw):
        if not isinstance(entry, dict) or not all(isinstance(entry.get(f), str) for f in ("source", "image", "pose")):
            _usage(f"item {k}: needs string fields source, image and pose")
        backend = entry.get("backend", "warp")
        if backend not in (*BACKEND_NAMES, "edit"):
            _usage(f"item {k}: unknown backend {backend!r}")
        set_id, _, pose_id = entry["pose"].partition("/")
        try:
            load_pose_set(set_id).pose(pose_id)
        except PoseLibraryError as exc:
            _usage(f"item {k}: {' '.join(str(exc).split())}")
        paths = [path.parent / entry[f] for f in ("source", "image")]  # an absolute entry stays absolute
        for p in paths:
            if not p.is_file():
                _usage(f"item {k}: no such file: {p}")
        report = entry.get("report")
        if report is not None and not (
            isinstance(report, dict)
            and set(report) <= REPORT_FIELDS
            and all(isinstance(v, int | float) and 0 <= v <= 1 for v in report.values())
        ):
            _usage(f"item {k}: report must be an object of {', '.join(sorted(REPORT_FIELDS))} between 0 and 1")
        items.append(Item(paths[0], paths[1], set_id, pose_id, backend, BackendReport(**report) if report else None))
    return items


def judge_items(items: list[Item]) -> list[dict[str, Any]]:
    """One verdict dict per item (see module docstring)."""
    from gpu_worker.gate import judge
    from gpu_worker.gate.targets import rivals, set_targets
    from gpu_worker.pose.detect import detect
    from gpu_worker.pose.image_io import load_image
    from gpu_worker.pose.library import load_pose_set

    sources: dict[tuple[Path, int], Any] = {}
    verdicts: list[dict[str, Any]] = []
    for item in items:
        try:
            output = load_image(item.image, max_size=16384)
            key = (item.source, max(output.size))
            if key not in sources:
                photo = load_image(item.source, max_size=max(output.size))
                try:
                    sources[key] = (photo, detect(photo, max_size=max(photo.size)))
                except InputRejected as exc:
                    sources[key] = (photo, exc)
            photo, skeleton = sources[key]
            if isinstance(skeleton, InputRejected):
                raise skeleton
        except InputRejected as exc:
            verdicts.append({"passed": False, "reasons": [" ".join(str(exc).split())], "scores": {}})
            continue
        targets = set_targets(skeleton, load_pose_set(item.set_id))
        verdict = judge(
            output,
            photo,
            targets[item.pose_id],
            source_skeleton=skeleton,
            others=rivals(targets, item.pose_id),
            backend=item.backend,
            report=item.report,
        )
        verdicts.append(verdict.to_dict())
    return verdicts


@click.command()
@click.option("--manifest", "manifest", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help='JSON list of {"source": path, "image": path, "pose": "set-id/pose-id"}.')
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the verdicts (JSON list, same order).")
def check(manifest: Path, out: Path) -> None:
    """Judge images with the output gate. Exit 0: all passed; 1: some failed; 2: usage error."""
    from gpu_worker.cli import _quiet_native_logs

    items = read_manifest(manifest)
    if out.exists() and out.is_dir():
        _usage(f"--out {out} is a folder; give a file name")
    _quiet_native_logs()
    verdicts = judge_items(items)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(verdicts, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        _usage(f"cannot write {out}: {exc.strerror or exc}")
    failed = [k for k, v in enumerate(verdicts) if not v["passed"]]
    for k in failed:
        what = f"{items[k].image.name} ({items[k].set_id}/{items[k].pose_id})"
        click.echo(f"{what}: FAIL: {'; '.join(verdicts[k]['reasons'])}", err=True)
    click.echo(f"{len(verdicts) - len(failed)}/{len(verdicts)} passed; verdicts: {out}")
    sys.exit(1 if failed else 0)
