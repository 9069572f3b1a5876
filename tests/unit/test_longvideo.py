"""The autoregressive long-video loop (kernels/longvideo.py) with stub chunk samplers."""
import pytest
import torch

from kernels import longvideo as lv

pytestmark = pytest.mark.unit


class Recorder:
    """A stub sampler: chunk k's frame j is filled with 100k + j (+ the condition's mean, to see chaining)."""

    def __init__(self, shape, frame_axis, device="cpu"):
        self.shape, self.axis, self.device = shape, frame_axis, device
        self.conditions = []
        self.outputs = []

    def __call__(self, k, condition):
        self.conditions.append(condition.clone())
        t = self.shape[self.axis]
        view = [1] * len(self.shape)
        view[self.axis] = t
        values = (100.0 * k + torch.arange(t, dtype=torch.float32)).reshape(view)
        out = (values + 0.001 * condition.mean()).expand(self.shape).clone().to(self.device)
        self.outputs.append(out.cpu().clone())
        return out


@pytest.mark.parametrize("chunks, t, overlap", [(1, 4, 1), (3, 16, 1), (3, 4, 0), (4, 5, 2), (2, 2, 1)])
def test_frame_count_order_and_overlap_dropping_4d(chunks, t, overlap):
    rec = Recorder((t, 4, 3, 3), 0)
    first = torch.randn(1, 4, 3, 3)
    video = lv.autoregressive_video(rec, first, chunks, overlap, frame_axis=0)
    assert video.shape == (lv.total_frames(chunks, t, overlap), 4, 3, 3)
    expected = torch.cat([rec.outputs[0]] + [o[overlap:] for o in rec.outputs[1:]], dim=0)
    assert torch.equal(video, expected)
    assert len(rec.conditions) == chunks


def test_official_length_46():
    assert lv.total_frames(3, 16, 1) == 46
    video = lv.autoregressive_video(Recorder((16, 4, 2, 2), 0), torch.zeros(1, 4, 2, 2), 3, 1, 0)
    assert video.shape[0] == 46


def test_each_chunk_is_conditioned_on_the_previous_last_frame_5d():
    rec = Recorder((1, 2, 6, 3, 3), 2)
    first = torch.randn(1, 2, 1, 3, 3)
    video = lv.autoregressive_video(rec, first, 3, 1, frame_axis=2)
    assert video.shape == (1, 2, 16, 3, 3)
    assert torch.equal(rec.conditions[0], first)
    for k in (1, 2):
        assert rec.conditions[k].shape == (1, 2, 1, 3, 3)
        assert torch.equal(rec.conditions[k], rec.outputs[k - 1][:, :, -1:])
    # the condition of chunk k is the frame just before chunk k's kept frames in the joined video
    assert torch.equal(video[:, :, 5:6], rec.conditions[1]) and torch.equal(video[:, :, 10:11], rec.conditions[2])


def test_progress_called_once_per_chunk_in_order():
    calls = []
    lv.autoregressive_video(Recorder((3, 4, 2, 2), 0), torch.zeros(1, 4, 2, 2), 4, 1, 0, progress=calls.append)
    assert calls == [0, 1, 2, 3]


def test_condition_is_a_copy_and_result_on_cpu():
    """The condition does not alias the chunk, and the joined result is a CPU tensor."""
    seen = []

    def sample(k, condition):
        seen.append(condition)
        return torch.full((3, 4, 2, 2), float(k))

    video = lv.autoregressive_video(sample, torch.zeros(1, 4, 2, 2), 3, 1, 0)
    assert video.device.type == "cpu"
    seen[1].add_(1000)  # mutating a condition must not touch the stored video
    assert float(video.max()) == 2.0


def test_only_one_chunk_is_held_besides_the_result():
    """Chunks are released after they are copied: no reference to any returned chunk survives the loop."""
    import weakref

    refs = []

    def sample(k, condition):
        out = torch.randn(4, 4, 8, 8)
        refs.append(weakref.ref(out))
        if k > 0:  # by the time chunk k is sampled, chunk k-2 and older are gone
            assert all(r() is None for r in refs[:-2])
        return out

    lv.autoregressive_video(sample, torch.zeros(1, 4, 8, 8), 5, 1, 0)
    assert all(r() is None for r in refs)


