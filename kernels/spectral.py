"""3-D spectral low-pass filters over (frames, height, width) and FrameInit mixing.

Filters are defined on the *shifted* frequency grid (DC at index ``N // 2``) with normalised
coordinates ``u`` per axis and squared distance ``D² = ((d_s/d_t)·u_t)² + u_h² + u_w²``:

    gaussian     exp(-D² / (2 d_s²))
    butterworth  1 / (1 + (D² / d_s²)^n)
    ideal        D² <= d_s²                (official quirk: D² <= 2·d_s)
    box          |u_t| <= d_t, |u_h| <= d_s, |u_w| <= d_s
                 (official quirk: half-open ranges [c-r, c+r), W reusing H's radius)

Default coordinates are centred, ``u = 2(k - N//2)/N``: the DC bin is exactly 1 and the filter is
Hermitian-symmetric for every size, so a real video stays real. ``official=True`` reproduces the
ConsistI2V/FreeInit filters bit for bit, quirks included (``u = 2k/N - 1``, which only differs for
odd sizes). Either way d_s = 0 or d_t = 0 gives the all-zero filter.

The FFT is circular in time, so a low-pass mixes the last frames of a clip into its first ones.
``temporal_padding`` (``lowpass``, ``frameinit_start``) chooses what the clip continues into:
``circular`` (the official behaviour), ``reflect`` (mirrored about its end frames, which are not repeated:
the even extension of period 2T-2) or ``mirror`` (mirrored with the end frames repeated: period 2T). Either
mirrored clip is continuous where the FFT wraps, so nothing of the end reaches the start; the filter is
built for the padded length, whose normalised frequencies are the same.
"""
from __future__ import annotations

import functools

import torch

from .layout import video_dims
from .text import quoted

FILTER_TYPES = ("gaussian", "butterworth", "ideal", "box")
TEMPORAL_PADDINGS = ("circular", "reflect", "mirror")


def check_filter_args(kind: str, d_s: float, d_t: float, order: int = 4) -> None:
    """Raise ValueError naming the parameter and the accepted range."""
    if kind not in FILTER_TYPES:
        raise ValueError(f"filter {quoted(kind)} is unknown: use one of {', '.join(FILTER_TYPES)}")
    for name, value in (("d_s (spatial stop frequency)", d_s), ("d_t (temporal stop frequency)", d_t)):
        if not (0.0 <= float(value) <= 1.0):
            raise ValueError(f"{name} = {value} is out of range: use a value in [0, 1] (ConsistI2V uses 0.25)")
    if kind == "butterworth" and not (1 <= int(order) <= 64):
        raise ValueError(f"butterworth order = {order} is out of range: use an integer in [1, 64] (default 4)")


def _coords(n: int, official: bool) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)
    u = 2 * k / n - 1
    if not official and n % 2:
        u = u + 1.0 / n  # centred: 2(k - n//2)/n, so the DC bin sits at u = 0
    return u


