"""Noise for latents that carry a ``noise_mask`` or several parts (nested latents), shared by every NOISE object.

What ComfyUI does with them (0.8.0 and 0.3.64; comfy/samplers.py, comfy/sample.py, comfy/model_base.py):

- ``KSAMPLER.sample`` builds the start ``x = noise_scaling(σ0, noise, L)`` on *every* element, masked or not
  (``L`` = the processed input latent). Before each model call ``KSamplerX0Inpaint`` replaces
  ``x ← m·x + (1 − m)·scale_latent_inpaint(σ, noise, L)`` (``m`` = the noise mask resized to the latent by
  ``comfy.utils.reshape_mask``), and after it ``denoised ← m·denoised + (1 − m)·L``.
- ``scale_latent_inpaint`` is ``noise_scaling(σ, noise, L)`` on the base model (plain inpainting: the held part is
  re-noised with *this same noise tensor* at every σ), and the clean ``L`` (Cosmos Predict2: ``L`` scaled so the
  model input is ``L``) on the in-latent I2V families WAN22 (Wan 2.2 5B), LTXV, LTXAV (LTX-2) and CosmosPredict2,
  whose ``process_timestep`` then tells the model the level ``m·σ`` per frame/token.

Consequences, which :func:`noise_for_latent` implements:

- **free elements (m = 1)**: the model's first input is ``calculate_input(σ0, x)`` exactly as without a mask, so the
  object's affine solve places its intended state there exactly.
- **held elements (m = 0) and partial ones (0 < m < 1, LTXV's ``1 − strength``)** get the plain Gaussian noise
  core's ``RandomNoise`` draws for the same seed, value for value. Held: on the in-latent families the model never
  sees that noise, and the sampler keeps ``denoised = L`` there, so the held frames end exactly as they end with
  RandomNoise (bit for bit: the frame's trajectory is an element-wise function of its noise, ``L`` and the
  sigmas); on the base model the held part is re-noised with it at every σ, which needs i.i.d. unit noise. Partial:
  the first model input there is ``m·x + (1 − m)·S`` (flow, in-latent: ``(m·σ0)·noise + (1 − m·σ0)·L``), the
  conditioning noised to the level ``m·σ0`` that the per-frame timestep announces; a start state built for ``σ0``
  would contradict that timestep, so those elements keep the model's own forward-process noise.
- **nested latents** (LTX-2: ``NestedTensor(video, audio)``): ``comfy.sample.prepare_noise`` draws one tensor per
  part from one generator, in order. The object's noise shapes the video part (part 0); every other part gets
  core's draw (the video draw is made first, so the audio noise equals RandomNoise's audio noise), and the result
  is a nested tensor of the same structure. A plain mask applies to part 0 (core pads the other parts with ones),
  a nested mask gives one mask per part. ComfyUI processes the latent (``process_latent_in``) only when some part
  is non-zero: :attr:`VideoPart.processed` says so for the whole latent.

No ComfyUI import: nested tensors are duck-typed (``is_nested``, ``unbind()`` / ``tensors``) and rebuilt with
``type(samples)(parts)`` or a constructor passed in.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

FREE_TOL = 1e-6  # |m - 1| below this counts as free (a resized mask may hold 1 - 1 ulp where the user drew 1)


def is_nested(t) -> bool:
    return bool(getattr(t, "is_nested", False))


def parts_of(t) -> list:
    """The tensors of a nested tensor (ComfyUI's NestedTensor: ``unbind()``), or ``[t]``."""
    if not is_nested(t):
        return [t]
    parts = t.unbind() if hasattr(t, "unbind") else t.tensors
    return list(parts)


def _video(part) -> torch.Tensor:
    if is_nested(part) or not isinstance(part, torch.Tensor):
        raise ValueError(f"latent_image holds a {type(part).__name__} where a video latent tensor belongs")
    if part.ndim not in (4, 5):
        raise ValueError(
            f"latent_image is {part.ndim}-D {tuple(part.shape)}: a video latent must be 4-D "
            "[frames, C, H, W] or 5-D [B, C, frames, H, W]"
        )
    return part


def core_noise(parts: Sequence[torch.Tensor], seed: int, noise_inds=None) -> list[torch.Tensor]:
    """What ``comfy.sample.prepare_noise`` returns for these parts (one CPU generator, one draw per part, in order;
    ``noise_inds`` = the latent's ``batch_index``), without touching the global RNG."""
    gen = torch.Generator("cpu").manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF)
    out = []
    for part in parts:
        if noise_inds is None:
            out.append(torch.randn(part.size(), dtype=part.dtype, layout=part.layout, generator=gen, device="cpu"))
            continue
        unique, inverse = np.unique(noise_inds, return_inverse=True)
        noises = []
        for i in range(int(unique[-1]) + 1):
            noise = torch.randn([1] + list(part.size())[1:], dtype=part.dtype, layout=part.layout, generator=gen,
                                device="cpu")
            if i in unique:
                noises.append(noise)
        out.append(torch.cat([noises[i] for i in np.asarray(inverse).reshape(-1)], dim=0))
    return out


