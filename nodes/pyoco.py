"""PYoCo correlated video noise -> NOISE."""
from __future__ import annotations

from comfy_api.latest import io

from ..kernels.noise_objects import PYoCoNoise
from ..kernels.pyoco import check_alpha
from .common import NOISE_CATEGORY, node_origin, noise_type_inputs, seed_input


class ConsistI2VPYoCoNoise(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ConsistI2VPYoCoNoise",
            display_name="PYoCo Video Noise (ConsistI2V)",
            category=NOISE_CATEGORY,
            description=(
                "Correlated video noise (PYoCo) for SamplerCustomAdvanced, in place of RandomNoise. Frames share "
                "part of their noise, which keeps the subject and layout steadier across the clip. Works with any "
                "ComfyUI video model (4-D frames-as-batch latents such as SVD, or 5-D video latents such as Wan). Frames a "
                "noise mask holds (the image of Wan 2.2 5B, LTXV, LTX-2, Cosmos I2V latents) get ComfyUI's own noise "
                "for the seed, and so does the audio part of LTX-2's audio+video latent."),
            inputs=[seed_input(), *noise_type_inputs()],
            outputs=[io.Noise.Output(display_name="NOISE")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, seed, noise_type, pyoco_alpha) -> io.NodeOutput:
        check_alpha(pyoco_alpha)
        return io.NodeOutput(PYoCoNoise(seed=seed, kind=noise_type, alpha=pyoco_alpha, origin=node_origin(cls)))
