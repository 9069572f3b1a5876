"""Where TimeNoise Conditioning finds the conditional image in each family's conditioning, and how it noises it.

- SVD (SVD_img2vid_Conditioning): ``concat_latent_image`` [B, 4, h, w] (unscaled); image embedding = the
  conditioning tensor itself (pooled CLIP image embedding; marked by ``motion_bucket_id``).
- Wan 2.1 I2V (WanImageToVideo): ``concat_latent_image`` [B, 16, T, h, w] with ``concat_mask`` (0 = given frame):
  only the given frames are noised; image embedding = the tensors of ``clip_vision_output``.
- the pack's DynamiCrafter / VideoCrafter1: the image latent (scaled to model space, repeated over the frames, as
  the official concat) and the CLIP image tokens, noised after the Resampler inside the UNet.
Text conditioning is never noised: a conditioning without the target is refused.
"""
from __future__ import annotations

import comfy.clip_vision
import torch

from ..dynamicrafter.model import (CLIP_TOKENS_KEY, CONCAT_KEY, FRAMES_KEY, IMAGE_LATENT_KEY, TOKEN_NOISE_KEY,
                                   DynamiCrafterConfig)
from ..kernels import timenoise as tn

CONCAT = "concat_latent_image"
MASK = "concat_mask"
CLIP_VISION = "clip_vision_output"
SVD_MARKER = "motion_bucket_id"
SOURCES = ("SVD_img2vid_Conditioning (concat_latent + image_embedding), WanImageToVideo with start_image "
           "(concat_latent; image_embedding with clip_vision_output) or CIL DynamiCrafter Conditioning (both)")


def supported(extra: dict) -> list[str]:
    out = []
    if IMAGE_LATENT_KEY in extra or CONCAT in extra:
        out.append("concat_latent")
    if CLIP_TOKENS_KEY in extra or CLIP_VISION in extra or SVD_MARKER in extra:
        out.append("image_embedding")
    return out


def missing(target: str, what: str, name: str, i: int, extra: dict) -> ValueError:
    has = supported(extra)
    offer = f"this conditioning supports target {' / '.join(has)}" if has else \
        "this conditioning supports no target (it holds no image)"
    return ValueError(f"target {target}: {name} (entry {i}) carries no {what}; {offer}. Images come in through "
                      f"{SOURCES}")


def check_frames(frames: int, video: int | None, name: str, where: str) -> None:
    """``frames`` N must be the video's frame count ``video`` (None: the conditioning does not say)."""
    if frames <= 0:
        return
    if video is None:
        raise ValueError(f"frames = {frames}: {name}'s conditioning does not say how many frames the video has: "
                         "connect latent (the video latent the sampler samples, e.g. SVD_img2vid_Conditioning's), "
                         "or set frames to 0")
    if frames != video:
        raise ValueError(f"frames = {frames} but the video has {video} frames ({where}): set frames to {video}, "
                         "or 0")


def latent_frames(latent: dict | None) -> int | None:
    if latent is None:
        return None
    samples = latent["samples"]
    return int(samples.shape[2] if samples.ndim == 5 else samples.shape[0])


def given_weight(mask: torch.Tensor, concat: torch.Tensor, name: str) -> torch.Tensor:
    """1 where concat_mask marks the image as given (mask 0), 0 on the frames left to generate (mask 1)."""
    m = mask if mask.shape[1] == 1 else mask.mean(dim=1, keepdim=True)  # as the Wan model reads it
    if m.ndim != 5 or tuple(m.shape[2:]) != tuple(concat.shape[2:]):
        raise ValueError(f"{name}'s concat_mask {tuple(mask.shape)} does not fit its concat_latent_image "
                         f"{tuple(concat.shape)}: connect WanImageToVideo's outputs unchanged")
    return (1.0 - m.float()).clamp(0.0, 1.0)


def noise_concat(extra: dict, name: str, i: int, target: str, level: float, form: str, frames: int, gen,
                 video: int | None) -> dict:
    """The noised image latent as conditioning values."""
    if IMAGE_LATENT_KEY in extra:  # the pack's DynamiCrafter: official c + β·ε per element and frame, model space
        length = int(extra[FRAMES_KEY])
        check_frames(frames, length, name, "CIL DynamiCrafter Conditioning's length")
        scaled = DynamiCrafterConfig.latent_format().process_in(extra[IMAGE_LATENT_KEY][:1].float())
        video_latent = scaled.repeat(length, 1, 1, 1).unsqueeze(0)  # one sample: [1, frames, 4, h, w]
        return {CONCAT_KEY: tn.apply_timenoise(video_latent, level, gen, form)[0]}
    concat = extra.get(CONCAT)
    if concat is None:
        raise missing(target, "conditional image latent (concat_latent_image)", name, i, extra)
    if concat.ndim == 5:  # Wan-style video latent [B, C, T, h, w]: noise only the given frames
        check_frames(frames, int(concat.shape[2]), name, "latent frames of its concat_latent_image")
        mask = extra.get(MASK)
        weight = None if mask is None else given_weight(mask, concat, name)
        return {CONCAT: tn.apply_timenoise(concat, level, gen, form, weight=weight)}
    check_frames(frames, video, name, "the latent")
    if frames > 0 and form == "per_element":  # one image → independent noise on each of the video's frames
        if concat.shape[0] not in (1, frames):
            raise ValueError(f"frames = {frames} but {name}'s concat_latent_image has {concat.shape[0]} "
                             "images: set frames to 0")
        concat = concat.expand(frames, *concat.shape[1:])
    return {CONCAT: tn.apply_timenoise(concat, level, gen, form)}


def noise_clip_vision(output, level: float, form: str, gen):
    """A copy of a CLIP vision output with every tensor it holds noised (the input is left as it is)."""
    out = comfy.clip_vision.Output()
    for key, value in vars(output).items():
        out[key] = value
    for key in sorted(vars(output)):
        value = out[key]
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            out[key] = tn.apply_timenoise(value, level, gen, form)
    return out


def noise_embedding(tensor: torch.Tensor, extra: dict, name: str, i: int, target: str, level: float, form: str,
                    gen):
    """(conditioning tensor, values) with the image embedding noised."""
    if CLIP_TOKENS_KEY in extra:  # DynamiCrafter / VideoCrafter1: drawn inside the UNet after the Resampler
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=gen))
        return tensor, {TOKEN_NOISE_KEY: (float(level), seed, form == "per_element")}
    if CLIP_VISION in extra:
        return tensor, {CLIP_VISION: noise_clip_vision(extra[CLIP_VISION], level, form, gen)}
    if SVD_MARKER in extra:  # SVD: the conditioning tensor is the CLIP image embedding
        return tn.apply_timenoise(tensor, level, gen, form), {}
    raise missing(target, "image embedding, only text conditioning (never noised)", name, i, extra)
