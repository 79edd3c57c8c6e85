"""Every UI string a template or script asks for exists in plugin/i18n/en.json (fast; no browser)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plugin.i18n import MissingString, catalogue, flat_keys, translate

ROOT = Path(__file__).resolve().parents[3]
KEYS = flat_keys(catalogue())


def used_keys() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in sorted((ROOT / "templates").glob("*.html")):
        found += [(path.name, k) for k in re.findall(r"""\bt\(\s*["']([\w.]+)["']""", path.read_text())]
    for path in sorted((ROOT / "plugin" / "static").glob("*.js")):
        text = path.read_text()
        found += [(path.name, k) for k in re.findall(r"""\bt\(\s*'([\w.]+)'""", text)]
        plurals = re.findall(r"""\btn\(\s*'([\w.]+)'""", text)
        found += [(path.name, f"{k}.{n}") for k in plurals for n in ("one", "other")]
    return found


def test_templates_and_scripts_use_only_existing_strings() -> None:
    uses = used_keys()
    assert len(uses) > 150  # the scan sees the pages
    assert [use for use in uses if use[1] not in KEYS] == []


def test_every_job_state_has_a_label() -> None:
    from plugin.models.job import JobState

    assert {f"status.{s.value}" for s in JobState} <= KEYS


def test_translate_fills_placeholders_and_refuses_unknown_keys() -> None:
    assert translate("home.usage.of_limit", used=3, limit=10) == "3 of 10 generations"
    with pytest.raises(MissingString, match="plugin/i18n/en.json"):
        translate("home.no_such_string")