def _official_box(size: tuple[int, int, int], d_s: float, d_t: float) -> torch.Tensor:
    t, h, w = size
    mask = torch.zeros(size, dtype=torch.float64)
    r_t = round((t // 2) * d_t)
    r_s = round((h // 2) * d_s)  # the official code reuses H's radius for W
    ct, ch, cw = t // 2, h // 2, w // 2
    mask[ct - r_t:ct + r_t, ch - r_s:ch + r_s, cw - r_s:cw + r_s] = 1.0
    return mask


@functools.lru_cache(maxsize=64)
def _filter_shifted(size: tuple[int, int, int], kind: str, d_s: float, d_t: float, order: int,
                    official: bool) -> torch.Tensor:
    if d_s == 0 or d_t == 0:
        return torch.zeros(size, dtype=torch.float32)
    if kind == "box" and official:
        return _official_box(size, d_s, d_t).float()
    ut, uh, uw = (_coords(n, official) for n in size)
    if kind == "box":
        mask = ((ut.abs() <= d_t)[:, None, None] & (uh.abs() <= d_s)[None, :, None]
                & (uw.abs() <= d_s)[None, None, :])
        return mask.float()
    # Same operation order as the reference loops, so official mode matches bit for bit.
    d2 = ((d_s / d_t) * ut)[:, None, None] ** 2 + (uh ** 2)[None, :, None] + (uw ** 2)[None, None, :]
    if kind == "gaussian":
        mask = torch.exp((-1 / (2 * d_s ** 2)) * d2)
    elif kind == "butterworth":
        mask = 1 / (1 + (d2 / d_s ** 2) ** order)
    else:  # ideal
        mask = (d2 <= (d_s * 2 if official else d_s ** 2)).double()
    return mask.float()


def lowpass_filter(size: tuple[int, int, int], kind: str = "gaussian", d_s: float = 0.25,
                   d_t: float = 0.25, order: int = 4, official: bool = False) -> torch.Tensor:
    """The filter on the shifted grid (DC at the centre index), float32 ``[T, H, W]``."""
    check_filter_args(kind, d_s, d_t, order)
    size = tuple(int(n) for n in size)
    if len(size) != 3 or min(size) < 1:
        raise ValueError(f"filter size must be (frames, height, width) with positive sizes; got {size}")
    return _filter_shifted(size, kind, float(d_s), float(d_t), int(order) if kind == "butterworth" else 0,
                           bool(official)).clone()


_DEVICE_CACHE: dict = {}


def _applied_filter(size, kind, d_s, d_t, order, official, device, half: bool) -> torch.Tensor:
    """The filter in FFT (unshifted) order on ``device``; ``half`` keeps the rfft half of the last axis."""
    key = (tuple(size), kind, float(d_s), float(d_t), int(order), bool(official), str(device), half)
    cached = _DEVICE_CACHE.get(key)
    if cached is None:
        filt = torch.fft.ifftshift(lowpass_filter(size, kind, d_s, d_t, order, official))
        if half:
            filt = filt[..., : size[2] // 2 + 1]
        cached = filt.contiguous().to(device)
        if len(_DEVICE_CACHE) > 64:
            _DEVICE_CACHE.clear()
        _DEVICE_CACHE[key] = cached
    return cached


def _broadcast(filt: torch.Tensor, ndim: int, dims: tuple[int, int, int]) -> torch.Tensor:
    shape = [1] * ndim
    for axis, dim in enumerate(dims):
        shape[dim] = filt.shape[axis]
    return filt.reshape(shape)


def check_temporal_padding(mode: str) -> None:
    if mode not in TEMPORAL_PADDINGS:
        raise ValueError(f"temporal_padding {quoted(mode)} is unknown: use one of {', '.join(TEMPORAL_PADDINGS)}")


def mirrored_in_time(x: torch.Tensor, dim: int, mode: str) -> torch.Tensor:
    """``x`` followed by its time-reversed copy: ``reflect`` leaves out both end frames (length 2T-2, at least
    T), ``mirror`` repeats them (2T). Seen as periodic, either is continuous where the FFT wraps."""
    check_temporal_padding(mode)
    if mode == "circular":
        return x
    back = x.flip(dim)
    if mode == "reflect":
        back = back.narrow(dim, 1, max(0, x.shape[dim] - 2))
    return torch.cat([x, back], dim=dim)


def lowpass(x: torch.Tensor, kind: str = "gaussian", d_s: float = 0.25, d_t: float = 0.25,
            order: int = 4, official: bool = False, temporal_padding: str = "circular") -> torch.Tensor:
    """Low band of a 4-D ``[T,C,H,W]`` or 5-D ``[B,C,T,H,W]`` latent video (float32 result)."""
    dims = video_dims(x.ndim)
    check_temporal_padding(temporal_padding)
    if temporal_padding != "circular":
        frames = x.shape[dims[0]]
        padded = lowpass(mirrored_in_time(x.float(), dims[0], temporal_padding), kind, d_s, d_t, order, official)
        return padded.narrow(dims[0], 0, frames)
    size = tuple(x.shape[d] for d in dims)
    x = x.float()
    if official:
        # The official filter is not Hermitian-symmetric for odd sizes: full FFT, keep the real part.
        filt = _broadcast(_applied_filter(size, kind, d_s, d_t, order, True, x.device, False), x.ndim, dims)
        return torch.fft.ifftn(torch.fft.fftn(x, dim=dims) * filt, dim=dims).real
    filt = _broadcast(_applied_filter(size, kind, d_s, d_t, order, False, x.device, True), x.ndim, dims)
    spectrum = torch.fft.rfftn(x, dim=dims)
    return torch.fft.irfftn(spectrum * filt, s=size, dim=dims)


def highpass(x: torch.Tensor, **filter_args) -> torch.Tensor:
    return x.float() - lowpass(x, **filter_args)


def frameinit_mix(noised_layout: torch.Tensor, noise: torch.Tensor, **filter_args) -> torch.Tensor:
    """FrameInit: low band of the noised layout plus high band of the same noise.

    ``IFFT(LPF·FFT(noised_layout) + (1-LPF)·FFT(noise))`` computed as
    ``noise + LP(noised_layout - noise)``: one transform pair instead of three.
    """
    if noised_layout.shape != noise.shape:
        raise ValueError(f"layout {tuple(noised_layout.shape)} and noise {tuple(noise.shape)} differ in shape")
    noise32 = noise.float()
    return noise32 + lowpass(noised_layout.float() - noise32, **filter_args)


def frameinit_start(layout: torch.Tensor, noise: torch.Tensor, noise_gain: float, layout_gain: float,
                    temporal_padding: str = "circular", **filter_args) -> torch.Tensor:
    """FrameInit from the layout itself: low band of ``noise_gain·noise + layout_gain·layout`` (the noised
    layout), high band of ``noise``.

    ``circular`` is exactly ``frameinit_mix`` (official). With ``reflect`` / ``mirror`` only the layout's low
    band is taken on the time-mirrored clip; the noise's low band stays circular. A circular filter keeps white
    (and PYoCo) noise stationary, so the noise part is the official one, frame for frame: where the layout is
    zero the result equals circular mode's, near unit variance (1 at noise_gain 1, and never below noise_gain²)
    at the first and last frames as in the middle. Mirroring the noise too would correlate the end frames
    with their own copies and change the variance there.
    """
    if layout.shape != noise.shape:
        raise ValueError(f"layout {tuple(layout.shape)} and noise {tuple(noise.shape)} differ in shape")
    check_temporal_padding(temporal_padding)
    noise32 = noise.float()
    if temporal_padding == "circular":
        return frameinit_mix(noise_gain * noise32 + layout_gain * layout.float(), noise32, **filter_args)
    noise_low = lowpass((noise_gain - 1) * noise32, **filter_args)
    return noise32 + noise_low + layout_gain * lowpass(layout.float(), temporal_padding=temporal_padding,
                                                        **filter_args)
