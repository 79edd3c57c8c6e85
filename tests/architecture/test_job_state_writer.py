"""`Job.state` has one writer: plugin/services/jobs.py (the state machine). Read from the source with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.architecture.imports import ROOT

WRITER = ROOT / "plugin" / "services" / "jobs.py"
JOB_NAMES = {"job", "j", "row", "winner", "existing", "duplicate"}


def _writes_job_state(tree: ast.AST) -> list[int]:
    """Lines that write a job's state: `job.state = …` (plain, tuple or augmented), `Job(state=…)`, and
    `update(Job)….values(state=…)`."""
    lines: list[int] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            for t in node.targets:
                targets.extend(t.elts if isinstance(t, ast.Tuple) else [t])
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets.append(node.target)
        for t in targets:
            if (isinstance(t, ast.Attribute) and t.attr == "state" and isinstance(t.value, ast.Name)
                    and t.value.id in JOB_NAMES):  # fmt: skip
                lines.append(node.lineno)
        if isinstance(node, ast.Call) and any(k.arg == "state" for k in node.keywords):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "Job":
                lines.append(node.lineno)
            elif isinstance(func, ast.Attribute) and func.attr == "values" and "update(Job)" in ast.unparse(func):
                lines.append(node.lineno)
    return lines


def test_only_the_state_machine_writes_job_state() -> None:
    offenders = []
    for path in sorted((ROOT / "plugin").rglob("*.py")):
        if path == WRITER:
            continue
        for line in _writes_job_state(ast.parse(path.read_text(), filename=str(path))):
            offenders.append(f"{Path(path).relative_to(ROOT)}:{line}")
    assert not offenders, "Job.state written outside plugin/services/jobs.py (call jobs.transition): " + ", ".join(
        offenders
    )


def test_the_finder_sees_each_kind_of_write() -> None:
    src = "job.state = 1\njob.state, job.x = 1, 2\nJob(state=1)\nupdate(Job).where(a).values(state=1)\n"
    assert _writes_job_state(ast.parse(src)) == [1, 2, 3, 4]
    assert _writes_job_state(WRITER_TREE) != []  # the state machine itself is seen writing


WRITER_TREE = ast.parse(WRITER.read_text())
