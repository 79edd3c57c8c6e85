"""No import circles among the modules of plugin/ and gpu_worker/ (issue 14): each concern depends one way."""

from __future__ import annotations

from tests.architecture.imports import cycles, import_graph


def test_the_import_graph_has_no_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import circles (break each by moving the shared piece down a layer):\n" + "\n".join(
        " ↔ ".join(c) for c in found
    )


def test_the_cycle_finder_sees_a_circle() -> None:
    # the finder itself: a three-module circle is reported once, a chain is not
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
