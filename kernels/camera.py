"""Training-free camera layouts: one image rendered along a camera path (ConsistI2V spec §5).

Geometry works in normalised coordinates, x and y in [-1, 1] over the output frame (pixel centres, as
``grid_sample(align_corners=False)``). Every move gives, per frame, a 3x3 homography mapping *output*
coordinates to *source* coordinates (inverse mapping); moves compose by matrix product, in order.
Rendering samples the source bilinearly, supersampling when the view shrinks the source (anti-aliasing),
and fills outside the source by a border rule: ``reflect`` (default) or ``replicate``. Never zeros.

Conventions: a pan of angle 0 moves the camera right (content moves left), 90 moves it up; the direction is
kept in pixels on any aspect ratio, and the distance is a fraction of the frame along that direction (of the
width at 0/180 degrees, of the height at 90/270). Zoom scale s > 1 magnifies (camera moves in). Roll is a
rigid rotation in pixels (the frame's aspect ``width / height`` enters through ``path_matrices``).

``avoid_borders`` keeps every view inside the frame so borders are never needed: a pan is pre-scaled by
1 + distance and runs centred (from -d/2 to +d/2 of the view); a zoom-out starts zoomed in by 1/scale and
ends at the full frame; a roll is scaled per frame by |cos θ| + |sin θ|·max(W/H, H/W). A zoom-in always stays
inside. Perspective moves are left as given (borders follow the border rule).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .memory import check_fits

EASINGS = ("linear", "ease_in", "ease_out", "ease_in_out")
BORDERS = ("reflect", "replicate")
ZOOM_RANGE = (1 / 8, 8.0)


def ease(p: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "linear":
        return p
    if kind == "ease_in":
        return p * p
    if kind == "ease_out":
        return 1 - (1 - p) ** 2
    if kind == "ease_in_out":
        return p * p * (3 - 2 * p)
    raise ValueError(f"easing '{kind}' is unknown: use one of {', '.join(EASINGS)}")


def progress(frames: int, compat: bool = False) -> torch.Tensor:
    """p_i = i/(N-1) (the path reaches its end on the last frame); compat: the official i/N."""
    if frames < 2:
        raise ValueError(f"frames = {frames}: a camera layout needs at least 2 frames")
    i = torch.arange(frames, dtype=torch.float64)
    return i / frames if compat else i / (frames - 1)


def _translate(dx, dy):
    m = torch.eye(3, dtype=torch.float64).repeat(len(dx), 1, 1)
    m[:, 0, 2], m[:, 1, 2] = dx, dy
    return m


def _scale(s):
    m = torch.eye(3, dtype=torch.float64).repeat(len(s), 1, 1)
    m[:, 0, 0], m[:, 1, 1] = s, s
    return m


def homography(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """3x3 H with H·src_k ~ dst_k for 4 point pairs (8x8 DLT, h33 = 1), float64."""
    src, dst = src.double(), dst.double()
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src.tolist(), dst.tolist()):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    a = torch.tensor(rows, dtype=torch.float64)
    if abs(float(torch.linalg.det(a))) < 1e-12:
        raise ValueError("the 4 keypoints are degenerate (3 of them on a line): move them apart")
    h = torch.linalg.solve(a, torch.tensor(rhs, dtype=torch.float64))
    return torch.cat([h, torch.ones(1, dtype=torch.float64)]).reshape(3, 3)


CORNERS = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)


def _check_quad(corners: torch.Tensor) -> None:
    if corners.shape != (4, 2) or not torch.isfinite(corners).all():
        raise ValueError("perspective needs 4 (x, y) keypoints")
    if corners.abs().max() > 3:
        raise ValueError("a perspective keypoint lies far outside the image (|x| or |y| > 3 frame half-widths): "
                         "keep keypoints within about the frame")
    for i in range(4):  # no three points on a line
        p = [corners[j] for j in range(4) if j != i]
        area = (p[1][0] - p[0][0]) * (p[2][1] - p[0][1]) - (p[1][1] - p[0][1]) * (p[2][0] - p[0][0])
        if abs(float(area)) < 1e-6:
            raise ValueError("the 4 keypoints are degenerate (3 of them on a line): move them apart")
    edges = corners.roll(-1, 0) - corners
    turns = edges[:, 0] * edges.roll(-1, 0)[:, 1] - edges[:, 1] * edges.roll(-1, 0)[:, 0]
    if not bool((turns > 0).all()):
        raise ValueError("the 4 keypoints must form a convex quad in the order top-left, top-right, bottom-right, "
                         "bottom-left (crossed, folded or mirrored corners cannot be reached smoothly)")


def _flat(value) -> list[float]:
    return [x for v in value for x in _flat(v)] if isinstance(value, (tuple, list)) else [float(value)]


@dataclass(frozen=True)
class Move:
    """One camera move over the [start, end] fraction of the clip.

    kind: pan (angle deg, distance), zoom (scale: end magnification from 1), roll (angle deg),
    perspective (corners: where the 4 frame corners of the view move to, normalised, in order
    top-left, top-right, bottom-right, bottom-left).
    """
    kind: str
    angle: float = 0.0
    distance: float = 0.0
    scale: float = 1.0
    corners: tuple = ()
    start: float = 0.0
    end: float = 1.0
    easing: str = "linear"
    avoid_borders: bool = False
    center: tuple = (0.0, 0.0)

    def check(self) -> None:
        if self.kind not in ("pan", "zoom", "roll", "perspective"):
            raise ValueError(f"camera move '{self.kind}' is unknown: use pan, zoom, roll or perspective")
        ease(torch.zeros(1), self.easing)
        values = {"angle": self.angle, "distance": self.distance, "scale": self.scale, "start": self.start,
                  "end": self.end, "center": self.center, "corners": self.corners}
        for name, value in values.items():
            if not all(math.isfinite(v) for v in _flat(value)):
                raise ValueError(f"camera move {name} {value} is not a finite number: give a number")
        if not (0.0 <= self.start < self.end <= 1.0):
            raise ValueError(f"move span start={self.start}, end={self.end}: need 0 <= start < end <= 1")
        if self.kind == "zoom" and not (ZOOM_RANGE[0] <= self.scale <= ZOOM_RANGE[1]):
            raise ValueError(f"zoom scale {self.scale} is outside [{ZOOM_RANGE[0]}, {ZOOM_RANGE[1]}]: "
                             "use e.g. 1.5 to zoom in, 0.67 to zoom out")
        if self.kind == "pan" and not (0.0 <= self.distance <= 2.0):
            raise ValueError(f"pan distance {self.distance} is outside [0, 2] frames")
        if len(self.center) != 2 or not all(-1.0 <= float(c) <= 1.0 for c in self.center):
            raise ValueError(f"zoom centre {self.center} must be (x, y) inside the frame, each in -1..1")
        if self.kind == "perspective":
            _check_quad(torch.tensor(self.corners, dtype=torch.float64).reshape(-1, 2))

    def matrices(self, p: torch.Tensor, aspect: float = 1.0) -> torch.Tensor:
        """Output->source homographies at global progress ``p`` (shape [N]) for frames of aspect W/H."""
        local = ease(((p - self.start) / (self.end - self.start)).clamp(0, 1), self.easing)
        if self.kind == "pan":
            a = math.radians(self.angle)
            c, s = math.cos(a), math.sin(a)
            norm = math.hypot(c, aspect * s)  # keeps the direction in pixels: d of the width at 0, height at 90
            tx, ty = 2 * self.distance * c / norm, -2 * self.distance * s * aspect / norm
            if not self.avoid_borders:
                return _translate(local * tx, local * ty)
            return _scale(torch.full_like(p, 1 / (1 + self.distance))) @ _translate((local - 0.5) * tx,
                                                                                    (local - 0.5) * ty)
        if self.kind == "zoom":
            if self.avoid_borders and self.scale < 1:  # zoom-out: start zoomed in by 1/scale, end on the frame
                factor = self.scale ** (1 - local)
            else:
                factor = self.scale ** -local  # geometric interpolation of the magnification
            cx, cy = (float(v) for v in self.center)
            return _translate(torch.full_like(p, cx), torch.full_like(p, cy)) @ _scale(factor) @ _translate(
                torch.full_like(p, -cx), torch.full_like(p, -cy))
        if self.kind == "roll":
            t = torch.deg2rad(local * self.angle)
            m = torch.eye(3, dtype=torch.float64).repeat(len(p), 1, 1)
            m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = t.cos(), -t.sin() / aspect, t.sin() * aspect, t.cos()
            if self.avoid_borders:
                m = m @ _scale(1 / (t.cos().abs() + t.sin().abs() * max(aspect, 1 / aspect)))
            return m
        target = torch.tensor(self.corners, dtype=torch.float64).reshape(4, 2)
        out = []
        for w in local.tolist():  # interpolate corners, not matrices
            out.append(homography(CORNERS, CORNERS + w * (target - CORNERS)))
        return torch.stack(out)


def path_matrices(moves: list[Move], frames: int, compat: bool = False, aspect: float = 1.0) -> torch.Tensor:
    """Per-frame output->source homographies of the composed moves, [frames, 3, 3] float64.

    ``aspect`` is the output frame's width / height: pans keep their direction and rolls stay rigid in pixels.
    """
    if not aspect > 0:
        raise ValueError(f"aspect {aspect} must be positive (width / height)")
    p = progress(frames, compat)
    m = torch.eye(3, dtype=torch.float64).repeat(frames, 1, 1)
    for move in moves:
        move.check()
        m = m @ move.matrices(p, aspect)
    return m


def framing(src_height: int, src_width: int, height: int, width: int) -> torch.Tensor:
    """Output->source matrix of the centred cover crop: frame 0 shows the image at the output's aspect."""
    s = max(height / src_height, width / src_width)
    return torch.diag(torch.tensor([width / s / src_width, height / s / src_height, 1.0], dtype=torch.float64))


