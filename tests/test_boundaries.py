"""Boundaries between the top-level packages, checked on the source so that a broken one fails the suite.

- No module outside `tests/` imports `tests`: production code, the emulator, benchmarks and migrations must work
  from an installed package, where the test tree does not exist.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The packages named here must exist, so that a rename cannot silently shrink the scan; any other top-level
# directory with Python code is scanned too.
KNOWN_SOURCE_DIRS = ("plugin", "gpu_worker", "shopify_emulator", "bench", "migrations")
NOT_SOURCE = {"tests", "node_modules"}


def source_dirs() -> list[Path]:
    found = {
        d
        for d in ROOT.iterdir()
        if d.is_dir() and not d.name.startswith(".") and d.name not in NOT_SOURCE and next(d.rglob("*.py"), None)
    }
    return sorted(found | {ROOT / name for name in KNOWN_SOURCE_DIRS})


def is_test_tree(module: str) -> bool:
    return module == "tests" or module.startswith("tests.")


def imports_of_test_tree(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every absolute import of the test tree, static or through importlib/__import__."""
    hits: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            hits += [(node.lineno, alias.name) for alias in node.names if is_test_tree(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and is_test_tree(node.module):
            hits.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            target = node.args[0].value
            if name in ("import_module", "__import__") and isinstance(target, str) and is_test_tree(target):
                hits.append((node.lineno, target))
    return hits


@pytest.mark.parametrize("package", source_dirs(), ids=lambda d: d.name)
def test_no_module_outside_tests_imports_tests(package: Path) -> None:
    assert package.is_dir(), f"{package.name}/ is gone: update KNOWN_SOURCE_DIRS"
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted(package.rglob("*.py"))
        for line, module in imports_of_test_tree(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    ]
    assert not offenders, "production code must not depend on the test tree:\n" + "\n".join(offenders)
