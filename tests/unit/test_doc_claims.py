"""Claims that live in prose (README, tooltips, workflow notes) and that tests elsewhere cannot see."""
import re

from scripts.comfy_locate import PACK_ROOT

README = (PACK_ROOT / "README.md").read_text(encoding="utf-8")


def test_dynamicrafter_frame_stride_direction_per_model():
    """DynamiCrafter 512/1024 condition on an fps (official scripts/run.sh: smaller value -> larger motion), the 256
    model on a frame stride (larger value -> larger motion): every place that gives a direction says so."""
    tooltip = (PACK_ROOT / "nodes" / "dynamicrafter.py").read_text(encoding="utf-8")
    notes = (PACK_ROOT / "scripts" / "build_workflows.py").read_text(encoding="utf-8")
    assert "LOWER = more motion" in tooltip and "256: the frame stride" in tooltip and "HIGHER = more motion" in tooltip
    assert "**lower = more motion**" in README and "**higher = more motion**" in README
    assert "LOWER = more motion per frame" in notes
    for text in (tooltip, README, notes):
        # the old, wrong sentence: "frame_stride ... higher = more motion" said of the 512/1024 models
        assert not re.search(r"24 (at|for) 512 and 1024; higher = more motion", text)
        assert "*frame_stride* higher = more motion" not in text


def test_readme_says_what_works_today_and_official_grid_failure():
    assert "What works today" in README and "Not there yet" in README
    assert "more motion on any image-to-video model" not in README
    assert "3,389" in README and "timestep −1" in README
