"""`pose-studio generate` (re-pose photos into a pose set, on this machine) and `pose-studio poses` (the library).

Exit codes of `generate` (also in its --help), one meaning each:
0 every output was written and passed its quality check;
1 the run finished but not all of it succeeded: an input was rejected, an output failed its check, or nothing was
  generated at all (every pose skipped); everything else is still written;
2 usage or configuration error, nothing was done: an unknown pose set or pose, `--poses` naming none, an image that
  is missing or not a regular file, an `--out` that cannot be written or would overwrite an input, a backend that
  is not installed, diffusion without its model weights;
3 writing the results failed part-way (disk full, I/O error): what was written before is listed.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import click

from gpu_worker.errors import InputRejected, PoseLibraryError, PoseStudioError

# mediapipe / TFLite print C++ log lines on stderr; keep the CLI's stderr for our own lines
WARM_UP_IMAGE = Path(__file__).resolve().parent / "assets" / "samples" / "groom1_jarno_vasamaa_01.png"
_QUIET_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}


def _quiet_native_logs() -> None:
    """Start the pose detector with the process's stderr (fd 2) muted.

    MediaPipe and TFLite print a handful of C++ log lines (XNNPACK, "Feedback manager …") when the landmarker is
    created and first run; they would bury the CLI's own one-line messages. They are printed by native code, so
    only redirecting the file descriptor silences them.
    """
    import os

    for k, v in _QUIET_ENV.items():
        os.environ.setdefault(k, v)
    from PIL import Image

    from gpu_worker.pose.detect import detect_all

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                # one picture with a person: some messages come only on the first landmark pass
                detect_all(Image.open(WARM_UP_IMAGE).convert("RGB").reduce(4))
            except (PoseStudioError, OSError):  # a warm-up; the real calls report their own errors
                pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _say(message: str) -> None:
    click.echo(message, err=True)


class _ProgressLines:
    """Engine progress as one stderr line per new stage."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.last = ""

    def __call__(self, fraction: float, stage: str) -> None:
        if stage != self.last and stage != "done":
            self.last = stage
            _say(f"{self.prefix}: {stage} ({fraction:.0%})")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_WRITE_FAILED = 0, 1, 2, 3


class _WriteFailed(Exception):
    """Writing a result failed (disk full, I/O error); `str(e)` is the one line to print."""


def _split_ids(value: str | None) -> list[str] | None:
    """None: every pose. A value that names no pose (`--poses ,`) is a usage error, not "every pose"."""
    if value is None:
        return None
    ids = [v.strip() for v in value.split(",") if v.strip()]
    if not ids:
        raise click.BadParameter("names no pose; give pose ids separated by commas, or leave --poses out for all",
                                 param_hint="--poses")  # fmt: skip
    return ids


def _check_images(images: tuple[Path, ...]) -> None:
    """Every IMAGE is a regular file: a device (/dev/zero: endless) or a FIFO (blocks until a writer comes) would
    hang the run instead of failing it."""
    for path in images:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise click.BadParameter(f"{path} is not a regular file; give image files", param_hint="IMAGES")


