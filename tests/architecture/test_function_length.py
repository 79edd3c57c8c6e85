"""No function in plugin/ or pose_studio/ longer than 80 lines without a stated reason (a `# long: <why>` comment on
the line above its `def`): a long function is usually several steps that want names."""

from __future__ import annotations

import ast

from tests.architecture.imports import ROOT

MAX_LINES = 80


def test_no_function_is_over_80_lines_without_a_reason() -> None:
    long = []
    for package in ("plugin", "pose_studio"):
        for path in sorted((ROOT / package).rglob("*.py")):
            lines = path.read_text().splitlines()
            for node in ast.walk(ast.parse("\n".join(lines), filename=str(path))):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                reason = lines[first - 2].strip().startswith("# long:") if first >= 2 else False
                if length > MAX_LINES and not reason:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, "split these into named steps (or state why not with `# long: …`):\n" + "\n".join(long)
