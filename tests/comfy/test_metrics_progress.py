"""Video Metrics / A/B Compare in-process: the progress bar runs to its total, and ComfyUI's interrupt stops the
optical-flow loop (the API tier interrupts a real run: tests/api/test_metrics_hardening.py)."""
import contextlib

import pytest
import torch

from tests.support.node_calls import call_node, pack_module

pytestmark = pytest.mark.comfy


def video(frames, seed=0):
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(frames, 3, 8, 12, generator=g)
    return torch.nn.functional.interpolate(small, size=(32, 48), mode="bilinear").permute(0, 2, 3, 1).contiguous()


@contextlib.contextmanager
def progress_hook(hook):
    import comfy.utils

    old = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(hook)
    try:
        yield
    finally:
        comfy.utils.set_progress_bar_global_hook(old)


def test_progress_bars_reach_their_totals(comfy):
    metrics = pack_module("kernels.metrics")
    seen = []
    with progress_hook(lambda value, total, preview, **kw: seen.append((value, total))):
        call_node("ConsistI2VVideoMetrics", video=video(9), fps=6.0)
    total = metrics.step_count(9, 6.0)
    assert seen[0] == (0, total) and seen[-1] == (total, total)

    seen.clear()
    with progress_hook(lambda value, total, preview, **kw: seen.append((value, total))):
        call_node("ConsistI2VVideoCompare", video_a=video(9), video_b=video(7, 1), fps=6.0, label_a="a", label_b="b")
    total = metrics.step_count(9, 6.0) + metrics.step_count(7, 6.0) + 7  # + the frame-by-frame A/B similarity
    values = [v for v, _ in seen]
    assert {t for _, t in seen} == {total} and values == sorted(values) and values[-1] == total


@pytest.mark.parametrize("node, inputs", [
    ("ConsistI2VVideoMetrics", {}),
    ("ConsistI2VVideoCompare", {"video_b": "same", "label_a": "a", "label_b": "b"}),
])
def test_interrupt_stops_the_flow_loop(comfy, node, inputs):
    import comfy.model_management as mm

    seen = []

    def hook(value, total, preview, **kw):
        seen.append(value)
        if value == 3:  # the user presses Cancel while pair 3 is measured
            mm.interrupt_current_processing(True)

    v = video(30)
    args = {"video_a" if inputs else "video": v, "fps": 6.0,
            **{k: (v if val == "same" else val) for k, val in inputs.items()}}
    try:
        with progress_hook(hook), pytest.raises(mm.InterruptProcessingException):
            call_node(node, **args)
    finally:
        mm.interrupt_current_processing(False)
    assert max(seen) == 3  # stopped at the next pair, not after the whole video
