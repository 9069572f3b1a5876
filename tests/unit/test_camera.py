import pytest
import torch

from kernels import camera

pytestmark = pytest.mark.unit


def dot_image(h=64, w=96, y=32, x=40):
    img = torch.zeros(h, w, 3)
    img[y - 1:y + 1, x - 1:x + 1] = 1.0  # a 2x2 bright square centred on pixel corner (y, x)
    return img


def centroid(frame):
    m = frame[..., 0]
    ys, xs = torch.meshgrid(torch.arange(m.shape[0]), torch.arange(m.shape[1]), indexing="ij")
    return float((m * ys).sum() / m.sum()), float((m * xs).sum() / m.sum())


def test_zero_motion_is_the_input_every_frame():
    img = torch.rand(40, 56, 3, generator=torch.Generator().manual_seed(0))
    m = camera.path_matrices([camera.Move("pan", angle=0, distance=0.0)], 5)
    video = camera.render(img, m, 40, 56)
    assert video.shape == (5, 40, 56, 3)
    for frame in video:
        torch.testing.assert_close(frame, img, atol=1e-5, rtol=0)


@pytest.mark.parametrize("angle, dy, dx", [(0, 0, -1), (180, 0, 1), (90, 1, 0)])
def test_pan_moves_content_by_the_distance(angle, dy, dx):
    h, w, k = 64, 96, 12  # pan of 12 pixels along the axis
    distance = k / (w if dx else h)
    m = camera.path_matrices([camera.Move("pan", angle=angle, distance=distance)], 4)
    video = camera.render(dot_image(h, w), m, h, w, border="replicate", supersample=1)
    y0, x0 = centroid(video[0])
    y1, x1 = centroid(video[-1])
    assert (y1 - y0, x1 - x0) == (pytest.approx(dy * k, abs=0.05), pytest.approx(dx * k, abs=0.05))


@pytest.mark.parametrize("easing", camera.EASINGS)
def test_zoom_scale_follows_the_easing_curve(easing):
    frames, scale = 7, 2.0
    m = camera.path_matrices([camera.Move("zoom", scale=scale, easing=easing)], frames)
    p = camera.progress(frames)
    expected = scale ** camera.ease(p, easing)
    magnification = 1 / m[:, 0, 0]
    torch.testing.assert_close(magnification, expected, atol=1e-12, rtol=0)
    assert float(magnification[0]) == 1.0 and float(magnification[-1]) == pytest.approx(scale)


def test_zoom_in_magnifies_about_the_centre():
    h, w = 64, 64
    m = camera.path_matrices([camera.Move("zoom", scale=2.0)], 3)
    video = camera.render(dot_image(h, w, y=24, x=24), m, h, w, supersample=1)
    y0, x0 = centroid(video[0])
    y1, x1 = centroid(video[-1])
    c = 31.5  # the frame centre in pixel-index units (pixel centres at i + 0.5)
    assert (y1 - c, x1 - c) == (pytest.approx(2 * (y0 - c), abs=0.1), pytest.approx(2 * (x0 - c), abs=0.1))


