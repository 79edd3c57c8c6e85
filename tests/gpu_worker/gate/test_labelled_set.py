"""The gate against the by-eye labels and the damage suite (docs/QUALITY.md; figures: `python -m bench.gate`).

The labelled set: the samples and calibration figures re-posed by the warp into catalog-basics, lifestyle and
mascot (210 outputs, each judged by eye: all unpublishable today), and paper dolls redrawn in their target poses
(correct by construction, checked by eye). The damage suite is built from the publishable outputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_worker.gate.suite import Judge, Labelled, damage_suite, load_labels, summary

LABELS = Path(__file__).parent / "data" / "labels.json"
GOAL = 0.95


@pytest.fixture(scope="module")
def items() -> list[Labelled]:
    return load_labels(LABELS)


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge()


def test_the_labelled_set_is_real_figures_judged_by_eye(items: list[Labelled]) -> None:
    warp = [it for it in items if it.origin == "warp"]
    assert len(warp) >= 150
    assert {it.set_id for it in warp} >= {"catalog-basics", "lifestyle"}
    assert all(it.publishable or it.defect for it in items)  # every broken one says what is wrong
    assert all(it.image.is_file() and it.source.is_file() for it in items)


def test_the_gate_agrees_with_the_labels_both_ways(items: list[Labelled], judge: Judge) -> None:
    verdicts = [(it, judge(it)) for it in items]
    good = [v.passed for it, v in verdicts if it.publishable]
    bad = [not v.passed for it, v in verdicts if not it.publishable]
    wrong = [f"{it.image.name} ({it.set_id}/{it.pose_id}): {v.reasons or 'PASS'}"
             for it, v in verdicts if v.passed != it.publishable]  # fmt: skip
    assert sum(good) / len(good) >= GOAL, wrong
    assert sum(bad) / len(bad) >= GOAL, wrong
    for _, v in verdicts:  # a failure always says why, in words
        assert v.passed or all(isinstance(r, str) and r for r in v.reasons)


def test_deliberate_damage_is_caught_in_every_class(items: list[Labelled], judge: Judge) -> None:
    good = [it for it in items if it.publishable][::4]  # every doll and pose family, a quarter of the outputs
    rows = [(name, not judge(slot, image).passed) for name, slot, image in damage_suite(good, judge)]
    caught = summary(rows)
    assert set(caught) == {"swapped slot", "mirrored", "rotated", "source returned", "another person", "arm erased",
                           "torn garment", "hole in torso", "ghost fragment", "hue shift", "frame-cut head"}
    low = {name: (c, n) for name, (c, n) in caught.items() if c / n < GOAL}
    assert not low, caught
