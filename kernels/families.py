"""One small adapter per model family: how the family's latent looks and how the conditioning image enters it.

Everything the pack does differently per family reads it from here (no ``if family ==`` chains in the nodes).
Adding a family = one entry in ``FAMILIES`` (+ its detection rule in ``nodes/families.py``), a workflow, tests.
Facts from ComfyUI 0.8.0 (see ../shared/spec/models.md). No ComfyUI import.
"""
from __future__ import annotations

from dataclasses import dataclass

CONCAT, IN_LATENT = "concat", "in_latent"


@dataclass(frozen=True)
class Family:
    key: str             # stable id, written into statistics files
    label: str           # what a user reads in messages and the README
    channels: int | None  # latent channels (None: not fixed by the family)
    t_stride: int        # video frames per latent frame (causal VAEs: latent frame 0 holds video frame 0 alone)
    s_stride: int        # pixels per latent pixel
    image_entry: str     # CONCAT: image latent rides in the conditioning; IN_LATENT: written into the latent
    #                      under a noise_mask the sampler keeps
    causal: bool = False  # causal video VAE: latent frames = (video frames - 1) / t_stride + 1
    nested: bool = False  # the latent is a NestedTensor (video part first, then e.g. audio)
    frames_as_batch: bool = False  # 4-D latents [frames, C, H, W] (SVD style)
    full_attention: bool = False  # a DiT whose attention already sees frame 0 (no first-frame patch needed)

    def latent_frames(self, video_frames: int) -> int:
        if self.causal:
            return (video_frames - 1) // self.t_stride + 1
        return video_frames // self.t_stride

    def video_frames(self, latent_frames: int) -> int:
        """The pixel frame count whose encoding has ``latent_frames`` latent frames (the smallest such count)."""
        if self.causal:
            return (latent_frames - 1) * self.t_stride + 1
        return latent_frames * self.t_stride


FAMILIES = {f.key: f for f in (
    Family("svd", "SVD / SVD-XT", 4, 1, 8, CONCAT, frames_as_batch=True),
    Family("dynamicrafter", "DynamiCrafter / VideoCrafter1", 4, 1, 8, CONCAT),
    Family("consisti2v", "ConsistI2V (native)", 4, 1, 8, CONCAT),
    Family("wan21", "Wan 2.1 / 2.2 14B", 16, 4, 8, CONCAT, causal=True, full_attention=True),
    Family("wan22_5b", "Wan 2.2 5B", 48, 4, 16, IN_LATENT, causal=True, full_attention=True),
    Family("ltxv", "LTXV", 128, 8, 32, IN_LATENT, causal=True, full_attention=True),
    Family("ltx2", "LTX-2 (audio+video)", 128, 8, 32, IN_LATENT, causal=True, nested=True, full_attention=True),
    Family("hunyuan15", "HunyuanVideo 1.5", 32, 4, 16, CONCAT, causal=True, full_attention=True),
    Family("cosmos_predict2", "Cosmos Predict2", 16, 4, 8, IN_LATENT, causal=True, full_attention=True),
    Family("generic", "other model", None, 1, 8, CONCAT),
)}


def family(key: str) -> Family:
    if key not in FAMILIES:
        raise ValueError(f"unknown model family {key!r}: known are {', '.join(FAMILIES)}")
    return FAMILIES[key]
