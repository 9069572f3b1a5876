"""What a FrameInit layout that does not fit the sampled latent should become, in the model family's terms
(its VAE's channels, spatial stride, temporal stride and causality: kernels/families.py). No ComfyUI import.

Every function takes ``family`` = a :class:`~kernels.families.Family` or None; None and the ``generic`` family
(a model the pack does not know) give the family-free wording.
"""
from __future__ import annotations

from .families import Family


def _known(family: Family | None) -> bool:
    return family is not None and family.key != "generic"


def rank_hint(family: Family | None) -> str:
    """Why a layout of the wrong rank (4-D vs 5-D) does not fit, and the fix."""
    hint = "encode the layout with this model's VAE"
    if _known(family):
        shape = "4-D [frames, C, H, W]" if family.frames_as_batch else "5-D [B, C, frames, H, W]"
        hint += f" ({family.label} latents are {shape})"
    return hint


def frames_message(family: Family | None, frames: int, sampled: int, drop_first_frame: bool) -> str:
    """The error for a layout with ``frames`` latent frames where the sampled latent has ``sampled``."""
    extra = 1 if drop_first_frame else 0
    want = sampled + extra
    head = (f"layout has {frames} frame(s) but the sampled latent has {sampled}"
            f"{' (+1 dropped first frame)' if extra else ''}, so it needs {want}: ")
    known = _known(family)
    causal = known and family.causal
    if causal:
        px, t = family.video_frames(want), family.t_stride
        make = (f"make the layout video {px} pixel frames long ({family.label}'s causal VAE turns {t}k+1 pixel "
                "frames into k+1 latent frames)")
        if frames != 1 and frames == family.latent_frames(want):
            make += (f". A {want}-frame layout video encodes to {frames} latent frames: give Static Layout the "
                     "pixel frame count, not the latent one")
    elif known and family.t_stride == 1:
        make = (f"make the layout video {want} pixel frames long (the sampled video's frame count"
                f"{', +1 for the dropped first frame' if extra else ''})")
    else:
        make = "make the layout with the frame count of the sampled video"
    if frames == 1:
        hint = "it is a single image latent: make a layout video with 'ConsistI2V Static Layout' and VAE Encode it"
        if known and (causal or family.t_stride == 1):
            hint += "; " + make
    else:
        hint = make
    if not extra and not causal:
        hint += "; or enable drop_first_frame if the layout includes the conditioning frame"
    return head + hint


def channels_message(family: Family | None, layout_channels: int, sampled_channels: int) -> str:
    msg = (f"layout has {layout_channels} latent channels but the model samples {sampled_channels}: encode the "
           "layout with this model's VAE")
    if _known(family) and family.channels == sampled_channels:
        msg += f": {family.label} latents have {sampled_channels} channels"
    return msg


def size_message(family: Family | None, layout_hw: tuple[int, int], sampled_hw: tuple[int, int]) -> str:
    (lh, lw), (sh, sw) = layout_hw, sampled_hw
    head = f"layout latent is {lh}x{lw} but the sampled latent is {sh}x{sw}: resize the layout images to "
    if _known(family):
        s = family.s_stride
        return (f"{head}{sw * s}x{sh * s} pixels ({family.label}'s VAE: {s} pixels per latent pixel) before "
                "encoding")
    return f"{head}{sw * 8}x{sh * 8} pixels (x8 for most VAEs) before encoding"
