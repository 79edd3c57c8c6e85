"""`pose-studio config check` on settings read outside plugin/config.py: the GPU worker's diffusion knobs are not
typos (a misspelt one still is), and a bad visibility timeout is reported once."""

from __future__ import annotations

from plugin.config_check import check_config
from tests.plugin.ops.test_config_check import production_env


def test_diffusion_settings_are_not_typos_but_misspellings_are() -> None:
    report = check_config(production_env(
        POSE_STUDIO_DIFFUSION_PRESET="sdxl", POSE_STUDIO_DIFFUSION_STEPS="8", POSE_STUDIO_DIFFUSION_LORA="x.bin",
        POSE_STUDIO_MODELS_DIR="/srv/models", POSE_STUDIO_DIFFUSION_STPES="8",
    ))  # fmt: skip
    flagged = {f.setting for f in report.warnings if "typo" in f.message}
    assert flagged == {"POSE_STUDIO_DIFFUSION_STPES"}, report.as_text()


def test_bad_visibility_timeout_is_reported_once() -> None:
    report = check_config(production_env(POSE_STUDIO_VISIBILITY_TIMEOUT="5"))
    findings = [f for f in report.findings if f.setting == "POSE_STUDIO_VISIBILITY_TIMEOUT"]
    assert len(findings) == 1 and findings[0] in report.errors, report.as_text()
