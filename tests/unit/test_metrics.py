"""Video metrics on synthetic videos with known motion (DIS flow, camera fit, flicker, SSIM/PSNR)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kernels import camera, metrics

pytestmark = pytest.mark.unit


def texture(h, w, seed=0):
    """Multi-scale smooth random RGB texture: DIS needs detail in every direction (a linear gradient would
    leave the flow along its iso-lines undetermined)."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(1, 3, h, w)
    for s in (4, 8, 16, 32):
        n = torch.rand(1, 3, h // s + 2, w // s + 2, generator=g)
        out += F.interpolate(n, size=(h, w), mode="bicubic", align_corners=False) / 4
    return out[0].permute(1, 2, 0).clamp(0, 1).contiguous()


def crop_pan(k, frames=8, h=96, w=128, dy=0, seed=0):
    """Window sliding right by k px (and down by dy) per frame: content moves left by k, up by dy; exact."""
    big = texture(h + abs(dy) * frames + 8, w + k * frames + 8, seed)
    return torch.stack([big[4 + dy * i:4 + dy * i + h, 4 + k * i:4 + k * i + w] for i in range(frames)])


def rendered(moves, frames=8, h=96, w=128, seed=1):
    m = camera.path_matrices(moves, frames, aspect=w / h)
    return camera.render(texture(h, w, seed), m, h, w), m


@pytest.mark.parametrize("k", [1, 2, 4])
def test_k_pixel_pan_gives_motion_k_and_fitted_pan_k(k):
    video = crop_pan(k)
    m = metrics.measure(video)
    assert m.motion == pytest.approx(k, rel=0.02)
    tx, ty, s, r = m.camera.pairs.T
    np.testing.assert_allclose(tx, -k, atol=0.03 * k)  # content moves left by k px each frame
    np.testing.assert_allclose(ty, 0, atol=0.03)
    np.testing.assert_allclose(s, 0, atol=1e-3)
    np.testing.assert_allclose(r, 0, atol=1e-3)
    # in Camera Move's convention the camera moved right by k px per frame
    assert m.camera.pan_x[-1] * 128 == pytest.approx(k * 7, rel=0.02)
    assert m.camera.zoom[-1] == pytest.approx(1.0, abs=5e-3)


def test_vertical_pan_sign():
    video = crop_pan(0, dy=2)  # window slides down: content moves up, camera moves down
    m = metrics.measure(video)
    assert m.motion == pytest.approx(2, rel=0.02)
    np.testing.assert_allclose(m.camera.pairs[:, 1], -2, atol=0.06)
    assert m.camera.pan_y[-1] * 96 == pytest.approx(-14, rel=0.02)


def test_subpixel_pan_through_camera_path():
    video, _ = rendered([camera.Move("pan", angle=180, distance=1.5 * 7 / 128)])  # 1.5 px/frame, camera left
    m = metrics.measure(video)
    assert m.motion == pytest.approx(1.5, rel=0.03)
    np.testing.assert_allclose(m.camera.pairs[:, 0], 1.5, atol=0.05)


def test_static_video_scores_zero():
    video = texture(64, 80)[None].repeat(6, 1, 1, 1)
    m = metrics.measure(video)
    assert m.motion == pytest.approx(0, abs=1e-6)
    assert m.dynamic_degree == 0 and not m.dynamic
    assert m.flicker == 1.0 and m.flicker_2nd == 0.0
    np.testing.assert_allclose(m.ssim_frames, 1.0, atol=1e-6)
    np.testing.assert_allclose(m.psnr_frames, metrics.PSNR_CAP)
    assert m.camera.totals() == pytest.approx({"pan_x": 0, "pan_y": 0, "zoom": 1, "roll": 0}, abs=1e-6)


@pytest.mark.parametrize("factor", [1.03, 0.97])
def test_known_zoom_is_recovered_within_5_percent(factor):
    frames = 8
    video, _ = rendered([camera.Move("zoom", scale=factor ** (frames - 1))], frames, 128, 192)
    m = metrics.measure(video)
    s = m.camera.pairs[:, 2]
    np.testing.assert_allclose(s, factor - 1, rtol=0.05)  # per-frame zoom rate
    total = m.camera.zoom[-1]
    assert (total - 1) == pytest.approx(factor ** (frames - 1) - 1, rel=0.05)
    np.testing.assert_allclose(m.camera.pairs[:, :2], 0, atol=0.05)
    np.testing.assert_allclose(m.camera.roll, 0, atol=0.05)


def test_roll_sign_matches_camera_move():
    video, _ = rendered([camera.Move("roll", angle=10.5)], 8, 128, 192)  # 1.5 degrees per frame, CCW
    m = metrics.measure(video)
    assert m.camera.roll[-1] == pytest.approx(10.5, rel=0.03)
    assert m.camera.zoom[-1] == pytest.approx(1.0, abs=0.01)


def test_fitted_path_matches_the_requested_path():
    moves = [camera.Move("pan", angle=30, distance=0.15, easing="ease_in_out"),
             camera.Move("zoom", scale=1.25, start=0.4, center=(0.2, -0.1)), camera.Move("roll", angle=6)]
    video, path = rendered(moves, 10, 128, 192)
    m = metrics.measure(video, path_matrices=path)
    assert m.camera_error < 0.05  # px per frame
    assert m.camera_error_relative < 0.02
    for key, value in m.requested.totals().items():
        assert m.camera.totals()[key] == pytest.approx(value, abs=0.01 if key != "roll" else 0.1)
    # the same video checked against the opposite pan is far off
    wrong = camera.path_matrices([camera.Move("pan", angle=210, distance=0.15, easing="ease_in_out")], 10,
                                 aspect=192 / 128)
    assert metrics.measure(video, path_matrices=wrong).camera_error > 1.0


def test_requested_pairs_of_a_known_path():
    """The projection of a path onto pan/zoom/roll, without any video: 0.1 of the width over 5 frames."""
    path = camera.path_matrices([camera.Move("pan", angle=0, distance=0.1)], 5, aspect=2.0)
    req = metrics.requested_pairs(path, 64, 128)
    np.testing.assert_allclose(req[:, 0], -0.1 * 128 / 4, atol=1e-9)
    np.testing.assert_allclose(req[:, 1:], 0, atol=1e-9)
    track = metrics.CameraTrack.from_pairs(req, 64, 128)
    assert track.pan_x[-1] == pytest.approx(0.1)


def test_subject_motion_does_not_move_the_camera():
    """A patch moving on a static background: the robust fit keeps the camera still."""
    bg = texture(96, 128, 3)
    subject = texture(24, 24, 4) * 0.5 + 0.5
    frames = []
    for i in range(6):
        f = bg.clone()
        f[30:54, 20 + 6 * i:44 + 6 * i] = subject
        frames.append(f)
    m = metrics.measure(torch.stack(frames))
    assert m.motion > 0.1
    assert np.abs(m.camera.pairs[:, :2]).max() < 0.15
    assert abs(m.camera.zoom[-1] - 1) < 0.01


def test_flicker_of_alternating_brightness_matches_the_formula():
    lo, hi = torch.full((32, 32, 3), 0.4), torch.full((32, 32, 3), 0.6)
    video = torch.stack([lo, hi, lo, hi, lo])
    m = metrics.measure(video)
    mae = 153 - 102  # round(0.6·255) − round(0.4·255)
    np.testing.assert_allclose(m.flicker_pairs, mae)
    assert m.flicker == pytest.approx((255 - mae) / 255)
    assert m.flicker_2nd == pytest.approx(2 * mae)
    assert m.motion == pytest.approx(0, abs=1e-6)


def test_flicker_textured_matches_vbench_formula():
    video = texture(40, 48)[None].repeat(4, 1, 1, 1) * torch.tensor([1.0, 0.8, 1.0, 0.9]).view(4, 1, 1, 1)
    u8 = np.round(video.numpy() * 255).astype(np.int32)
    expected = (255 - np.mean([np.abs(u8[i + 1] - u8[i]).mean() for i in range(3)])) / 255
    assert metrics.measure(video).flicker == pytest.approx(expected, abs=1e-12)


def test_ssim_and_psnr():
    img = texture(48, 64)
    noisy = (img + 0.1 * torch.randn(img.shape, generator=torch.Generator().manual_seed(5))).clamp(0, 1)
    video = torch.stack([img, noisy, 1 - img])
    ssim = metrics.ssim_per_frame(video, img)
    assert ssim[0] == pytest.approx(1.0, abs=1e-6)
    assert 0.2 < ssim[1] < 0.95 and ssim[2] < 0  # inverted image: anti-correlated
    # symmetric in its two images
    assert metrics.ssim_per_frame(img[None], noisy)[0] == pytest.approx(float(ssim[1]), abs=1e-5)
    psnr = metrics.psnr_per_frame(video, img)
    mse = float(((noisy.double() - img.double()) ** 2).mean())
    assert psnr[0] == metrics.PSNR_CAP and psnr[1] == pytest.approx(10 * math.log10(1 / mse))


def test_reference_is_resized_to_the_video():
    img = texture(64, 96)
    video = img[None].repeat(3, 1, 1, 1)
    big = F.interpolate(img.permute(2, 0, 1)[None], size=(128, 192), mode="bilinear", align_corners=False)
    m = metrics.measure(video, big.permute(0, 2, 3, 1))
    assert m.reference_given and m.ssim > 0.95


def test_dynamic_degree_threshold_and_fps_stride():
    # 64 px short side: threshold 1.5 px per ~8 fps pair
    fast, slow = crop_pan(3, 9, 64, 80), crop_pan(1, 9, 64, 80)
    assert metrics.dynamic_threshold(64, 80) == 1.5
    fm, sm = metrics.measure(fast, fps=8), metrics.measure(slow, fps=8)
    assert fm.dynamic_degree == 1.0 and fm.dynamic
    assert sm.dynamic_degree == 0.0 and not sm.dynamic
    # at 24 fps VBench looks at every 3rd frame: the slow pan moves 3 px per sampled pair
    s24 = metrics.measure(slow, fps=24)
    assert s24.dynamic_stride == 3 and len(s24.top_pairs) == 2
    assert s24.dynamic_degree == 1.0 and s24.top_pairs == pytest.approx(3.0, rel=0.1)
    assert s24.motion == pytest.approx(1.0, rel=0.02)  # motion still uses consecutive frames


def test_frame_similarity_and_reports():
    a = crop_pan(2, 5, 48, 64)
    b = a.flip(0)
    ssim, psnr = metrics.frame_similarity(a, b)
    assert ssim.shape == (5,) and ssim[2] == pytest.approx(1.0, abs=1e-6) and ssim[0] < 0.9
    ma, mb = metrics.measure(a), metrics.measure(b)
    text = metrics.compare_report(ma, mb, ("base", "other"), float(ssim.mean()), float(psnr.mean()))
    assert "base" in text and "other" in text and "motion px/frame" in text
    rep = metrics.report(ma)
    assert "motion" in rep and len(rep.splitlines()) > 5 + 5


@pytest.mark.parametrize("video, words", [
    (torch.rand(1, 32, 32, 3), "at least 2"),
    (torch.rand(3, 32, 32, 4), "RGB"),
    (torch.rand(3, 32, 32, 1), "RGB"),
    (torch.rand(32, 32, 3), "IMAGE batch"),
    (torch.rand(3, 8, 32, 3), "at least 16x16"),
])
def test_bad_video_is_named(video, words):
    with pytest.raises(ValueError, match=words) as err:
        metrics.check_video(video, "video")
    assert "video" in str(err.value)


def test_bad_reference_and_fps():
    video = texture(32, 48)[None].repeat(2, 1, 1, 1)
    with pytest.raises(ValueError, match=r"reference is 32x32 .* \(another aspect ratio\)"):
        metrics.measure(video, torch.rand(1, 32, 32, 3))
    with pytest.raises(ValueError, match="reference has 4 channels"):
        metrics.measure(video, torch.rand(1, 32, 48, 4))
    with pytest.raises(ValueError, match="fps"):
        metrics.measure(video, fps=0)
    with pytest.raises(ValueError, match="camera path has 3 frames but the video has 2"):
        metrics.measure(video, path_matrices=camera.path_matrices([camera.Move("zoom", scale=1.2)], 3))