def test_anchor_matches_channel_statistics_to_the_first_frame():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 4, 8, 8, generator=g)

    def sample(k, condition):  # later chunks drift: brighter and lower contrast per channel
        return base * (1.0 / (1 + k)) + 3.0 * k + torch.arange(4.0).reshape(1, 4, 1, 1) * k

    plain = lv.autoregressive_video(sample, torch.zeros(1, 4, 8, 8), 3, 1, 0)
    anchored = lv.autoregressive_video(sample, torch.zeros(1, 4, 8, 8), 3, 1, 0, anchor=True)
    ref = base[:1].double()
    ref_mean, ref_std = ref.mean(dim=(0, 2, 3)), ref.std(dim=(0, 2, 3), unbiased=False)
    assert torch.equal(anchored[:6], plain[:6])  # the first chunk is the reference and is left alone
    for lo, hi in ((6, 11), (11, 16)):
        # each stored part (the full chunk minus its overlap frame) is the anchored chunk's tail
        part = anchored[lo:hi].double()
        assert not torch.allclose(plain[lo:hi].double().mean(dim=(0, 2, 3)), ref_mean, atol=0.5)
        # the whole anchored chunk has the reference stats; its kept frames are an affine map of the raw ones
        raw = plain[lo:hi].double()
        scale = (part[1] - part[0]) / (raw[1] - raw[0])
        assert torch.allclose(scale.mean(dim=(1, 2)), scale[:, 0, 0], atol=1e-6)
    chunk = lv.anchor_colour(sample(2, None), base[:1])
    torch.testing.assert_close(chunk.double().mean(dim=(0, 2, 3)), ref_mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(chunk.double().std(dim=(0, 2, 3), unbiased=False), ref_std, atol=1e-5, rtol=1e-5)


def test_anchored_chunk_conditions_the_next():
    rec = Recorder((4, 4, 3, 3), 0)
    video = lv.autoregressive_video(rec, torch.randn(1, 4, 3, 3), 3, 1, 0, anchor=True)
    assert torch.equal(rec.conditions[2], video[6:7])
    assert not torch.equal(rec.conditions[2], rec.outputs[1][-1:])


def test_anchor_constant_channel_is_only_shifted():
    chunk = torch.ones(3, 2, 4, 4)
    ref = torch.randn(1, 2, 4, 4)
    out = lv.anchor_colour(chunk, ref)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), ref.mean(dim=(0, 2, 3)))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("chunks, overlap, match", [(0, 1, "chunks is 0"), (-2, 0, "chunks is -2"),
                                                    (2, -1, "overlap is -1"), (2, 4, "overlap is 4"),
                                                    (2, 5, "smaller than the chunk length")])
def test_bad_chunking_is_rejected(chunks, overlap, match):
    called = []

    def sample(k, condition):
        called.append(k)
        return torch.zeros(4, 4, 2, 2)

    with pytest.raises(ValueError, match=match):
        lv.autoregressive_video(sample, torch.zeros(1, 4, 2, 2), chunks, overlap, 0)
    assert called in ([], [0])  # overlap vs length is only known after the first chunk
    if chunks >= 1 and overlap >= 0:
        with pytest.raises(ValueError, match="lower overlap"):
            lv.check_chunking(chunks, overlap, 4)


def test_chunks_of_different_shapes_are_rejected():
    def sample(k, condition):
        return torch.zeros(4 + k, 4, 2, 2)

    with pytest.raises(ValueError, match="chunk 1 has shape"):
        lv.autoregressive_video(sample, torch.zeros(1, 4, 2, 2), 2, 1, 0)


def test_layout_slices_cover_the_long_layout():
    layout = torch.arange(10.0).reshape(10, 1, 1, 1).expand(10, 2, 2, 2)
    lv.check_long_layout(layout, 3, 4, 1, 0)
    assert [lv.layout_slice(layout, k, 4, 1, 0)[:, 0, 0, 0].tolist() for k in range(3)] == [
        [0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    with pytest.raises(ValueError, match="camera_layout has 10 frame.*make 13"):
        lv.check_long_layout(layout, 4, 4, 1, 0)
