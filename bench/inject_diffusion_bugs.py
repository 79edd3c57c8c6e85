"""Mutation check for the diffusion tests: inject each known wiring bug, run the tests, say which test catches it.

    .venv/bin/python bench/inject_diffusion_bugs.py                # the committed tree (HEAD), every bug
    .venv/bin/python bench/inject_diffusion_bugs.py --rev 3a617a3  # an older commit (e.g. the custom pipelines)
    .venv/bin/python bench/inject_diffusion_bugs.py --only cfg-sign,prompts-swapped-sd15
    .venv/bin/python bench/inject_diffusion_bugs.py --only edit-skeleton-not-passed \
        --tests tests/gpu_worker/generate/test_pipeline_parity.py -k edit        # a quicker partial check

Each bug is one exact text substitution in one file. The tree under test is exported (`git archive`) into a
temporary folder and the bug applied there, so the working tree is never touched; pytest runs from that folder
(its `gpu_worker` package shadows the editable install). A bug whose text is not in the tree is reported
"n/a" (the code it breaks does not exist there: e.g. the hand-written denoising loop, after the backend moved to
diffusers' own pipelines). Prints one line per bug and a summary; exits 1 if an applicable bug is not caught.
Takes ~1-2 min per bug on a 2-core CPU (tiny models are rebuilt in each pytest run).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = [
    "tests/gpu_worker/generate/test_pipeline_parity.py",
    "tests/gpu_worker/generate/test_diffusion_backend.py",
    "tests/gpu_worker/generate/test_diffusion_fixes.py",
    "tests/gpu_worker/generate/test_engine_end_to_end.py",
]


@dataclass(frozen=True)
class Bug:
    name: str
    path: str
    old: str
    new: str


_DENOISE = "gpu_worker/generate/pipelines/_denoise.py"
_SD = "gpu_worker/generate/pipelines/pose_controlnet_sd.py"
_SDXL = "gpu_worker/generate/pipelines/pose_controlnet_sdxl.py"
_BACKEND = "gpu_worker/generate/diffusion.py"
_RUN = "gpu_worker/generate/pipelines/run.py"
_EDIT = "gpu_worker/generate/edit.py"

BUGS = [
    # -- the hand-written denoising loop and conditioning (before the move to diffusers' own pipelines)
    Bug("cfg-sign", _DENOISE, "guidance_scale * (cond - uncond)", "guidance_scale * (uncond - cond)"),
    Bug("cfg-dropped", _DENOISE, "noise_pred = uncond + guidance_scale * (cond - uncond)", "noise_pred = cond"),
    Bug("controlnet-residuals-not-passed", _DENOISE,
        "down_block_additional_residuals=down_res,\n                mid_block_additional_residual=mid_res,",
        "down_block_additional_residuals=None,\n                mid_block_additional_residual=None,"),
    Bug("scale-model-input-omitted", _DENOISE, "latent_in = self.scheduler.scale_model_input(latent_in, t)",
        "latent_in = latent_in"),
    Bug("init-noise-sigma-omitted", _DENOISE, "latents = latents * self.scheduler.init_noise_sigma",
        "latents = latents"),
    Bug("refine-ignores-strength", _DENOISE,
        "timesteps, _ = self.get_timesteps(num_inference_steps, strength, device)",
        "timesteps = self.scheduler.timesteps"),
    Bug("control-images-reordered", _DENOISE, "image=list(control_images),", "image=list(control_images)[::-1],"),
    Bug("sdxl-time-ids-swapped", _SDXL, "[[height, width, 0, 0, height, width]]",
        "[[width, height, 0, 0, width, height]]"),
    Bug("prompts-swapped-sd15", _SD, "prompt_embeds = torch.cat([negative, prompt_embeds])",
        "prompt_embeds = torch.cat([prompt_embeds, negative])"),
    Bug("pooled-prompts-swapped-sdxl", _SDXL,
        "text_embeds = torch.cat([_repeat(conditioning.negative_pooled_prompt_embeds, batch), text_embeds])",
        "text_embeds = torch.cat([text_embeds, _repeat(conditioning.negative_pooled_prompt_embeds, batch)])"),
    Bug("ip-adapter-embeds-swapped-sd15", _SD, "image_embeds = [e.chunk(2)[1] if do_cfg else e for e in per_adapter]",
        "image_embeds = [e.chunk(2)[0] if do_cfg else e for e in per_adapter]"),
    Bug("vae-scaling-omitted-sd15", _SD, "latents.to(self.vae.dtype) / self.vae.config.scaling_factor",
        "latents.to(self.vae.dtype)"),
    # -- our wiring around diffusers' pipelines (what remains ours after the move)
    Bug("prompts-swapped", _RUN,
        "prompt_embeds=_batch(cond.prompt_embeds, n),\n"
        "            negative_prompt_embeds=_batch(cond.negative_prompt_embeds, n) if cond.do_cfg else None,",
        "prompt_embeds=_batch(cond.negative_prompt_embeds if cond.do_cfg else cond.prompt_embeds, n),\n"
        "            negative_prompt_embeds=_batch(cond.prompt_embeds, n) if cond.do_cfg else None,"),
    Bug("pooled-prompts-swapped", _RUN,
        "pooled_prompt_embeds=_batch(cond.pooled_prompt_embeds, n),\n"
        "                negative_pooled_prompt_embeds=_batch(cond.negative_pooled_prompt_embeds, n),",
        "pooled_prompt_embeds=_batch(\n"
        "                    cond.negative_pooled_prompt_embeds if cond.do_cfg else cond.pooled_prompt_embeds, n),\n"
        "                negative_pooled_prompt_embeds=_batch(cond.pooled_prompt_embeds if cond.do_cfg else None, n),"),
    Bug("cfg-dropped-guidance-not-passed", _RUN, "guidance_scale=guidance_scale,", "guidance_scale=1.0,"),
    Bug("controlnet-scale-not-passed", _RUN, "controlnet_conditioning_scale=controlnet_conditioning_scale,",
        "controlnet_conditioning_scale=0.0,"),
    Bug("control-images-reordered-run", _RUN, "control_images = list(control_images)",
        "control_images = list(control_images)[::-1]"),
    Bug("refine-strength-not-passed", _RUN, "strength=strength,", "strength=1.0,"),
    Bug("refine-init-is-the-control", _RUN, "image=list(init_images),", "image=control_images,"),
    Bug("sdxl-size-conditioning-swapped", _RUN, "original_size=(height, width), target_size=(height, width)",
        "original_size=(width, height), target_size=(width, height)"),
    Bug("ip-adapter-embeds-swapped", _RUN,
        "ip_embeds = pipe.prepare_ip_adapter_image_embeds(ip_adapter_image, None, device, 1, do_cfg)",
        "ip_embeds = [torch.cat(e.chunk(2)[::-1]) for e in "
        "pipe.prepare_ip_adapter_image_embeds(ip_adapter_image, None, device, 1, do_cfg)]"),
    # -- the backend (both eras)
    Bug("one-seed-for-the-batch", _BACKEND, "torch.Generator(\"cpu\").manual_seed(it.seed) for it in chunk",
        "torch.Generator(\"cpu\").manual_seed(chunk[0].seed) for it in chunk"),
    Bug("init-image-is-the-photo", _BACKEND, "init_images=[it.warped.image for it in chunk]",
        "init_images=[photo for it in chunk]"),
    Bug("init-image-is-the-control", _BACKEND, "init_images=[it.init for it in chunk]",
        "init_images=[it.control for it in chunk]"),
    Bug("generate-claims-all-invented", _BACKEND, "rendered.append(Rendered(out, None, 0.0, 0.0, extras))",
        "rendered.append(Rendered(out, None, 1.0, 0.0, extras))"),
    Bug("ip-adapter-sees-the-photo", "gpu_worker/generate/references.py", "        return [person]\n",
        "        return [photo]\n"),
    Bug("control-image-stretched", _BACKEND, "control = box.pad(figure, (0, 0, 0))",
        "control = figure.resize((gw, gh))"),
    Bug("retry-with-the-same-seed", "gpu_worker/engine.py", "seed=seed + attempt,", "seed=seed,"),
    # -- the edit backend
    Bug("edit-skeleton-not-passed", _EDIT, "image=[reference, skeleton]", "image=[reference, reference]"),
    Bug("edit-one-seed-for-all-poses", _EDIT, "torch.Generator(\"cpu\").manual_seed(item)",
        "torch.Generator(\"cpu\").manual_seed(seed)"),
    Bug("edit-instruction-dropped", _EDIT, "prompt=cfg.edit_instruction, device=models.device",
        "prompt=\"\", device=models.device"),
]


def export(rev: str, dest: Path) -> None:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def run_tests(tree: Path, timeout: int, tests: list[str], select: str) -> tuple[bool, str]:
    """(passed, the first failing test id or the tail of the output)."""
    cmd = [sys.executable, "-m", "pytest", *[t for t in tests if (tree / t).exists()], "-x", "-q",
           "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning", "-W", "ignore::FutureWarning"]  # fmt: skip
    if select:
        cmd += ["-k", select]
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, flags=re.M)
    if proc.returncode == 0:
        return True, ""
    return False, failed[0] if failed else out.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rev", default="HEAD", help="commit to test (default HEAD)")
    parser.add_argument("--only", default="", help="comma-separated bug names")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per pytest run")
    parser.add_argument("--tests", default=",".join(TESTS), help="comma-separated test files (default: all four)")
    parser.add_argument("-k", dest="select", default="", help="pytest -k expression (a quicker partial check)")
    args = parser.parse_args()
    tests = [t for t in args.tests.split(",") if t]
    wanted = {n for n in args.only.split(",") if n}
    bugs = [b for b in BUGS if not wanted or b.name in wanted]
    with tempfile.TemporaryDirectory(prefix="inject-") as tmp:
        clean = Path(tmp) / "clean"
        clean.mkdir()
        export(args.rev, clean)
        check = subprocess.run(
            [sys.executable, "-c", "import gpu_worker; print(gpu_worker.__file__)"], cwd=clean, capture_output=True,
            text=True, check=True,
        ).stdout.strip()  # fmt: skip
        if not check.startswith(str(clean)):
            print(f"the exported tree does not shadow the installed package ({check})", file=sys.stderr)
            return 2
        ok, why = run_tests(clean, args.timeout, tests, args.select)
        print(f"{'baseline (no bug)':<36} {'tests pass' if ok else 'TESTS FAIL: ' + why}", flush=True)
        if not ok:
            return 2
        missed: list[str] = []
        caught = applicable = 0
        for bug in bugs:
            target = clean / bug.path
            text = target.read_text() if target.exists() else ""
            if text.count(bug.old) < 1:
                print(f"{bug.name:<36} n/a (code not in this tree)", flush=True)
                continue
            applicable += 1
            target.write_text(text.replace(bug.old, bug.new))
            try:
                passed, first = run_tests(clean, args.timeout, tests, args.select)
            finally:
                target.write_text(text)
            if passed:
                missed.append(bug.name)
                print(f"{bug.name:<36} NOT CAUGHT", flush=True)
            else:
                caught += 1
                print(f"{bug.name:<36} caught by {first}", flush=True)
        summary = f"\n{caught} of {applicable} applicable injected bugs caught"
        print(summary + (f"; missed: {', '.join(missed)}" if missed else ""))
        return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
