"""Weight-free motion and consistency metrics of a generated video (an IMAGE batch [T, H, W, 3], 0..1).

- **motion**: mean DIS optical-flow magnitude between consecutive frames, pixels per frame.
- **dynamic degree** (VBench-style, DIS instead of RAFT, so not VBench-comparable): frames are taken at
  ~8 fps (stride ``max(1, round(fps / 8))``); per pair, the mean of the top 5 % flow magnitudes is compared
  with ``6 · min(H, W) / 256``. The score is the share of pairs above it; ``dynamic`` is VBench's binary
  rule (at least ``round(4 · n / 16)`` of the n sampled frames' pairs above it).
- **flicker**: VBench's temporal flickering, ``(255 − mean_t MAE(f_t, f_{t+1})) / 255`` on uint8 frames
  (1 = identical frames), plus the less motion-biased mean ``|f_{t+1} − 2 f_t + f_{t−1}|``.
- **first-frame fidelity**: SSIM (Gaussian 11x11, sigma 1.5, K = 0.01/0.03, per channel) and PSNR (capped at
  100 dB) of every frame to a reference image (the conditioning image; default: frame 0).
- **camera fit**: per frame pair, a robust least-squares similarity ``u = tx + s·x − r·y``,
  ``v = ty + s·y + r·x`` on centred pixel coordinates of the flow field: pan (tx, ty), zoom 1 + s, roll r.
  A requested camera path (``kernels.camera`` homographies) is projected on the same model, so the two can
  be compared in pixels per frame.

Camera conventions match ``kernels.camera.Move``: pan_x > 0 the camera moves right (content slides left),
pan_y > 0 it moves up, both as fractions of the frame; zoom > 1 magnifies; roll > 0 turns the content
counter-clockwise (degrees).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from . import flow as flowmod

PSNR_CAP = 100.0
SSIM_CHUNK = 4  # frames per SSIM step
GRAY_CHUNK = 16  # frames turned to 8-bit luma at once
TOP_SHARE = 0.05
MIN_SIDE = flowmod.MIN_SIDE


# ----------------------------------------------------------------------------------------------- checks
def check_video(video, name: str = "video", min_frames: int = 2) -> None:
    """A video is an IMAGE batch [T, H, W, 3] with at least ``min_frames`` frames of at least 16x16 px."""
    if not isinstance(video, torch.Tensor) or video.ndim != 4:
        shape = tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__
        raise ValueError(f"{name} must be an IMAGE batch [frames, height, width, 3]; got {shape}: connect the "
                         "IMAGE output of a VAE Decode (or any node giving frames)")
    t, h, w, c = video.shape
    if c != 3:
        raise ValueError(f"{name} has {c} channels; the metrics need RGB (3): convert it first (e.g. drop alpha "
                         "with 'Split Image with Alpha' or turn a mask into an image with 'Convert Mask to Image')")
    if t < min_frames:
        raise ValueError(f"{name} has {t} frame(s); motion and flicker need at least {min_frames}: connect the "
                         "whole decoded video, not a single image")
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"{name} frames are {w}x{h} pixels; the metrics need at least {MIN_SIDE}x{MIN_SIDE}: "
                         "upscale the video first")
    bad, frames = nonfinite(video)
    if bad:
        raise ValueError(f"{name} contains {bad:,} NaN/inf values (in {frames} of {t} frames): the sampling "
                         "diverged (a NaN latent decodes to a NaN video), and measured as it is it would score as a "
                         "perfect still video. Fix the run that made it (e.g. lower cfg, run the model in fp32, check "
                         "the noise and layout inputs for NaN) and measure the new video")


def nonfinite(x: torch.Tensor, chunk: int = 8) -> tuple[int, int]:
    """(NaN/inf values, frames holding any) of ``x`` [T, ...], counted a few frames at a time."""
    if not x.is_floating_point():
        return 0, 0
    values = frames = 0
    for start in range(0, x.shape[0], chunk):
        if torch.isfinite(x[start:start + chunk].sum(dtype=torch.float64)):  # exact: no float32 sum overflows
            continue
        per_frame = (~torch.isfinite(x[start:start + chunk])).flatten(1).sum(dim=1)
        values += int(per_frame.sum())
        frames += int((per_frame > 0).sum())
    return values, frames


def match_reference(reference, height: int, width: int, name: str = "reference") -> torch.Tensor:
    """The first image of ``reference`` [B, H, W, 3] at the video's size [height, width, 3]; resized
    (bilinear, antialiased) when only its size differs, an error when its aspect ratio differs."""
    if not isinstance(reference, torch.Tensor) or reference.ndim not in (3, 4):
        raise ValueError(f"{name} must be an IMAGE [1, height, width, 3]: connect the conditioning image")
    image = reference[0] if reference.ndim == 4 else reference
    h, w, c = image.shape
    if c != 3:
        raise ValueError(f"{name} has {c} channels; it must be RGB (3) like the video: convert it first")
    bad, _ = nonfinite(image[None])
    if bad:
        raise ValueError(f"{name} contains {bad:,} NaN/inf values: connect the image the video was conditioned "
                         "on (a valid IMAGE), or leave reference unconnected to use frame 0")
    if (h, w) == (height, width):
        return image.float()
    if abs(w / h - width / height) > 0.02 * width / height:
        raise ValueError(f"{name} is {w}x{h} but the video is {width}x{height} (another aspect ratio): connect "
                         "the image the video was conditioned on, scaled to the video's size (ImageScale)")
    return F.interpolate(image.float().permute(2, 0, 1)[None], size=(height, width), mode="bilinear",
                         antialias=True, align_corners=False)[0].permute(1, 2, 0)


# -------------------------------------------------------------------------------------- image fidelity
def _gauss_window(size: int, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


def ssim_per_frame(video: torch.Tensor, reference: torch.Tensor, chunk: int = SSIM_CHUNK,
                   progress=None) -> torch.Tensor:
    """Mean SSIM of every frame [T, H, W, C] to ``reference`` [H, W, C] (values 0..1, data range 1) -> [T];
    ``progress(chunks done)`` after every ``chunk`` frames.

    Wang et al. 2004: Gaussian window 11 (sigma 1.5; smaller odd window on tiny frames), K1 = 0.01,
    K2 = 0.03, no padding, averaged over pixels and channels.
    """
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    _, h, w, c = video.shape
    size = min(11, h, w)
    size -= 1 - size % 2
    g = _gauss_window(size)

    def blur(x):  # separable, valid, per channel
        x = F.conv2d(x, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        return F.conv2d(x, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)

    y = reference.float().permute(2, 0, 1)[None]
    mu_y = blur(y)
    syy = blur(y * y) - mu_y * mu_y
    out = []
    for start in range(0, video.shape[0], chunk):
        x = video[start:start + chunk].float().permute(0, 3, 1, 2)
        mu_x = blur(x)
        sxx = blur(x * x) - mu_x * mu_x
        sxy = blur(x * y) - mu_x * mu_y
        num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
        den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
        out.append((num / den).mean(dim=(1, 2, 3)))
        if progress is not None:
            progress(len(out))
    return torch.cat(out).double()


def psnr_per_frame(video: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of every frame to ``reference`` (data range 1), capped at 100 dB (identical frames)."""
    mse = ((video.double() - reference.double()[None]) ** 2).mean(dim=(1, 2, 3))
    return torch.where(mse > 0, 10 * torch.log10(1 / mse.clamp_min(1e-300)), torch.full_like(mse, PSNR_CAP)).clamp(
        max=PSNR_CAP)


