"""`pose-studio check --manifest ITEMS.json --out VERDICTS.json`: the same verdict as `generate`, exit codes 0/1/2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DATA = Path(__file__).parent / "data"
DOLL = DATA / "dolls" / "purple-suit"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(  # noqa: S603 - our own CLI
        [str(Path(sys.executable).parent / "pose-studio"), *args], capture_output=True, text=True, timeout=600,
        check=False,
        cwd=ROOT, env=env,
    )


def _manifest(tmp_path: Path, items: list[dict]) -> Path:
    path = tmp_path / "items.json"
    path.write_text(json.dumps(items))
    return path


def test_check_reaches_the_verdicts_generate_reached(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    gen = _run("generate", str(DOLL / "source.png"), "--pose-set", "lifestyle", "--poses", "hello-wave,shrug",
               "--out", str(out), "--max-size", "512")
    assert gen.returncode in (0, 1), gen.stderr
    report = json.loads((out / "report.json").read_text())
    items = [{"source": str(DOLL / "source.png"), "image": o["file"], "pose": f"lifestyle/{o['pose']}",
              "report": o["report"]} for o in report["outputs"]]  # fmt: skip
    verdicts_path = tmp_path / "verdicts.json"
    chk = _run("check", "--manifest", str(_manifest(tmp_path, items)), "--out", str(verdicts_path))
    verdicts = json.loads(verdicts_path.read_text())
    assert [(v["passed"], v["reasons"]) for v in verdicts] == [(o["passed"], o["reasons"]) for o in report["outputs"]]
    assert chk.returncode == (0 if all(v["passed"] for v in verdicts) else 1), chk.stderr
    for v in verdicts:
        assert set(v) == {"passed", "reasons", "scores"} and "oks" in v["scores"]


def test_good_images_pass_and_exit_0(tmp_path: Path) -> None:
    items = [{"source": str(DOLL / "source.png"), "image": str(DOLL / "lifestyle" / f"{p}.webp"),
              "pose": f"lifestyle/{p}"} for p in ("hello-wave", "stretch-up")]  # fmt: skip
    chk = _run("check", "--manifest", str(_manifest(tmp_path, items)), "--out", str(tmp_path / "v.json"))
    assert chk.returncode == 0, chk.stderr
    assert [v["passed"] for v in json.loads((tmp_path / "v.json").read_text())] == [True, True]


def test_a_mirrored_image_fails_with_a_reason_and_exit_1(tmp_path: Path) -> None:
    from PIL import Image, ImageOps

    mirrored = tmp_path / "mirrored.png"
    ImageOps.mirror(Image.open(DATA / "dolls" / "pink-skirt" / "catalog-basics" / "front-relaxed.webp")).save(mirrored)
    items = [{"source": str(DATA / "dolls" / "pink-skirt" / "source.png"), "image": str(mirrored),
              "pose": "catalog-basics/front-relaxed"}]  # fmt: skip
    chk = _run("check", "--manifest", str(_manifest(tmp_path, items)), "--out", str(tmp_path / "v.json"))
    assert chk.returncode == 1
    (verdict,) = json.loads((tmp_path / "v.json").read_text())
    assert verdict["passed"] is False and any("mirrored" in r for r in verdict["reasons"])


@pytest.mark.parametrize(
    ("items", "says"),
    [
        ([{"source": "nope.png", "image": "nope.png", "pose": "catalog-basics/front-relaxed"}], "no such file"),
        ([{"source": str(DOLL / "source.png"), "image": str(DOLL / "source.png"), "pose": "catalog-basics/moonwalk"}],
         "moonwalk"),
        ([{"source": str(DOLL / "source.png"), "image": str(DOLL / "source.png")}], "pose"),
        ({"source": "x"}, "non-empty JSON list"),
        ([], "non-empty JSON list"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, items: object, says: str) -> None:
    path = tmp_path / "items.json"
    path.write_text(json.dumps(items))
    chk = _run("check", "--manifest", str(path), "--out", str(tmp_path / "v.json"))
    assert chk.returncode == 2
    assert says in chk.stderr and "Traceback" not in chk.stderr
    assert not (tmp_path / "v.json").exists()


def test_a_manifest_that_is_not_json_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text("{not json")
    chk = _run("check", "--manifest", str(path), "--out", str(tmp_path / "v.json"))
    assert chk.returncode == 2 and "cannot read manifest" in chk.stderr
