"""The numpy-only plots: font, lines, metric figure and A/B table."""
import numpy as np
import pytest
import torch

from kernels import camera, metrics, metrics_plot

pytestmark = pytest.mark.unit


def test_text_is_drawn_and_clipped():
    canvas = np.zeros((20, 40, 3), dtype=np.float32)
    metrics_plot.draw_text(canvas, 2, 2, "A1.%", (1, 0, 0), scale=2)
    assert canvas[..., 0].sum() > 10 and canvas[..., 1].sum() == 0
    metrics_plot.draw_text(canvas, 35, 15, "WIDE TEXT BEYOND", (0, 1, 0))  # clipped, no error
    assert metrics_plot.text_width("ABC", 2) == 24
    # every glyph is a 3x5 pattern
    for ch, rows in metrics_plot._GLYPHS.items():
        assert [len(r) for r in rows.split()] == [3] * 5, ch


def test_dashed_line_has_gaps():
    solid = np.zeros((10, 100, 3), dtype=np.float32)
    dashed = solid.copy()
    metrics_plot.draw_line(solid, 0, 5, 99, 5, (1, 1, 1), 1)
    metrics_plot.draw_line(dashed, 0, 5, 99, 5, (1, 1, 1), 1, dash=5)
    assert solid[5, :, 0].sum() == 100 and 40 <= dashed[5, :, 0].sum() <= 60


def test_metrics_figure_and_compare_figure():
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 16, generator=g), size=(48, 64), mode="bicubic",
                                          align_corners=False)[0].permute(1, 2, 0).clamp(0, 1)
    path = camera.path_matrices([camera.Move("zoom", scale=1.2)], 5, aspect=64 / 48)
    video = camera.render(img, path, 48, 64)
    m = metrics.measure(video, img[None], path_matrices=path)
    fig = metrics_plot.metrics_figure(m)
    assert fig.ndim == 3 and fig.shape[1] == 720 and fig.shape[0] > 4 * 150 and fig.dtype == np.float32
    assert 0 <= fig.min() and fig.max() <= 1
    pixels = np.unique(fig.reshape(-1, 3), axis=0)
    drawn = [name for name, c in metrics_plot.COLOURS.items()
             if (np.abs(pixels - np.asarray(c, dtype=np.float32)).max(axis=1) < 1e-6).any()]
    assert len(drawn) >= 4, drawn  # curves and legends in several colours
    still = metrics.measure(img[None].repeat(3, 1, 1, 1))  # constant curves draw too
    tab = metrics_plot.compare_figure(m, still, ("zoom", "still"), 0.5)
    assert tab.shape[1] >= 720 and 0 <= tab.min() and tab.max() <= 1


def test_fmt():
    assert metrics_plot.fmt(None) == "-" and metrics_plot.fmt(float("nan")) == "-"
    assert metrics_plot.fmt(0.00012, 3) == "0.000" and metrics_plot.fmt(-1.5, 2, sign=True) == "-1.50"
    assert metrics_plot.fmt(2.0, 1, sign=True) == "+2.0"