def reshape_mask(mask: torch.Tensor, shape) -> torch.Tensor:
    """``comfy.utils.reshape_mask``: the noise mask resized to a latent of ``shape`` as the sampler sees it."""
    shape = tuple(int(s) for s in shape)
    dims = len(shape) - 2
    mask = torch.as_tensor(mask)
    if dims == 2:
        mask = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1]))
        mode = "bilinear"
    elif dims == 3:
        if mask.ndim < 5:
            mask = mask.reshape((1, 1, -1, mask.shape[-2], mask.shape[-1]))
        mode = "trilinear"
    else:
        raise ValueError(f"a noise mask for a {len(shape)}-D latent is not supported")
    out = torch.nn.functional.interpolate(mask, size=shape[2:], mode=mode)
    if out.shape[1] < shape[1]:
        out = out.repeat((1, shape[1]) + (1,) * dims)[:, :shape[1]]
    batch = shape[0]
    if out.shape[0] > batch:
        out = out[:batch]
    elif out.shape[0] < batch:
        out = out.repeat([math.ceil(batch / out.shape[0])] + [1] * (out.ndim - 1))[:batch]
    return out


def video_mask(input_latent: dict, video_shape) -> torch.Tensor | None:
    """The noise mask of the video part (part 0) resized to it, or None when there is none."""
    mask = input_latent.get("noise_mask")
    if mask is None:
        return None
    if is_nested(mask):
        masks = parts_of(mask)
        if not masks:
            return None
        mask = masks[0]
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"noise_mask is a {type(mask).__name__}, not a tensor: connect a LATENT whose mask is a tensor")
    if not mask.is_floating_point():
        mask = mask.float()
    try:
        out = reshape_mask(mask, video_shape)
    except (RuntimeError, ValueError, IndexError) as err:
        raise ValueError(f"noise_mask {tuple(mask.shape)} does not fit the latent {tuple(video_shape)}: {err}") from err
    if not bool(torch.isfinite(out).all()):
        raise ValueError("noise_mask holds NaN or infinite values: rebuild the mask (values in [0, 1])")
    return out


def free_elements(mask: torch.Tensor | None) -> torch.Tensor | None:
    """Where the sampler starts from our ``x`` unchanged (m = 1); None = everywhere."""
    if mask is None:
        return None
    return (mask.float().cpu() - 1).abs() <= FREE_TOL


@dataclass
class VideoPart:
    """The video part of a LATENT as a NOISE object sees it."""
    samples: torch.Tensor   # part 0 (the whole latent when it is not nested)
    processed: bool         # ComfyUI runs process_latent_in on the latent (some part of it is non-zero)
    free: torch.Tensor | None  # bool, True where the noise mask is 1 (None: no mask, all free)
    latent: dict            # the LATENT dict with ``samples`` = the video part and no noise mask


def video_part(input_latent: dict) -> VideoPart:
    samples = input_latent["samples"]
    parts = parts_of(samples)
    if not parts:
        raise ValueError("latent_image is a nested latent with no parts")
    video = _video(parts[0])
    processed = any(bool(torch.count_nonzero(p) > 0) for p in parts)
    free = free_elements(video_mask(input_latent, video.shape))
    plain = {k: v for k, v in input_latent.items() if k != "noise_mask"}
    plain["samples"] = video
    return VideoPart(video, processed, free, plain)


def noise_for_latent(input_latent: dict, seed: int, video_noise: Callable[[VideoPart], torch.Tensor],
                     rebuild: Callable[[list], object] | None = None):
    """The NOISE for ``input_latent``: ``video_noise(part)`` on the free elements of the video part, core's
    RandomNoise draw (same seed) on held/partial elements and on every other part; nested in, nested out."""
    samples = input_latent["samples"]
    part = video_part(input_latent)
    ours = video_noise(part)
    if tuple(ours.shape) != tuple(part.samples.shape):
        raise ValueError(f"the noise has shape {tuple(ours.shape)} for a latent of {tuple(part.samples.shape)}")
    ours = ours.to(part.samples.dtype).cpu()
    nested = is_nested(samples)
    held = part.free is not None and not bool(part.free.all())
    if not nested and not held:
        return ours
    core = core_noise(parts_of(samples), seed, input_latent.get("batch_index"))
    if held:
        ours = torch.where(part.free, ours, core[0])
    if not nested:
        return ours
    return (rebuild or type(samples))([ours] + core[1:])
