"""`pose-studio generate` and `pose-studio poses`: through click's CliRunner and as the installed console script."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from pose_studio.cli import main

from .conftest import sample
from .pose.conftest import draw_penguin

GROOM = sample("groom1_jarno_vasamaa_01")
SCRIPT = Path(sys.executable).with_name("pose-studio")


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


# -- bad inputs: each is rejected with one clear line, never a traceback ------------------------------------------


def _png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _corrupt(path: Path) -> None:
    data = bytearray(GROOM.read_bytes())
    data[200:4000] = os.urandom(3800)
    path.write_bytes(bytes(data))


def _truncated(path: Path) -> None:
    data = GROOM.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _bomb(path: Path) -> None:
    # 9000 × 9000 1-bit pixels: 81 megapixels in a few kilobytes of PNG
    Image.new("1", (9000, 9000), 0).save(path, format="PNG")


def _not_an_image(path: Path) -> None:
    path.write_text("name,price\nshirt,19.99\n", encoding="utf-8")


def _animated(path: Path) -> None:
    frames = [Image.new("RGB", (200, 200), c) for c in ("red", "blue")]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=100)


def _no_person(path: Path) -> None:
    Image.new("RGB", (600, 800), (245, 245, 245)).save(path, format="PNG")


def _penguin(path: Path) -> None:
    path.write_bytes(_png_bytes(draw_penguin()))


def _tiny(path: Path) -> None:
    Image.new("RGB", (12, 12), "white").save(path, format="PNG")


BAD_INPUTS: dict[str, tuple[str, Callable[[Path], None], str | tuple[str, ...]]] = {
    # name: (file name, writer, words the reason must contain — one of them when several)
    "corrupt": ("corrupt.png", _corrupt, "damaged"),
    "truncated": ("truncated.png", _truncated, "truncated"),
    "zero bytes": ("empty.jpg", _empty, "empty"),
    "decompression bomb": ("bomb.png", _bomb, "megapixel"),
    "not an image": ("prices.png", _not_an_image, "not an image"),
    "animated gif": ("spin.gif", _animated, "animated"),
    "no person": ("backdrop.png", _no_person, "no person"),
    # the detector finds no one on it, or a figure without human proportions: either refusal is right
    "penguin": ("penguin.png", _penguin, ("no person", "human proportions")),
    "too small": ("icon.png", _tiny, "pixels"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_gives_one_line_reason(case: str, tmp_path: Path) -> None:
    name, write, words = BAD_INPUTS[case]
    path = tmp_path / name
    write(path)
    code, out, err = _run("generate", str(path), "--pose-set", "catalog-basics", "--poses", "front-relaxed",
                          "--out", str(tmp_path / "out"))
    assert code == 1
    assert "Traceback" not in err and "Traceback" not in out
    rejected_lines = [line for line in err.splitlines() if "rejected:" in line]
    assert len(rejected_lines) == 1 and name in rejected_lines[0]
    alternatives = (words,) if isinstance(words, str) else words
    assert any(w in rejected_lines[0].lower() for w in alternatives), rejected_lines[0]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["outputs"] == []
    assert report["rejected"] == [{"source": str(path), "reason": report["rejected"][0]["reason"]}]
    assert any(w in report["rejected"][0]["reason"].lower() for w in alternatives)
    assert "\n" not in report["rejected"][0]["reason"]


# -- exit codes ---------------------------------------------------------------------------------------------------


def test_generate_writes_outputs_sheet_and_report(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    code, stdout, err = _run("generate", str(GROOM), "--pose-set", "catalog-basics", "--poses",
                             "front-relaxed,weight-shift", "--out", str(out), "--max-size", "1024")
    # the warp's outputs of the groom are not publishable (tests/gpu_worker/gate/data/labels.json, by eye): the
    # gate fails them with reasons, and exit 1 says so; everything is still written
    assert code == 1, err
    folder = out / GROOM.stem
    for pose in ("front-relaxed", "weight-shift"):
        with Image.open(folder / f"{pose}.png") as im:
            assert max(im.size) == 1024
    with Image.open(folder / "contact_sheet.png") as sheet:
        assert sheet.width > 700
    report = json.loads((out / "report.json").read_text())
    assert report["pose_set"] == "catalog-basics" and report["backend"] == "warp"
    assert [o["pose"] for o in report["outputs"]] == ["front-relaxed", "weight-shift"]
    first = report["outputs"][0]
    assert set(first) >= {"source", "pose", "backend", "oks", "pck", "passed", "seconds", "reasons"}
    assert first["oks"] > 0.8  # the pose is reached; the image is not clean enough to publish
    assert all(o["passed"] is (not o["reasons"]) for o in report["outputs"])
    assert first["passed"] is False and first["reasons"]
    assert set(first["scores"]) >= {"oks", "pck", "colour_distance", "area_ratio"}
    assert report["summary"] == {"inputs": 1, "rejected": 0, "outputs": 2, "passed": 0, "failed": 2, "skipped": 0}
    assert f"contact sheet: {folder / 'contact_sheet.png'}" in stdout
    assert f"report: {out / 'report.json'}" in stdout
    assert "weight-shift: OKS" in err  # progress and per-output lines on stderr


def test_one_bad_input_among_good_ones_exits_1_and_keeps_the_rest(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    _truncated(bad)
    code, _, err = _run("generate", str(bad), str(GROOM), "--pose-set", "catalog-basics", "--poses",
                        "front-relaxed", "--out", str(tmp_path / "o"), "--max-size", "768")
    assert code == 1
    assert (tmp_path / "o" / GROOM.stem / "front-relaxed.png").is_file()
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["summary"]["rejected"] == 1 and report["summary"]["outputs"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pose-set", "no-such-set"], "unknown pose set 'no-such-set'"),
        (["--pose-set", "catalog-basics", "--poses", "front-relaxed,moonwalk"], "no pose 'moonwalk'"),
        (["--pose-set", "catalog-basics", "--backend", "sketch"], "'sketch' is not one of"),
    ],
    ids=["unknown set", "unknown pose", "unknown backend"],
)
def test_usage_errors_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    code, _, err = _run("generate", str(GROOM), *args, "--out", str(tmp_path / "o"))
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "o" / "report.json").exists()


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = _run("generate", str(tmp_path / "nope.jpg"), "--pose-set", "catalog-basics", "--out",
                        str(tmp_path / "o"))
    assert code == 2
    assert "does not exist" in err


# -- bad runs: one clear line and a code that means one thing, never a traceback or a hang ------------------------


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    os.mkfifo(path)  # reading it would block until a writer comes
    return path


def _under_a_file(tmp_path: Path) -> Path:
    (tmp_path / "notes.txt").write_text("x")
    return tmp_path / "notes.txt" / "out"


@pytest.mark.parametrize(("make_args", "message"), [
    (lambda t: [str(GROOM), "--poses", ",", "--out", str(t / "o")], "names no pose"),
    (lambda t: ["/dev/zero", "--out", str(t / "o")], "not a regular file"),
    (lambda t: [str(_fifo(t)), "--out", str(t / "o")], "not a regular file"),
    (lambda t: [str(GROOM), "--out", str(_under_a_file(t))], "cannot write to --out"),
    (lambda t: [str(GROOM), "--out", "/proc/pose-studio-out"], "cannot write to --out"),
    (lambda t: [str(GROOM), "--out", "/dev/null"], "cannot write to --out"),
], ids=["--poses ,", "/dev/zero", "fifo", "--out under a file", "--out in /proc", "--out a device"])  # fmt: skip
def test_bad_runs_are_usage_errors_before_any_work(make_args: Callable[[Path], list[str]], message: str,
                                                    tmp_path: Path) -> None:  # fmt: skip
    code, out, err = _run("generate", "--pose-set", "catalog-basics", *make_args(tmp_path))
    assert code == 2, err
    assert message in err
    assert "Traceback" not in err + out
    assert not (tmp_path / "o" / "report.json").exists()


def test_an_out_folder_that_would_overwrite_an_input_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # outputs go to <out>/<image stem>/<pose id>.png: this input sits exactly where its own output would go
    source = out / "front-relaxed" / "front-relaxed.png"
    source.parent.mkdir(parents=True)
    source.write_bytes(GROOM.read_bytes())
    code, _, err = _run("generate", str(source), "--pose-set", "catalog-basics", "--poses", "front-relaxed",
                        "--out", str(out))
    assert code == 2 and "would overwrite the input image" in err
    assert source.read_bytes() == GROOM.read_bytes()


def test_a_full_disk_is_one_line_and_exit_3(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / GROOM.stem).mkdir(parents=True)
    (out / GROOM.stem / "front-relaxed.png").symlink_to("/dev/full")  # every write there: ENOSPC
    code, _, err = _run("generate", str(GROOM), "--pose-set", "catalog-basics", "--poses", "front-relaxed",
                        "--out", str(out), "--max-size", "512")
    assert code == 3
    assert "Traceback" not in err
    [line] = [x for x in err.splitlines() if x.startswith("error:")]
    assert "front-relaxed.png" in line and "No space left on device" in line


def test_every_pose_skipped_is_not_success(tmp_path: Path) -> None:
    code, out, err = _run("generate", str(GROOM), "--pose-set", "activewear", "--poses", "run", "--backend", "warp",
                          "--out", str(tmp_path / "o"), "--max-size", "512")
    assert code == 1, err
    assert "0/0 outputs passed" in out and "1 pose(s) skipped" in out


def test_diffusion_without_weights_is_a_configuration_error(tmp_path: Path) -> None:
    pytest.importorskip("diffusers", reason="the gpu extra is not installed: the backend is unavailable (also 2)")
    result = CliRunner().invoke(main, ["generate", str(GROOM), "--pose-set", "catalog-basics", "--backend",
                                       "diffusion", "--out", str(tmp_path / "o")],
                                env={"POSE_STUDIO_MODELS_DIR": str(tmp_path / "no-models")})  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "diffusion backend is not ready" in result.stderr and "models check" in result.stderr
    assert not (tmp_path / "o").exists()


def test_help_documents_the_exit_codes() -> None:
    code, out, _ = _run("generate", "--help")
    assert code == 0
    for line in ("0  every output", "1  finished, but", "2  usage or configuration error", "3  writing the results"):
        assert line in out


# -- poses --------------------------------------------------------------------------------------------------------


def test_poses_list_and_show(tmp_path: Path) -> None:
    code, out, _ = _run("poses", "list")
    assert code == 0
    assert "catalog-basics" in out and "catalog-basics/hand-on-hip" in out
    assert "[diffusion only]" in out
    figure = tmp_path / "fig.png"
    code, out, _ = _run("poses", "show", "catalog-basics/hand-on-hip", "--render", str(figure))
    assert code == 0
    assert "Hand on hip" in out
    with Image.open(figure) as im:
        assert im.size == (256, 256)
    code, out, _ = _run("poses", "show", "catalog-basics")
    assert code == 0 and out.count("catalog-basics/") == 5
    code, _, err = _run("poses", "show", "catalog-basics/moonwalk")
    assert code == 2 and "no pose 'moonwalk'" in err


# -- the installed console script, for real -------------------------------------------------------------------------


def test_console_script_end_to_end(tmp_path: Path) -> None:
    assert SCRIPT.is_file(), "run `.venv/bin/pip install -e . --no-deps`"
    bad = tmp_path / "empty.png"
    _empty(bad)
    out = tmp_path / "run"
    proc = subprocess.run(  # noqa: S603 - our own console script
        [str(SCRIPT), "generate", str(GROOM), str(bad), "--pose-set", "catalog-basics", "--poses", "hand-on-hip",
         "--out", str(out), "--max-size", "768"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "empty.png: rejected: the image file is empty (0 bytes)" in proc.stderr
    assert (out / GROOM.stem / "hand-on-hip.png").is_file()
    assert (out / GROOM.stem / "contact_sheet.png").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["outputs"][0]["pose"] == "hand-on-hip" and isinstance(report["outputs"][0]["passed"], bool)
    assert report["rejected"][0]["source"] == str(bad)
    assert f"report: {out / 'report.json'}" in proc.stdout

    usage = subprocess.run(  # noqa: S603
        [str(SCRIPT), "generate", str(GROOM), "--pose-set", "nope", "--out", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert usage.returncode == 2 and "unknown pose set 'nope'" in usage.stderr
