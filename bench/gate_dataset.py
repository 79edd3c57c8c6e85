"""Build the gate's labelled set (tests/gpu_worker/gate/data/) from by-eye verdicts.

    .venv/bin/python -m bench.gate_dataset --runs OUT_DIR --verdicts V1.json [V2.json ...]
    .venv/bin/python -m bench.gate_dataset --dolls

--runs: a folder of `pose-studio generate --max-size 640` runs, one sub-folder per pose set (OUT_DIR/<set>/...);
--verdicts: by-eye labels, a JSON list of {"set", "figure", "pose", "publishable", "defect", "note"} (the
labelling instructions are in tests/gpu_worker/gate/data/README.md). Outputs are copied as lossless WebP (the same
pixels, a third smaller) next to labels.json.
--dolls: (re)draws the paper dolls (bench/gate_dolls.py): each doll in one source pose, and re-posed into every
pose of catalog-basics, lifestyle and mascot through the same detect → retarget path the engine uses.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "tests" / "gpu_worker" / "gate" / "data"
LABELS = DATA / "labels.json"
SETS = ("catalog-basics", "lifestyle", "mascot")
ASSETS = ROOT / "gpu_worker" / "assets"
# A doll is used when the detector reads its drawing at least this well (OKS of the detected against the drawn
# skeleton): below it the targets the gate derives would not be the pose the doll was drawn in.
MIN_READ = 0.8


def _rel(path: Path) -> str:
    return str(Path(*([".."] * len(DATA.relative_to(ROOT).parts))) / path.resolve().relative_to(ROOT))


def _load() -> list[dict]:
    return json.loads(LABELS.read_text()) if LABELS.exists() else []


def _save(items: list[dict]) -> None:
    items.sort(key=lambda x: (x["origin"], x["pose"], x["image"]))
    LABELS.write_text(json.dumps(items, indent=1) + "\n")


def add_runs(runs: Path, verdict_files: list[Path]) -> None:
    from PIL import Image

    verdicts = {}
    for f in verdict_files:
        for v in json.loads(f.read_text()):
            verdicts[(v["set"], v["figure"], v["pose"])] = v
    items = [x for x in _load() if x["origin"] != "warp"]
    for set_dir in sorted(p for p in runs.iterdir() if (p / "report.json").exists()):
        report = json.loads((set_dir / "report.json").read_text())
        for o in report["outputs"]:
            source = Path(o["source"])
            v = verdicts.get((set_dir.name, source.stem, o["pose"]))
            if v is None:
                sys.exit(f"no verdict for {set_dir.name}/{source.stem}/{o['pose']}: label every output")
            dest = DATA / "outputs" / "warp" / set_dir.name / source.stem / f"{o['pose']}.webp"
            dest.parent.mkdir(parents=True, exist_ok=True)
            Image.open(o["file"]).save(dest, format="WEBP", lossless=True, quality=100, method=6)
            src = ASSETS / source.parent.name / source.name
            items.append({
                "source": _rel(src), "image": _rel(dest), "pose": f"{set_dir.name}/{o['pose']}", "backend": "warp",
                "origin": "warp", "publishable": bool(v["publishable"]), "defect": v.get("defect"),
                "note": v.get("note", ""), "report": _backend_report(o),
            })  # fmt: skip
    _save(items)
    print(f"{sum(x['origin'] == 'warp' for x in items)} warp outputs labelled")


def _backend_report(output: dict) -> dict:
    """What the backend said about its output, as `generate`'s report.json records it."""
    report = output.get("report") or output
    return {k: report[k] for k in ("uncovered_fraction", "foldover_fraction") if report.get(k) is not None}


def add_dolls() -> None:
    import shutil

    from bench.gate_dolls import DOLLS, render
    from gpu_worker.gate.pose_match import similarity
    from gpu_worker.pose.detect import detect
    from gpu_worker.pose.library import load_pose_set
    from gpu_worker.pose.retarget import retarget

    items = [x for x in _load() if x["origin"] != "doll"]
    shutil.rmtree(DATA / "dolls", ignore_errors=True)
    source_poses = ("catalog-basics/front-relaxed", "lifestyle/easy-walk")
    for k, doll in enumerate(DOLLS):
        set_id, pose_id = source_poses[k % len(source_poses)].split("/")
        base = load_pose_set(set_id).pose(pose_id).skeleton.scaled_to(480, 640)
        folder = DATA / "dolls" / doll.name
        folder.mkdir(parents=True, exist_ok=True)
        source_path = folder / "source.png"
        render(doll, base).save(source_path)
        # the doll counts only when the detector reads its drawing right: outputs are drawn from the drawn
        # skeleton, and the gate judges them against targets retargeted from the detected one
        detected = detect(source_path, max_size=640)
        if similarity(detected, base) < MIN_READ:
            print(f"{doll.name}: the detector misreads the drawing (OKS {similarity(detected, base):.2f}); skipped")
            continue
        skeleton = base
        for sid in SETS:
            for pose in load_pose_set(sid).poses:
                if "warp" not in pose.backends:
                    continue
                try:
                    image = render(doll, retarget(skeleton, pose))
                except ValueError:
                    continue
                dest = folder / sid / f"{pose.id}.webp"
                dest.parent.mkdir(parents=True, exist_ok=True)
                image.save(dest, format="WEBP", lossless=True, quality=100, method=6)
                items.append({
                    "source": _rel(source_path), "image": _rel(dest), "pose": f"{sid}/{pose.id}",
                    "backend": "warp", "origin": "doll", "publishable": True, "defect": None,
                    "note": "paper doll redrawn in the target pose (correct by construction); checked by eye",
                })  # fmt: skip
    _save(items)
    print(f"{sum(x['origin'] == 'doll' for x in items)} doll outputs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path)
    ap.add_argument("--verdicts", type=Path, nargs="*", default=[])
    ap.add_argument("--dolls", action="store_true")
    args = ap.parse_args()
    if args.runs:
        add_runs(args.runs, args.verdicts)
    if args.dolls:
        add_dolls()


if __name__ == "__main__":
    main()