def source_scale(matrices: torch.Tensor, src_height: int, src_width: int, height: int, width: int) -> float:
    """How far (<= 1) the source can be shrunk before rendering and still give the most magnified view of
    ``matrices`` (output -> source, framing included) at least one source pixel per output pixel."""
    quads = view_quads(matrices)
    x, y = quads[..., 0], quads[..., 1]
    area = 0.5 * (x * y.roll(-1, 1) - x.roll(-1, 1) * y).sum(1).abs()  # source-normalised; the full source is 4
    smallest = max(float(area.min()) / 4, 1e-12) ** 0.5
    return min(1.0, max(width / src_width, height / src_height) / smallest)


def view_quads(matrices: torch.Tensor) -> torch.Tensor:
    """Source-space corners of each frame's view, [frames, 4, 2] normalised (for path previews)."""
    pts = torch.cat([CORNERS, torch.ones(4, 1, dtype=torch.float64)], dim=1)
    mapped = torch.einsum("fij,kj->fki", matrices, pts)
    return mapped[..., :2] / mapped[..., 2:]


def _fold(grid: torch.Tensor, border: str) -> torch.Tensor:
    if border == "replicate":
        return grid.clamp(-1, 1)
    # reflect about the image edges (period 4 in normalised units)
    g = torch.remainder(grid + 1, 4)
    return torch.where(g > 2, 4 - g, g) - 1