# ---------------------------------------------------------------------------------------------- flicker
def to_u8(video: torch.Tensor) -> torch.Tensor:
    """Frames as a uint8 video file holds them (round(255·x)), kept as int16 for differences."""
    return (video.float().clamp(0, 1) * 255).round().to(torch.int16)


def flicker_mae(video: torch.Tensor) -> torch.Tensor:
    """VBench temporal flickering's per-pair term: mean |f_{t+1} − f_t| over pixels and channels of uint8
    frames, in 0..255 -> [T − 1]."""
    u8 = to_u8(video)
    return (u8[1:] - u8[:-1]).abs().double().mean(dim=(1, 2, 3))


def flicker_score(mae: torch.Tensor) -> float:
    """VBench: (255 − mean MAE) / 255; 1 means no change between frames."""
    return float((255 - mae.mean()) / 255)


def flicker_second_order(video: torch.Tensor) -> float:
    """Mean |f_{t+1} − 2 f_t + f_{t−1}| (uint8 units): constant-speed change scores 0, flicker does not."""
    if video.shape[0] < 3:
        return 0.0
    u8 = to_u8(video)
    return float((u8[2:] - 2 * u8[1:-1] + u8[:-2]).abs().double().mean())


# ----------------------------------------------------------------------------------------------- motion
def magnitudes(flow: np.ndarray) -> np.ndarray:
    return np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)


