"""Metrics kernels under bad input: NaN/inf videos refused, a progress callback that can stop the loops, labels
that cannot grow the table."""
import pytest
import torch

from kernels import metrics, metrics_plot


def video(frames=6, h=32, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(frames, 3, h // 4, w // 4, generator=g)
    return torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear").permute(0, 2, 3, 1).contiguous()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nonfinite_video_is_refused_with_its_count(value):
    v = video(frames=20)
    v[3, 0, :5] = value
    v[17, 4, 2, 1] = value
    with pytest.raises(ValueError, match=r"^clip contains 16 NaN/inf values \(in 2 of 20 frames\): the sampling "
                                         r"diverged .* perfect still video\. Fix the run"):
        metrics.check_video(v, "clip")
    with pytest.raises(ValueError, match="video contains 16 NaN/inf"):
        metrics.measure(v)


def test_huge_finite_values_are_not_taken_for_inf():
    v = video()
    v[:] = 3.0e38  # a float32 sum of these overflows; the check sums in float64
    assert metrics.nonfinite(v) == (0, 0)
    metrics.check_video(v)


def test_nonfinite_reference_is_refused():
    ref = video(frames=1)
    ref[0, 1, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="reference contains 1 NaN/inf values: connect the image"):
        metrics.measure(video(), ref)


@pytest.mark.parametrize("frames, fps", [(9, 6.0), (17, 24.0)])  # stride 1, stride 3 (second flow loop)
def test_progress_counts_every_step(frames, fps):
    seen = []
    metrics.measure(video(frames), fps=fps, progress=lambda done, total: seen.append((done, total)))
    total = metrics.step_count(frames, fps)
    assert {t for _, t in seen} == {total}
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[0] == 0 and done[-1] == total
    assert sorted(set(done)) == list(range(total + 1))  # every flow pair and SSIM chunk reported


def test_progress_can_stop_the_flow_loop():
    calls = []

    class Stop(Exception):
        pass

    def progress(done, total):
        calls.append(done)
        if done == 3:
            raise Stop

    with pytest.raises(Stop):
        metrics.measure(video(30), progress=progress)
    assert calls[-1] == 3 and max(calls) == 3


def test_labels_wrap_and_the_table_is_bounded():
    assert metrics_plot.wrap_label("ONE TWO THREE FOUR FIVE SIX") == ["ONE TWO THREE FOUR", "FIVE SIX"]
    lines = metrics_plot.wrap_label("X" * 100_000)
    assert lines == ["X" * 20] * 4 + ["X" * 17 + "..."]
    assert metrics_plot.legend_label("Y" * 30) == "Y" * 21 + "..."
    m = metrics.measure(video())
    short = metrics_plot.compare_figure(m, m, ("a", "b"), 1.0)
    huge = metrics_plot.compare_figure(m, m, ("a" * 100_000, "b " * 50_000), 1.0)
    assert huge.shape[1] == short.shape[1] == 720
    assert huge.shape[0] == short.shape[0] + 4 * 18  # five header lines at most


def test_compare_report_shortens_column_heads_only():
    m = metrics.measure(video())
    text = metrics.compare_report(m, m, ("a very long label for the baseline run", "b"), 1.0, 100.0)
    first, head = text.splitlines()[:2]
    assert "A = a very long label for the baseline run (6 frames)" in first
    assert head.split()[1] == "a" and "a very long label..." in head
