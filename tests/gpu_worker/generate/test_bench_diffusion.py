"""bench/diffusion.py runs (CPU, tiny random models) and prints its per-preset table: the GPU command is the same
code with --device cuda, so it stays runnable."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "diffusion.py"


def test_bench_prints_a_row_per_run_for_a_preset(capsys) -> None:
    spec = importlib.util.spec_from_file_location("bench_diffusion", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--device", "cpu", "--presets", "flux2-klein", "--poses", "2", "--repeat", "1", "--no-compile"])
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    rows = [cols for cols in lines if cols and cols[0] == "flux2-klein" and cols[1] == "eager,"]
    assert [" ".join(r[1:4]) for r in rows] == ["eager, batch 6", "eager, 6 x"]
    for cols in rows:
        s_product, s_image = (float(c) for c in cols[-4:-2]) if cols[-1] == "(RSS)" else (0.0, 0.0)
        assert s_product > 0 and abs(s_image - s_product / 2) < 0.011