def top_mean(mag: np.ndarray, share: float = TOP_SHARE) -> np.ndarray:
    """Per pair, the mean of the largest ``share`` of magnitudes (VBench: int(h·w·0.05) pixels) -> [P]."""
    flat = mag.reshape(mag.shape[0], -1)
    cut = max(1, int(flat.shape[1] * share))
    return np.partition(flat, flat.shape[1] - cut, axis=1)[:, -cut:].mean(axis=1)


def dynamic_threshold(height: int, width: int) -> float:
    """VBench's per-pair threshold on the top-5 % flow magnitude at ~8 fps: 6 px at 256 px."""
    return 6.0 * min(height, width) / 256.0


def dynamic_stride(fps: float) -> int:
    """VBench samples frames at ~8 fps: every round(fps / 8)-th frame (at least every frame)."""
    if not fps > 0:
        raise ValueError(f"fps {fps} must be positive: use the video's frame rate (SVD: the conditioning fps, 6)")
    return max(1, round(fps / 8.0))


# ------------------------------------------------------------------------------------------- camera fit
def _grid(height: int, width: int, step: int, margin: float = 0.04):
    """Centred pixel coordinates of a subsampled grid without a border margin (content enters there)."""
    m = max(1, int(round(margin * min(height, width))))
    ys = np.arange(m, height - m, step)
    xs = np.arange(m, width - m, step)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return yy, xx, xx - (width - 1) / 2.0, yy - (height - 1) / 2.0


def _grid_step(height: int, width: int) -> int:
    return max(1, int(round(min(height, width) / 256)))


def _solve_similarity(x, y, u, v, w):
    """Weighted least squares of u = tx + s·x − r·y, v = ty + s·y + r·x -> (tx, ty, s, r)."""
    sw = w.sum()
    if sw <= 0:
        return np.zeros(4)
    sx, sy = (w * x).sum(), (w * y).sum()
    sq = (w * (x * x + y * y)).sum()
    a = np.array([[sw, 0, sx, -sy], [0, sw, sy, sx], [sx, sy, sq, 0], [-sy, sx, 0, sq]], dtype=np.float64)
    b = np.array([(w * u).sum(), (w * v).sum(), (w * (x * u + y * v)).sum(), (w * (x * v - y * u)).sum()])
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(a, b, rcond=None)[0]


def similarity_field(params: np.ndarray, x: np.ndarray, y: np.ndarray):
    tx, ty, s, r = params
    return tx + s * x - r * y, ty + s * y + r * x


def fit_similarity_one(flow: np.ndarray, iterations: int = 4, grid=None) -> np.ndarray:
    """Robust similarity fit of one flow field [H, W, 2] -> (tx, ty px; s, r dimensionless).

    Iteratively trimmed least squares: pixels whose residual exceeds max(3 x median residual, 0.5 px) are
    dropped, so a subject moving against the background does not drag the camera estimate.
    """
    h, w, _ = flow.shape
    yy, xx, x, y = grid if grid is not None else _grid(h, w, _grid_step(h, w))
    x, y = x.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    u = flow[yy, xx, 0].astype(np.float64).ravel()
    v = flow[yy, xx, 1].astype(np.float64).ravel()
    weight = np.ones_like(u)
    params = _solve_similarity(x, y, u, v, weight)
    for _ in range(iterations - 1):
        pu, pv = similarity_field(params, x, y)
        res = np.hypot(u - pu, v - pv)
        weight = (res <= max(3.0 * float(np.median(res)), 0.5)).astype(np.float64)
        params = _solve_similarity(x, y, u, v, weight)
    return params


def fit_similarity(flow: np.ndarray, iterations: int = 4) -> np.ndarray:
    """``fit_similarity_one`` for every pair of flow [P, H, W, 2] -> [P, 4]."""
    _, h, w, _ = flow.shape
    grid = _grid(h, w, _grid_step(h, w))
    return np.stack([fit_similarity_one(f, iterations, grid) for f in flow]) if len(flow) else np.zeros((0, 4))