def supersample_for(matrices: torch.Tensor, src_height: int, src_width: int, height: int, width: int) -> int:
    """Samples per output pixel side (1..4): enough per source pixel when a view minifies the source."""
    quads = view_quads(matrices)
    x, y = quads[..., 0], quads[..., 1]
    area = 0.5 * (x * y.roll(-1, 1) - x.roll(-1, 1) * y).sum(1).abs()  # shoelace; the full frame is 4
    shrink = (area / 4).sqrt().max().item() * max(src_width / width, src_height / height)
    if not math.isfinite(shrink):
        raise ValueError("the camera path has a non-finite view (NaN or inf): check the Camera Move inputs")
    return max(1, min(4, math.ceil(shrink - 1e-6)))


def render_bytes(frames: int, height: int, width: int, channels: int) -> int:
    """Peak memory of :func:`render` beyond its input: the float32 output and one band's working set."""
    return 4 * frames * height * width * channels + BAND_BYTES


BAND_SAMPLES = 1 << 16  # sample points per band of rows: bounds the float64 grid work of one step
BAND_BYTES = BAND_SAMPLES * 200  # that work: points, mapped points, folded grid (float64), samples (float32)


def render(image: torch.Tensor, matrices: torch.Tensor, height: int, width: int, border: str = "reflect",
           supersample: int | None = None, on_frame=None, memory_limit: int | None = None,
           on_band=None) -> torch.Tensor:
    """Render ``image`` [H, W, C] (float, 0..1) through per-frame homographies -> [T, height, width, C] float32.

    Frames are written into one preallocated output, a band of rows at a time, so the peak stays near the
    output's size. ``on_frame(i)`` is called after frame ``i`` (progress), ``on_band()`` before each band (an
    interruption check that a large frame does not delay); with ``memory_limit`` (bytes) a render that cannot
    fit is refused before anything is allocated.
    """
    if border not in BORDERS:
        raise ValueError(f"border '{border}' is unknown: use one of {', '.join(BORDERS)}")
    if image.ndim != 3:
        raise ValueError(f"image must be [H, W, C]; got {tuple(image.shape)}")
    src_h, src_w, channels = image.shape
    check_fits(render_bytes(len(matrices), height, width, channels), memory_limit,
               f"a {len(matrices)}-frame {width}x{height} camera layout", "lower frames, width or height")
    if supersample is None:
        supersample = supersample_for(matrices, src_h, src_w, height, width)
    s = supersample
    hs, ws = height * s, width * s
    ys = (torch.arange(hs, dtype=torch.float64) + 0.5) / hs * 2 - 1
    xs = (torch.arange(ws, dtype=torch.float64) + 0.5) / ws * 2 - 1
    rows = max(1, BAND_SAMPLES // (ws * s))  # output rows per band
    src = image.permute(2, 0, 1).unsqueeze(0).float()
    out = torch.empty(len(matrices), height, width, channels, dtype=torch.float32)
    for i, m in enumerate(matrices):
        for r0 in range(0, height, rows):
            if on_band is not None:
                on_band()
            r1 = min(height, r0 + rows)
            yy, xx = torch.meshgrid(ys[r0 * s:r1 * s], xs, indexing="ij")
            pts = torch.stack([xx, yy, torch.ones_like(xx)], dim=-1).reshape(-1, 3)
            mapped = pts @ m.T
            grid = (mapped[:, :2] / mapped[:, 2:]).reshape(1, (r1 - r0) * s, ws, 2)
            band = F.grid_sample(src, _fold(grid, border).float(), mode="bilinear", padding_mode="border",
                                 align_corners=False)
            out[i, r0:r1] = (F.avg_pool2d(band, s) if s > 1 else band)[0].permute(1, 2, 0)
        if on_frame is not None:
            on_frame(i)
    return out


def _short_side_size(h: int, w: int, short: int) -> tuple[int, int]:
    """torchvision ``Resize(short)``: the long side becomes int(short · long / short_side)."""
    return (short, int(short * w / h)) if h <= w else (int(short * h / w), short)


def _resize_short_side(img: torch.Tensor, short: int) -> torch.Tensor:
    size = _short_side_size(*img.shape[-2:], short)
    return F.interpolate(img, size=size, mode="bilinear", align_corners=False, antialias=False)


def official_crops(image: torch.Tensor, frames: int, motion: str, height: int, width: int, on_frame=None,
                   memory_limit: int | None = None) -> torch.Tensor:
    """The official ConsistI2V pan_left / pan_right / zoom_in layouts where they are well defined.

    Pans: resize the short side to ``height``, slide a height x width window, start_x = int((W_src - W)·i/N)
    (pan_left: 1 - i/N). zoom_in: resize the short side to 2·height, centred square crops of size
    m - int((m - m // 1.5)·i/N) with m the min side, resized to width x width: square outputs only.
    Resizes are bilinear without antialiasing, as the official tensor transforms (antialias=None) do.
    ``on_frame`` and ``memory_limit`` as in :func:`render`.
    """
    if motion not in ("pan_left", "pan_right", "zoom_in"):
        raise ValueError(f"official motion '{motion}' is unknown: use pan_left, pan_right or zoom_in")
    if motion == "zoom_in" and height != width:
        raise ValueError("the official zoom_in is only defined for square frames: use the general zoom")
    channels = image.shape[2]
    short = 2 * height if motion == "zoom_in" else height
    nh, nw = _short_side_size(*image.shape[:2], short)
    if motion != "zoom_in" and (nw < width or nh < height):
        raise ValueError(f"the image is too narrow for an official pan at {width}x{height}: use the general pan")
    check_fits(4 * channels * (frames * height * width + nh * nw), memory_limit,
               f"a {frames}-frame {width}x{height} official {motion} layout", "lower frames, width or height")
    big = _resize_short_side(image.permute(2, 0, 1).unsqueeze(0).float(), short)
    out = torch.empty(frames, height, width, channels, dtype=torch.float32)
    side = min(nh, nw)
    for i in range(frames):
        if motion == "zoom_in":
            crop = side - int((side - side // 1.5) * (i / frames))
            top, left = (nh - crop) // 2, (nw - crop) // 2
            frame = F.interpolate(big[:, :, top:top + crop, left:left + crop], size=(width, width),
                                  mode="bilinear", antialias=False, align_corners=False)[0]
        else:
            frac = i / frames if motion == "pan_right" else 1 - i / frames
            x0 = int((nw - width) * frac)
            frame = big[0, :, :height, x0:x0 + width]
        out[i] = frame.permute(1, 2, 0)
        if on_frame is not None:
            on_frame(i)
    return out
