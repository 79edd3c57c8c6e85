"""The pose editor in a real browser: drag a joint, keep bone lengths plausible, keyboard moves, save a custom
pose set, and the saved skeleton round-trips (reloading the editor shows the moved joint where it was left)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.e2e.browser.conftest import screenshot

pytestmark = pytest.mark.browser

L_SHOULDER, L_ELBOW, L_WRIST = 11, 13, 15


def handle(page: Any, joint: int) -> Any:
    return page.locator(f'.ps-editor-handle[data-joint="{joint}"]')


def joint_xy(page: Any, joint: int) -> tuple[float, float]:
    el = handle(page, joint)
    return float(el.get_attribute("cx")), float(el.get_attribute("cy"))


def drag(page: Any, joint: int, dx: float, dy: float) -> None:
    box = handle(page, joint).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for k in range(1, 6):  # several moves, as a hand would make
        page.mouse.move(x + dx * k / 5, y + dy * k / 5)
    page.mouse.up()


def test_drag_joint_save_set_and_reload_shows_it(open_page: Any, live_server: str) -> None:
    page = open_page("/pose-sets/editor")
    page.wait_for_selector(".ps-editor-handle")
    page.get_by_label("Set name").fill("Lookbook poses")

    before = joint_xy(page, L_ELBOW)
    wrist_before = joint_xy(page, L_WRIST)
    drag(page, L_ELBOW, 40, -25)
    after = joint_xy(page, L_ELBOW)
    assert after != before
    # the forearm moved along with the elbow (the wrist keeps its place relative to the elbow)
    wrist_after = joint_xy(page, L_WRIST)
    assert wrist_after[0] - wrist_before[0] == pytest.approx(after[0] - before[0], abs=0.01)

    screenshot(page, "pose-editor")
    page.locator("#editor-save").click()
    page.wait_for_selector("[data-state=success]")
    assert "Lookbook poses" in page.locator("#editor-result").inner_text()

    set_id = page.evaluate("""async () => {
        const r = await fetch('/api/pose-sets'); const d = await r.json();
        return d.pose_sets.find((s) => s.name === 'Lookbook poses').id; }""")
    saved = page.evaluate(
        f"""async () => (await (await fetch('/api/pose-sets/{set_id}/poses')).json()).poses[0].skeleton"""
    )
    frame = (saved["width"], saved["height"])
    saved_elbow = saved["landmarks"][L_ELBOW]
    assert saved_elbow[0] * frame[0] == pytest.approx(after[0], abs=1.0)
    assert saved_elbow[1] * frame[1] == pytest.approx(after[1], abs=1.0)

    page = open_page("/pose-sets/editor", set=set_id)
    page.wait_for_selector(".ps-editor-handle")
    assert page.get_by_label("Set name").input_value() == "Lookbook poses"
    reloaded = joint_xy(page, L_ELBOW)
    assert reloaded[0] == pytest.approx(after[0], abs=1.0)
    assert reloaded[1] == pytest.approx(after[1], abs=1.0)
    assert page.js_errors == []


def test_bone_length_stays_plausible_when_dragged_far(open_page: Any) -> None:
    page = open_page("/pose-sets/editor")
    page.wait_for_selector(".ps-editor-handle")
    sx, sy = joint_xy(page, L_SHOULDER)
    ex, ey = joint_xy(page, L_ELBOW)
    upper_arm = math.hypot(ex - sx, ey - sy)
    drag(page, L_ELBOW, 400, 300)  # far beyond any arm
    ex2, ey2 = joint_xy(page, L_ELBOW)
    assert math.hypot(ex2 - sx, ey2 - sy) <= 1.25 * upper_arm + 0.5


def test_keyboard_moves_the_focused_joint(open_page: Any) -> None:
    page = open_page("/pose-sets/editor")
    page.wait_for_selector(".ps-editor-handle")
    handle(page, L_WRIST).focus()
    assert "left wrist" in page.locator("#editor-selected").inner_text().lower()
    x, y = joint_xy(page, L_WRIST)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Shift+ArrowUp")
    x2, y2 = joint_xy(page, L_WRIST)
    assert x2 < x and y2 < y
    # screen readers hear where the joint is
    label = handle(page, L_WRIST).get_attribute("aria-label")
    assert label.startswith("left wrist") and "% across" in label
    page.keyboard.press("h")
    assert "hidden" in handle(page, L_WRIST).get_attribute("aria-label")