def pair_matrices(params: np.ndarray) -> np.ndarray:
    """[P, 4] similarity parameters -> [P, 3, 3] maps from frame t to frame t+1 (centred pixels)."""
    tx, ty, s, r = params.T
    m = np.zeros((len(params), 3, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = 1 + s, -r, tx
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = r, 1 + s, ty
    m[:, 2, 2] = 1
    return m


@dataclass
class CameraTrack:
    """Cumulative camera from frame 0 to every frame (length T) in Camera Move's conventions."""
    pan_x: np.ndarray  # camera right, fraction of the width
    pan_y: np.ndarray  # camera up, fraction of the height
    zoom: np.ndarray  # magnification
    roll: np.ndarray  # counter-clockwise content rotation, degrees
    pairs: np.ndarray  # [T - 1, 4] per pair (tx, ty, s, r), content motion in centred pixels

    @classmethod
    def from_pairs(cls, params: np.ndarray, height: int, width: int) -> "CameraTrack":
        total = np.eye(3)
        rows = [total]
        for m in pair_matrices(params):
            total = m @ total
            rows.append(total)
        c = np.stack(rows)
        zoom = np.sqrt(np.abs(np.linalg.det(c[:, :2, :2])))
        angle = np.degrees(np.arctan2(c[:, 1, 0], c[:, 0, 0]))
        return cls(pan_x=-c[:, 0, 2] / width, pan_y=c[:, 1, 2] / height, zoom=zoom, roll=-angle, pairs=params)

    def totals(self) -> dict:
        return {"pan_x": float(self.pan_x[-1]), "pan_y": float(self.pan_y[-1]), "zoom": float(self.zoom[-1]),
                "roll": float(self.roll[-1])}


def requested_pairs(matrices: torch.Tensor, height: int, width: int) -> np.ndarray:
    """The similarity part of a camera path's frame-to-frame motion, [T − 1, 4] like ``fit_similarity``.

    ``matrices`` are ``kernels.camera`` output->source homographies in normalised coordinates (one per video
    frame); content at output point o of frame t shows source M_t·o, which frame t+1 shows at
    M_{t+1}^{-1}·M_t·o. That motion field is sampled on the fit's grid and projected on the similarity model.
    """
    m = matrices.double().cpu().numpy()
    yy, xx, x, y = _grid(height, width, _grid_step(height, width))
    x, y = x.ravel().astype(np.float64), y.ravel().astype(np.float64)
    pts = np.stack([x * 2 / width, y * 2 / height, np.ones_like(x)])  # centred pixels -> normalised
    out = np.zeros((len(m) - 1, 4))
    for t in range(len(m) - 1):
        mapped = np.linalg.solve(m[t + 1], m[t]) @ pts
        u = mapped[0] / mapped[2] * width / 2 - x
        v = mapped[1] / mapped[2] * height / 2 - y
        out[t] = _solve_similarity(x, y, u, v, np.ones_like(x))
    return out


def camera_error(fitted: np.ndarray, requested: np.ndarray, height: int, width: int) -> np.ndarray:
    """Per pair RMS distance (px) between the fitted and the requested similarity motion fields -> [P]."""
    yy, xx, x, y = _grid(height, width, _grid_step(height, width))
    x, y = x.ravel().astype(np.float64), y.ravel().astype(np.float64)
    out = np.zeros(len(fitted))
    for k, (a, b) in enumerate(zip(fitted, requested)):
        au, av = similarity_field(a, x, y)
        bu, bv = similarity_field(b, x, y)
        out[k] = math.sqrt(float(((au - bu) ** 2 + (av - bv) ** 2).mean()))
    return out


def requested_magnitude(requested: np.ndarray, height: int, width: int) -> np.ndarray:
    """Per pair RMS length (px) of the requested similarity motion field -> [P]."""
    return camera_error(np.zeros_like(requested), requested, height, width)


# ------------------------------------------------------------------------------------------------- all
@dataclass
class VideoMetrics:
    frames: int
    height: int
    width: int
    fps: float
    motion_pairs: np.ndarray  # mean flow magnitude per consecutive pair, px
    top_pairs: np.ndarray  # mean of top-5 % magnitudes per ~8 fps pair, px
    dynamic_threshold: float
    dynamic_stride: int
    dynamic: bool
    flicker_pairs: np.ndarray  # mean |f_{t+1} - f_t| per pair, uint8 units
    flicker_2nd: float
    ssim_frames: np.ndarray
    psnr_frames: np.ndarray
    reference_given: bool
    camera: CameraTrack
    requested: CameraTrack | None = None
    error_pairs: np.ndarray | None = None
    requested_motion_pairs: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def motion(self) -> float:
        return float(self.motion_pairs.mean())

    @property
    def dynamic_degree(self) -> float:
        return float((self.top_pairs > self.dynamic_threshold).mean())

    @property
    def flicker(self) -> float:
        return float((255 - self.flicker_pairs.mean()) / 255)

    @property
    def flicker_mae(self) -> float:
        return float(self.flicker_pairs.mean())

    @property
    def ssim(self) -> float:
        return float(self.ssim_frames.mean())

    @property
    def psnr(self) -> float:
        return float(self.psnr_frames.mean())

    @property
    def camera_error(self) -> float | None:
        return None if self.error_pairs is None else float(self.error_pairs.mean())

    @property
    def camera_error_relative(self) -> float | None:
        if self.error_pairs is None:
            return None
        return float(self.error_pairs.mean() / max(float(self.requested_motion_pairs.mean()), 1e-6))

    def summary(self) -> dict:
        out = {"frames": self.frames, "size": f"{self.width}x{self.height}", "fps": self.fps,
               "motion_px_per_frame": self.motion, "dynamic_degree": self.dynamic_degree,
               "dynamic": self.dynamic, "dynamic_threshold_px": self.dynamic_threshold,
               "flicker": self.flicker, "flicker_mae": self.flicker_mae, "flicker_2nd_order": self.flicker_2nd,
               "ssim": self.ssim, "psnr_db": self.psnr, "first_ssim": float(self.ssim_frames[0]),
               "first_psnr_db": float(self.psnr_frames[0]), "last_ssim": float(self.ssim_frames[-1]),
               "camera": self.camera.totals()}
        if self.requested is not None:
            out["requested_camera"] = self.requested.totals()
            out["camera_error_px_per_frame"] = self.camera_error
            out["camera_error_relative"] = self.camera_error_relative
        return out


def _stride_for(frames: int, fps: float) -> int:
    stride = dynamic_stride(fps)
    return 1 if frames <= stride else stride  # too short to sample at ~8 fps: use every frame


def step_count(frames: int, fps: float) -> int:
    """The steps ``measure`` reports to its ``progress`` callback: optical-flow pairs, SSIM chunks, and one for
    flicker and PSNR."""
    stride = _stride_for(frames, fps)
    pairs = frames - 1 + (len(range(0, frames, stride)) - 1 if stride > 1 else 0)
    return pairs + -(-frames // SSIM_CHUNK) + 1


def measure(video: torch.Tensor, reference: torch.Tensor | None = None, fps: float = 6.0,
            path_matrices: torch.Tensor | None = None, preset: str = "medium", name: str = "video",
            progress=None) -> VideoMetrics:
    """All metrics of ``video`` [T, H, W, 3]. ``reference``: the conditioning image (default: frame 0).
    ``path_matrices``: a requested camera path, [T, 3, 3] output->source homographies (kernels.camera).
    ``progress(done, total)`` is called at the start and after every step (``step_count``: each optical-flow
    pair, each SSIM chunk); it may raise to stop (ComfyUI's interrupt)."""
    check_video(video, name)
    t, h, w, _ = video.shape
    stride = _stride_for(t, fps)
    total = step_count(t, fps)
    tick = progress or (lambda done, total: None)
    tick(0, total)
    video = video.detach().float().cpu()
    ref = video[0] if reference is None else match_reference(reference, h, w).cpu()

    gray = np.empty((t, h, w), dtype=np.uint8)
    for start in range(0, t, GRAY_CHUNK):  # a few frames at a time: no float copy of the whole video
        gray[start:start + GRAY_CHUNK] = flowmod.gray_u8(video[start:start + GRAY_CHUNK])
        tick(0, total)
    grid = _grid(h, w, _grid_step(h, w))
    motion, top, fitted = [], [], []
    for f in flowmod.iter_flow(gray, preset=preset):  # one flow field in memory at a time
        mag = magnitudes(f)[None]
        motion.append(float(mag.mean()))
        if stride == 1:
            top.append(float(top_mean(mag)[0]))
        fitted.append(fit_similarity_one(f, grid=grid))
        tick(len(fitted), total)
    sampled = list(range(0, t, stride))
    if stride > 1:
        for f in flowmod.iter_flow(gray, list(zip(sampled[:-1], sampled[1:])), preset):
            top.append(float(top_mean(magnitudes(f)[None])[0]))
            tick(len(fitted) + len(top), total)
    top, fitted = np.asarray(top), np.stack(fitted)
    thres = dynamic_threshold(h, w)
    count_needed = max(1, round(4 * len(sampled) / 16))
    done = len(fitted) + (len(top) if stride > 1 else 0)
    ssim = ssim_per_frame(video, ref, progress=lambda k: tick(done + k, total)).numpy()
    flicker, flicker_2nd = flicker_mae(video).numpy(), flicker_second_order(video)
    psnr = psnr_per_frame(video, ref).numpy()
    tick(total, total)

    metrics = VideoMetrics(
        frames=t, height=h, width=w, fps=float(fps), motion_pairs=np.asarray(motion),
        top_pairs=top, dynamic_threshold=thres, dynamic_stride=stride,
        dynamic=bool((top > thres).sum() >= count_needed), flicker_pairs=flicker, flicker_2nd=flicker_2nd,
        ssim_frames=ssim, psnr_frames=psnr, reference_given=reference is not None,
        camera=CameraTrack.from_pairs(fitted, h, w))
    if path_matrices is not None:
        if len(path_matrices) != t:
            raise ValueError(f"the camera path has {len(path_matrices)} frames but the video has {t}")
        req = requested_pairs(path_matrices, h, w)
        metrics.requested = CameraTrack.from_pairs(req, h, w)
        metrics.error_pairs = camera_error(fitted, req, h, w)
        metrics.requested_motion_pairs = requested_magnitude(req, h, w)
    return metrics


def frame_similarity(a: torch.Tensor, b: torch.Tensor, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame SSIM and PSNR between two videos of the same size over their common frames;
    ``progress(done, n)`` after every frame, as in ``measure``."""
    n = min(a.shape[0], b.shape[0])
    ssim, psnr = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    for i in range(n):
        ssim[i] = ssim_per_frame(a[i:i + 1], b[i].float())[0]
        psnr[i] = psnr_per_frame(a[i:i + 1], b[i])[0]
        if progress is not None:
            progress(i + 1, n)
    return ssim.numpy(), psnr.numpy()


# --------------------------------------------------------------------------------------------- reports
REPORT_LABEL = 20  # characters of a label in the report's column heads (the first line has it whole)


def shorten(text: str, limit: int, tail: str = "...") -> str:
    """``text`` on one line, at most ``limit`` characters, ending in ``tail`` when cut."""
    flat = " ".join(text[:4 * limit].split())
    return flat if len(flat) <= limit and len(text) <= 4 * limit else flat[:limit - len(tail)].rstrip() + tail


def _signed(v: float, digits: int = 3) -> str:
    return f"{v:+.{digits}f}"


def _camera_line(track: CameraTrack) -> str:
    c = track.totals()
    return (f"pan x {_signed(c['pan_x'])}, pan y {_signed(c['pan_y'])} (frames), zoom {c['zoom']:.3f}x, "
            f"roll {_signed(c['roll'], 2)} deg")


def report(m: VideoMetrics) -> str:
    """A plain-text report: summary lines, then one line per frame."""
    ref = "reference" if m.reference_given else "frame 0"
    above = int((m.top_pairs > m.dynamic_threshold).sum())
    lines = [
        "Video metrics (DIS optical flow, weight-free; VBench-style, not VBench-comparable)",
        f"frames {m.frames}, {m.width}x{m.height}, fps {m.fps:g}",
        f"motion              {m.motion:.3f} px/frame (mean flow magnitude)",
        f"dynamic degree      {m.dynamic_degree:.3f} ({above} of {len(m.top_pairs)} pairs at stride "
        f"{m.dynamic_stride} above {m.dynamic_threshold:.2f} px; dynamic: {'yes' if m.dynamic else 'no'})",
        f"flicker             {m.flicker:.4f} (VBench, 1 = steady; mean frame difference {m.flicker_mae:.2f}/255, "
        f"2nd order {m.flicker_2nd:.2f}/255)",
        f"SSIM to {ref:<11} mean {m.ssim:.4f}, first {m.ssim_frames[0]:.4f}, last {m.ssim_frames[-1]:.4f}",
        f"PSNR to {ref:<11} mean {m.psnr:.2f} dB, first {m.psnr_frames[0]:.2f} dB (capped at {PSNR_CAP:g})",
        f"camera (fitted)     {_camera_line(m.camera)}",
    ]
    if m.requested is not None:
        lines += [f"camera (requested)  {_camera_line(m.requested)}",
                  f"camera error        {m.camera_error:.3f} px/frame ({100 * m.camera_error_relative:.1f} % of the "
                  "requested motion)"]
    head = " frame  motion  top5%  diff255   ssim   psnr   pan_x   pan_y   zoom    roll"
    if m.requested is not None:
        head += "  req_pan_x req_pan_y req_zoom req_roll  err_px"
    lines += ["", "per frame (motion, top5%, diff and err: from the previous frame; camera: cumulative)", head]
    top = {m.dynamic_stride * (k + 1): v for k, v in enumerate(m.top_pairs)}
    for i in range(m.frames):
        mot = f"{m.motion_pairs[i - 1]:7.3f}" if i else "      -"
        tp = f"{top[i]:7.3f}" if i in top else "      -"
        df = f"{m.flicker_pairs[i - 1]:8.3f}" if i else "       -"
        c = m.camera
        line = (f" {i:5d} {mot} {tp} {df} {m.ssim_frames[i]:6.4f} {m.psnr_frames[i]:6.2f} {c.pan_x[i]:+7.4f} "
                f"{c.pan_y[i]:+7.4f} {c.zoom[i]:6.4f} {c.roll[i]:+7.3f}")
        if m.requested is not None:
            r = m.requested
            err = f"{m.error_pairs[i - 1]:7.3f}" if i else "      -"
            line += f"   {r.pan_x[i]:+7.4f}   {r.pan_y[i]:+7.4f}   {r.zoom[i]:6.4f}  {r.roll[i]:+7.3f} {err}"
        lines.append(line)
    return "\n".join(lines)


def compare_report(a: VideoMetrics, b: VideoMetrics, labels: tuple[str, str], ab_ssim: float | None,
                   ab_psnr: float | None) -> str:
    la, lb = labels
    ca, cb = (shorten(s, REPORT_LABEL) for s in labels)
    w = max(len(ca), len(cb), 8)
    rows = [("motion px/frame", a.motion, b.motion, 3), ("dynamic degree", a.dynamic_degree, b.dynamic_degree, 3),
            ("flicker", a.flicker, b.flicker, 4), ("flicker 2nd order", a.flicker_2nd, b.flicker_2nd, 3),
            ("SSIM to reference", a.ssim, b.ssim, 4), ("SSIM last frame", a.ssim_frames[-1], b.ssim_frames[-1], 4),
            ("PSNR dB", a.psnr, b.psnr, 2), ("camera pan x", a.camera.totals()["pan_x"], b.camera.totals()["pan_x"], 4),
            ("camera pan y", a.camera.totals()["pan_y"], b.camera.totals()["pan_y"], 4),
            ("camera zoom", a.camera.totals()["zoom"], b.camera.totals()["zoom"], 4),
            ("camera roll deg", a.camera.totals()["roll"], b.camera.totals()["roll"], 3)]
    lines = [f"A/B video metrics: A = {la} ({a.frames} frames), B = {lb} ({b.frames} frames), "
             f"{a.width}x{a.height}, fps {a.fps:g}",
             f"{'metric':<18} {ca:>{w}} {cb:>{w}} {'B - A':>10}"]
    for name, va, vb, d in rows:
        lines.append(f"{name:<18} {float(va):>{w}.{d}f} {float(vb):>{w}.{d}f} {float(vb) - float(va):>+10.{d}f}")
    lines.append(f"{'dynamic (VBench)':<18} {'yes' if a.dynamic else 'no':>{w}} {'yes' if b.dynamic else 'no':>{w}}")
    if ab_ssim is not None:
        lines.append(f"A vs B, frame by frame: SSIM {ab_ssim:.4f}, PSNR {ab_psnr:.2f} dB")
    return "\n".join(lines)