def test_homography_maps_the_keypoints_exactly_at_the_end():
    corners = ((-0.8, -0.9), (0.9, -0.7), (0.7, 0.8), (-0.9, 0.95))
    m = camera.path_matrices([camera.Move("perspective", corners=corners)], 5)
    quads = camera.view_quads(m)
    torch.testing.assert_close(quads[-1], torch.tensor(corners, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(quads[0], camera.CORNERS, atol=1e-12, rtol=0)


@pytest.mark.parametrize("move", [camera.Move("zoom", scale=0.5), camera.Move("roll", angle=30.0),
                                  camera.Move("pan", angle=45, distance=0.5)])
def test_zoom_out_roll_and_pans_fill_borders_on_non_square_frames(move):
    img = torch.full((48, 80, 3), 0.5) + 0.4 * torch.rand(48, 80, 3, generator=torch.Generator().manual_seed(1))
    video = camera.render(img, camera.path_matrices([move], 4), 36, 100)
    assert video.shape == (4, 36, 100, 3)
    assert float(video.min()) >= 0.5 - 1e-4  # reflect/replicate: no black borders


def test_keyframed_moves_compose_in_order():
    moves = [camera.Move("pan", angle=0, distance=0.25, start=0.0, end=0.5),
             camera.Move("zoom", scale=1.5, start=0.5, end=1.0)]
    m = camera.path_matrices(moves, 5)
    assert float(m[2, 0, 2]) == pytest.approx(0.5) and float(m[2, 0, 0]) == pytest.approx(1.0)  # pan done
    assert float(m[4, 0, 0]) == pytest.approx(1 / 1.5)  # then the zoom


def test_compat_progress_is_i_over_n():
    assert camera.progress(4, compat=True).tolist() == [0, 0.25, 0.5, 0.75]


@pytest.mark.parametrize("motion", ["pan_right", "pan_left", "zoom_in"])
def test_official_crops_match_torchvision_transforms(motion):
    """The official recipe, re-stated with torchvision's own transforms (Resize(short side) on a tensor, crop)."""
    tvf = pytest.importorskip("torchvision.transforms.functional")
    img = torch.rand(60, 130, 3, generator=torch.Generator().manual_seed(2))
    chw, frames, size = img.permute(2, 0, 1), 5, 32
    ours = camera.official_crops(img, frames, motion, size, size)
    big = tvf.resize(chw, 2 * size if motion == "zoom_in" else size, antialias=False)
    h, w = big.shape[-2:]
    for i in range(frames):
        if motion == "zoom_in":
            m = min(h, w)
            c = m - int((m - m // 1.5) * (i / frames))
            ref = tvf.resize(tvf.crop(big, (h - c) // 2, (w - c) // 2, c, c), [size, size], antialias=False)
        else:
            frac = i / frames if motion == "pan_right" else 1 - i / frames
            ref = tvf.crop(big, 0, int((w - size) * frac), size, size)
        torch.testing.assert_close(ours[i].permute(2, 0, 1), ref, atol=1e-5, rtol=0)


def test_official_zoom_needs_square_frames():
    with pytest.raises(ValueError, match="only defined for square"):
        camera.official_crops(torch.rand(64, 64, 3), 3, "zoom_in", 32, 48)


@pytest.mark.parametrize("move, words", [
    (camera.Move("zoom", scale=20.0), "zoom scale 20.0 is outside"),
    (camera.Move("perspective", corners=((-1, -1), (0, 0), (1, 1), (-1, 1))), "degenerate"),
    (camera.Move("perspective", corners=((-9, -1), (1, -1), (1, 1), (-1, 1))), "far outside"),
    (camera.Move("pan", start=0.6, end=0.4), "need 0 <= start < end <= 1"),
    (camera.Move("spin"), "camera move 'spin' is unknown"),
    (camera.Move("pan", easing="bounce"), "easing 'bounce' is unknown"),
])
def test_bad_moves_are_explained(move, words):
    with pytest.raises(ValueError) as err:
        camera.path_matrices([move], 4)
    assert words in str(err.value)


def test_one_frame_is_refused():
    with pytest.raises(ValueError, match="at least 2 frames"):
        camera.path_matrices([camera.Move("pan")], 1)


def test_zoom_out_is_anti_aliased():
    """A 1-pixel checkerboard seen ~2.7x smaller must average to grey, not alias into a pattern."""
    y, x = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    board = ((x + y) % 2).float()[..., None].expand(64, 64, 3).contiguous()
    m = camera.path_matrices([camera.Move("zoom", scale=0.37)], 2)
    smooth = camera.render(board, m, 64, 64)[-1]
    aliased = camera.render(board, m, 64, 64, supersample=1)[-1]
    assert float((smooth - 0.5).abs().mean()) < 0.03 < 0.1 < float((aliased - 0.5).abs().mean())
