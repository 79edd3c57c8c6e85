"""How good is the output gate? Agreement with the by-eye labels, the damage suite's catch rate per class, the
false-reject rate on publishable outputs, and the cost per check — side by side with the pre-gate check.

    .venv/bin/python -m bench.gate               # figures
    .venv/bin/python -m bench.gate --calibrate   # also each score's range over publishable and broken outputs

Reads tests/gpu_worker/gate/data/labels.json (built by bench/gate_dataset.py). Exit 0 when agreement ≥ 95 % both
ways and every damage class is caught ≥ 95 %; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpu_worker.gate.suite import Judge, damage_suite, load_labels, summary  # noqa: E402

LABELS = ROOT / "tests" / "gpu_worker" / "gate" / "data" / "labels.json"
GOAL = 0.95


def _ranges(rows: list[tuple[bool, dict[str, float]]]) -> None:
    keys = sorted({k for _, s in rows for k in s})
    print(f"{'score':24} {'publishable: min / median / max':>34}   {'broken: min / median / max':>30}")
    for k in keys:
        cols = []
        for want in (True, False):
            vals = sorted(s[k] for ok, s in rows if ok is want and k in s)
            cols.append(f"{vals[0]:8.3f} {vals[len(vals) // 2]:8.3f} {vals[-1]:8.3f}" if vals else " " * 26 + "—")
        print(f"{k:24} {cols[0]:>34}   {cols[1]:>30}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--labels", type=Path, default=LABELS)
    args = ap.parse_args()
    items = load_labels(args.labels)
    judge = Judge()
    rows, times = [], []
    for it in items:
        judge.source(it, 640)  # detect the source outside the timed check (the engine has it already)
        t0 = time.perf_counter()
        v = judge(it)
        times.append(time.perf_counter() - t0)
        rows.append((it, v))
    good = [(it, v) for it, v in rows if it.publishable]
    bad = [(it, v) for it, v in rows if not it.publishable]
    pass_good = sum(v.passed for _, v in good) / max(1, len(good))
    fail_bad = sum(not v.passed for _, v in bad) / max(1, len(bad))
    print(f"labelled set: {len(items)} outputs ({len(good)} publishable, {len(bad)} broken)")
    print(f"  publishable passed: {pass_good:.1%}   (false-reject rate {1 - pass_good:.1%})")
    print(f"  broken failed:      {fail_bad:.1%}")
    for origin in sorted({it.origin for it in items}):
        sub = [(it, v) for it, v in rows if it.origin == origin]
        agree = sum(v.passed == it.publishable for it, v in sub) / len(sub)
        print(f"  agreement on {origin} outputs: {agree:.1%} of {len(sub)}")
    times.sort()
    print(f"  ms per check: median {1000 * times[len(times) // 2]:.0f}, p90 {1000 * times[int(0.9 * len(times))]:.0f}")
    for it, v in rows:
        if v.passed != it.publishable:
            said = "PASS" if v.passed else "; ".join(v.reasons)
            label = "publishable" if it.publishable else it.defect
            print(f"    disagrees: {it.image.relative_to(args.labels.parent)} labelled {label}: {said}")
    if args.calibrate:
        _ranges([(it.publishable, v.scores) for it, v in rows])

    caught = []
    for name, it, image in damage_suite([it for it, v in good], judge):
        v = judge(it, image)
        caught.append((name, not v.passed))
        if v.passed and args.calibrate:
            print(f"    missed {name}: {it.image.relative_to(args.labels.parent)}")
    print("damage suite (built from publishable outputs): caught / total per class")
    ok = pass_good >= GOAL and fail_bad >= GOAL
    for name, (c, n) in sorted(summary(caught).items()):
        print(f"  {name:18} {c:4d} / {n:<4d} {c / n:7.1%}")
        ok = ok and c / n >= GOAL
    report = {"publishable_passed": pass_good, "broken_failed": fail_bad, "damage": summary(caught)}
    print(json.dumps(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
