"""Camera paths on non-square frames, border avoidance, zoom centre, framing and source prefiltering."""
import math

import pytest
import torch

from kernels import camera

pytestmark = pytest.mark.unit


def pixel_map(m, height, width):
    d = torch.diag(torch.tensor([width / 2, height / 2, 1.0], dtype=torch.float64))
    return d @ m @ torch.linalg.inv(d)


@pytest.mark.parametrize("degrees", [30.0, 90.0, -120.0])
def test_roll_is_rigid_in_pixels_on_non_square_frames(degrees):
    h, w = 36, 100
    m = camera.path_matrices([camera.Move("roll", angle=degrees)], 3, aspect=w / h)[-1]
    r = pixel_map(m, h, w)[:2, :2]
    t = math.radians(degrees)
    expected = torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]], dtype=torch.float64)
    torch.testing.assert_close(r, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("angle, along", [(0.0, "w"), (90.0, "h"), (45.0, None), (200.0, None)])
def test_pan_keeps_its_direction_in_pixels(angle, along):
    h, w, d = 36, 100, 0.2
    m = pixel_map(camera.path_matrices([camera.Move("pan", angle=angle, distance=d)], 2, aspect=w / h)[-1], h, w)
    dx, dy = float(m[0, 2]), float(m[1, 2])  # camera displacement in pixels (y down)
    a = math.radians(angle)
    assert math.atan2(-dy, dx) == pytest.approx(math.atan2(math.sin(a), math.cos(a)), abs=1e-12)
    if along:
        assert math.hypot(dx, dy) == pytest.approx(d * (w if along == "w" else h))


@pytest.mark.parametrize("move", [
    camera.Move("pan", angle=30.0, distance=0.4, avoid_borders=True),
    camera.Move("pan", angle=90.0, distance=1.0, avoid_borders=True),
    camera.Move("zoom", scale=0.5, avoid_borders=True, easing="ease_in_out"),
    camera.Move("zoom", scale=2.0, center=(0.8, -0.6), avoid_borders=True),
    camera.Move("roll", angle=35.0, avoid_borders=True),
    camera.Move("roll", angle=-170.0, avoid_borders=True),
])
@pytest.mark.parametrize("height, width", [(36, 100), (64, 64), (90, 40)])
def test_avoid_borders_keeps_every_view_inside_the_frame(move, height, width):
    quads = camera.view_quads(camera.path_matrices([move], 9, aspect=width / height))
    assert float(quads.abs().max()) <= 1 + 1e-9


def test_zoom_out_without_border_avoidance_shows_beyond_the_frame():
    quads = camera.view_quads(camera.path_matrices([camera.Move("zoom", scale=0.5)], 3))
    assert float(quads[0].abs().max()) == pytest.approx(1.0) and float(quads[-1].abs().max()) == pytest.approx(2.0)


def test_zoom_out_with_border_avoidance_starts_zoomed_in():
    m = camera.path_matrices([camera.Move("zoom", scale=0.5, avoid_borders=True)], 5)
    magnification = 1 / m[:, 0, 0]
    torch.testing.assert_close(magnification, 2.0 ** (1 - camera.progress(5)), atol=1e-12, rtol=0)


def test_zoom_keeps_its_centre_fixed():
    m = camera.path_matrices([camera.Move("zoom", scale=3.0, center=(0.5, -0.25))], 4)
    c = torch.tensor([0.5, -0.25, 1.0], dtype=torch.float64)
    for frame in m:
        q = frame @ c
        torch.testing.assert_close(q[:2] / q[2], c[:2], atol=1e-12, rtol=0)


def test_avoid_borders_render_shows_no_mirrored_content():
    img = torch.zeros(48, 80, 3)
    img[:, :, 0] = torch.linspace(0, 1, 80)  # horizontal ramp: a mirror would reverse it
    for move in [camera.Move("pan", angle=0, distance=0.3, avoid_borders=True),
                 camera.Move("zoom", scale=0.6, avoid_borders=True)]:
        video = camera.render(img, camera.path_matrices([move], 5, aspect=80 / 48), 48, 80, supersample=1)
        assert bool((video[:, :, 1:, 0] >= video[:, :, :-1, 0] - 1e-6).all())


def test_framing_is_the_centred_cover_crop():
    src = torch.rand(64, 128, 3, generator=torch.Generator().manual_seed(3))
    b = camera.framing(64, 128, 32, 32)
    frame = camera.render(src, b[None], 32, 32, supersample=2)[0]  # 2x2 samples land on source pixel centres
    crop = src[:, 32:96]
    expected = torch.nn.functional.avg_pool2d(crop.permute(2, 0, 1)[None], 2)[0].permute(1, 2, 0)
    torch.testing.assert_close(frame, expected, atol=1e-5, rtol=0)


def test_source_scale_keeps_one_texel_per_pixel_at_the_closest_view():
    b = camera.framing(400, 400, 100, 100)
    m = b @ camera.path_matrices([camera.Move("zoom", scale=2.0)], 3)
    assert camera.source_scale(m, 400, 400, 100, 100) == pytest.approx(0.5)
    assert camera.source_scale(b @ camera.path_matrices([camera.Move("zoom", scale=8.0)], 3), 400, 400, 100,
                               100) == 1.0


@pytest.mark.parametrize("corners", [
    ((1, -1), (-1, -1), (-1, 1), (1, 1)),  # mirrored
    ((-1, -1), (1, 1), (1, -1), (-1, 1)),  # crossed
    ((-1, -1), (1, -1), (-0.5, -0.5), (-1, 1)),  # folded (not convex)
])
def test_unreachable_perspective_targets_are_explained(corners):
    with pytest.raises(ValueError, match="convex quad in the order top-left"):
        camera.path_matrices([camera.Move("perspective", corners=corners)], 4)


def test_bad_zoom_centre_and_aspect_are_explained():
    with pytest.raises(ValueError, match="zoom centre"):
        camera.path_matrices([camera.Move("zoom", scale=2.0, center=(2.0, 0.0))], 4)
    with pytest.raises(ValueError, match="aspect"):
        camera.path_matrices([camera.Move("zoom", scale=2.0)], 4, aspect=0.0)