def _check_out(out_dir: Path, images: tuple[Path, ...], stems: list[str], poses: list[str]) -> None:
    """`--out` can be created and written, and no result would overwrite an input image."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not out_dir.is_dir():
            raise NotADirectoryError(f"{out_dir} is not a folder")
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".pose-studio-write-check-"):
            pass
    except OSError as exc:
        raise click.UsageError(f"cannot write to --out {out_dir}: {exc.strerror or _one_line(exc)}") from None
    inputs = {p.resolve() for p in images}
    results = {(out_dir / "report.json").resolve()}
    for stem in stems:
        folder = out_dir / stem
        results |= {(folder / f"{pose}.png").resolve() for pose in poses} | {(folder / "contact_sheet.png").resolve()}
    clash = sorted(str(p) for p in inputs & results)
    if clash:
        raise click.UsageError(f"--out {out_dir} would overwrite the input image {clash[0]}; choose another folder")


def _write(what: Path, write: Any) -> Any:
    """Run `write()` (which writes `what`); an OSError (disk full, I/O error, a read-only folder) becomes one line."""
    try:
        return write()
    except OSError as exc:
        raise _WriteFailed(f"cannot write {what}: {exc.strerror or _one_line(exc)}") from None


def _diffusion_problem(be: Any) -> str | None:
    """What keeps the diffusion backend from running here (missing or incomplete weights), checked before any work
    without loading them; None when ready or when `be` is another backend."""
    config = getattr(be, "config", None)
    if getattr(be, "name", "") != "diffusion" or config is None:
        return None
    from gpu_worker.generate.model_loader import inspect_models

    report = inspect_models(config)
    if report.ok:
        return None
    first = report.problems[0]
    more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
    return (f"the diffusion backend is not ready: {_one_line(Exception(str(first)))}{more}; "
            "see `pose-studio models check`, or use --backend warp")  # fmt: skip


def _unique_stem(path: Path, used: set[str]) -> str:
    stem, k = path.stem, 2
    name = stem
    while name in used:
        name, k = f"{stem}-{k}", k + 1
    used.add(name)
    return name


@click.command(epilog="""\b
Exit codes:
  0  every output written and passed its quality check
  1  finished, but an input was rejected, an output failed its check, or nothing was generated (every pose skipped)
  2  usage or configuration error, nothing done (unknown pose set/pose, --poses naming none, an image missing or not a
     regular file, --out not writable or overwriting an input, backend not installed, diffusion without weights)
  3  writing the results failed part-way (disk full, I/O error)""")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pose-set", "pose_set_id", required=True, help="Pose set id (see `pose-studio poses list`).")
@click.option("--poses", "pose_ids", default=None, help="Only these poses of the set, comma-separated ids.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: <image stem>/<pose id>.png, contact sheets and report.json.")
@click.option("--backend", type=click.Choice(["warp", "diffusion", "edit"]), default="warp", show_default=True,
              help="warp: CPU cut-out warp, no weights; diffusion: pose ControlNet; edit: reference-editing model "
                   "(FLUX.2 klein / Qwen-Image-Edit; diffusion and edit need the gpu extra and models).")
@click.option("--max-size", type=click.IntRange(64, 8192), default=2048, show_default=True,
              help="Long side of the working image (and of the outputs), pixels.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (diffusion).")
def generate(
    images: tuple[Path, ...],
    pose_set_id: str,
    pose_ids: str | None,
    out_dir: Path,
    backend: str,
    max_size: int,
    seed: int,
) -> None:
    """Re-pose the person in each IMAGE into the poses of a pose set, check every output, write a report."""
    try:
        code = _generate(images, pose_set_id, pose_ids, out_dir, backend, max_size, seed)
    except _WriteFailed as exc:
        _say(f"error: {exc}")
        sys.exit(EXIT_WRITE_FAILED)
    if code:
        sys.exit(code)


def _generate(images: tuple[Path, ...], pose_set_id: str, pose_ids: str | None, out_dir: Path, backend: str,
              max_size: int, seed: int) -> int:  # fmt: skip
    """The body of `generate`; returns its exit code (usage errors are raised as click exceptions: 2)."""
    from gpu_worker.contact_sheet import save_contact_sheet
    from gpu_worker.engine import BackendUnavailable, get_backend, repose, select_poses
    from gpu_worker.pose.library import load_pose_set

    # 1. usage checks, before any work
    _check_images(images)
    try:
        pose_set = load_pose_set(pose_set_id)
    except PoseLibraryError as exc:
        raise click.BadParameter(_one_line(exc), param_hint="--pose-set") from None
    wanted = _split_ids(pose_ids)
    try:
        chosen = select_poses(pose_set, wanted)
    except PoseLibraryError as exc:
        raise click.BadParameter(_one_line(exc), param_hint="--poses") from None
    try:
        be = get_backend(backend)
    except (BackendUnavailable, ValueError) as exc:  # ValueError: a POSE_STUDIO_DIFFUSION_* setting is invalid
        raise click.UsageError(_one_line(exc)) from None
    problem = _diffusion_problem(be)
    if problem is not None:
        raise click.UsageError(problem)
    used: set[str] = set()
    stems = [_unique_stem(path, used) for path in images]
    _check_out(out_dir, images, stems, [p.id for p in chosen])

    _quiet_native_logs()
    report: dict[str, Any] = {
        "pose_set": pose_set.id,
        "pose_set_version": pose_set.version,
        "backend": be.name,
        "outputs": [],
        "rejected": [],
        "skipped": [],
    }
    sheets: list[Path] = []
    n = len(images)

    # 2. one photo at a time; a bad photo is reported and the run goes on
    for i, (path, stem) in enumerate(zip(images, stems, strict=True), start=1):
        started = time.perf_counter()
        try:
            result = repose(path, pose_set, poses=wanted, backend=be, seed=seed, max_size=max_size,
                            progress=_ProgressLines(f"[{i}/{n}] {path.name}"))
        except InputRejected as exc:
            reason = _one_line(exc)
            _say(f"[{i}/{n}] {path.name}: rejected: {reason}")
            report["rejected"].append({"source": str(path), "reason": reason})
            continue
        except PoseStudioError as exc:
            reason = _one_line(exc)
            _say(f"[{i}/{n}] {path.name}: failed: {reason}")
            report["rejected"].append({"source": str(path), "reason": reason})
            continue

        folder = out_dir / stem
        _write(folder, partial(folder.mkdir, parents=True, exist_ok=True))
        for o in result.outputs:
            file = folder / f"{o.pose.id}.png"
            _write(file, partial(o.rendered.image.save, file, format="PNG"))
            q = o.quality
            verdict = "PASS" if q.passed else "FAIL: " + "; ".join(q.reasons)
            _say(f"[{i}/{n}] {path.name}: {o.pose.id}: OKS {q.oks:.2f} PCK {q.pck:.2f} {verdict}")
            report["outputs"].append(
                {
                    "source": str(path),
                    "pose": o.pose.id,
                    "backend": result.backend,
                    "file": str(file),
                    "oks": round(q.oks, 4),
                    "pck": round(q.pck, 4),
                    "passed": q.passed,
                    "scores": q.to_dict()["scores"],
                    # what the backend said about itself; `pose-studio check` takes it back with the image
                    "report": {
                        "uncovered_fraction": round(o.rendered.uncovered_fraction, 5),
                        "foldover_fraction": round(o.rendered.foldover_fraction, 5),
                    },
                    "seconds": round(o.seconds, 3),
                    "reasons": list(q.reasons),
                }
            )
        for s in result.skipped:
            _say(f"[{i}/{n}] {path.name}: {s.pose.id}: skipped ({s.reason})")
            report["skipped"].append({"source": str(path), "pose": s.pose.id, "reason": s.reason})
        sheet_path = folder / "contact_sheet.png"
        sheets.append(_write(sheet_path, partial(save_contact_sheet, result, sheet_path, source_name=path.name)))
        _say(f"[{i}/{n}] {path.name}: done in {time.perf_counter() - started:.1f} s")

    # 3. report and exit code
    outs = report["outputs"]
    passed = sum(1 for o in outs if o["passed"])
    report["summary"] = {
        "inputs": n,
        "rejected": len(report["rejected"]),
        "outputs": len(outs),
        "passed": passed,
        "failed": len(outs) - passed,
        "skipped": len(report["skipped"]),
    }
    report_path = out_dir / "report.json"
    _write(report_path, partial(report_path.write_text, json.dumps(report, indent=2) + "\n", encoding="utf-8"))
    s = report["summary"]
    click.echo(
        f"{s['passed']}/{s['outputs']} outputs passed, {s['failed']} failed, {s['rejected']} input(s) rejected, "
        f"{s['skipped']} pose(s) skipped"
    )
    for sheet in sheets:
        click.echo(f"contact sheet: {sheet}")
    click.echo(f"report: {report_path}")
    if s["rejected"] or s["failed"] or not outs:  # nothing generated (every pose skipped) is not a success
        return EXIT_INCOMPLETE
    return EXIT_OK


# --------------------------------------------------------------------------------------------------------------------


@click.group()
def poses() -> None:
    """The pose library: built-in pose sets and their poses."""


@poses.command("list")
def list_sets() -> None:
    """Every pose set and its poses."""
    from gpu_worker.pose.library import list_pose_sets

    for ps in list_pose_sets():
        click.echo(f"{ps.id} (v{ps.version}, {ps.category}): {ps.name} — {ps.description}")
        for p in ps.poses:
            only = "" if "warp" in p.backends else "  [diffusion only]"
            click.echo(f"  {ps.id}/{p.id}: {p.name}{only}")


@poses.command("show")
@click.argument("ident", metavar="ID")
@click.option("--render", "render_to", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the stick figure of the pose (or of every pose of the set) to this PNG.")
def show(ident: str, render_to: Path | None) -> None:
    """Show a pose set (ID = set id) or one pose (ID = set/pose)."""
    from gpu_worker.pose.library import load_pose_set
    from gpu_worker.pose.render import render_figure

    set_id, _, pose_id = ident.partition("/")
    try:
        ps = load_pose_set(set_id)
        chosen = [ps.pose(pose_id)] if pose_id else list(ps.poses)
    except PoseLibraryError as exc:
        raise click.BadParameter(_one_line(exc), param_hint="ID") from None
    if not pose_id:
        click.echo(f"{ps.id} (v{ps.version}, {ps.category}): {ps.name}")
        click.echo(f"  {ps.description}")
    for p in chosen:
        click.echo(f"{ps.id}/{p.id}: {p.name}")
        click.echo(f"  {p.description}")
        click.echo(f"  backends: {', '.join(sorted(p.backends))}; joints placed: {int(p.skeleton.visible().sum())}/33")
    if render_to is not None:
        from PIL import Image

        figures = [render_figure(p, (256, 256)) for p in chosen]
        sheet = Image.new("RGB", (256 * len(figures), 256), "white")
        for k, fig in enumerate(figures):
            sheet.paste(fig, (256 * k, 0))
        render_to.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(render_to, format="PNG")
        click.echo(f"figure: {render_to}")
