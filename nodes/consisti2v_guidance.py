"""ConsistI2V's text + image guidance (the official ``guidance_scale_txt`` / ``guidance_scale_img``) as a GUIDER."""
from __future__ import annotations

import comfy.samplers
import node_helpers
from comfy_api.latest import io

from ..consisti2v.model import FIRST_FRAME_KEY, FIRST_FRAME_STATE_KEY, ConsistI2VModel
from ..kernels.consisti2v_guidance import (
    NoiseInputError,
    check_scale,
    combine,
    guidance_mode,
    noisy_first_frame,
)

NOISY_NEGATIVE = "negative_noisy_first_frame"
WHERE = "ConsistI2V Guider input 'noise'"  # errors at sampling time show on SamplerCustomAdvanced: name the guider


class ImageTextGuider(comfy.samplers.CFGGuider):
    """Three branches in image mode (empty prompt + noisy first frame, empty prompt, prompt); CFG otherwise."""

    def set_guidance(self, positive, negative, cfg_text: float, cfg_image: float, noise=None):
        self.cfg_text, self.cfg_image, self.noise_source = cfg_text, cfg_image, noise
        self.mode = guidance_mode(cfg_text, cfg_image)
        self.cfg = cfg_text
        self.negative = negative
        self.inner_set_conds({"positive": positive, "negative": negative})

    def sample(self, noise, latent_image, sampler, sigmas, denoise_mask=None, callback=None, disable_pbar=False,
               seed=None):
        if self.mode == "image" and sigmas.shape[-1] > 0:
            source_seed = getattr(self.noise_source, "seed", None)
            if seed is not None and source_seed is not None and int(seed) != int(source_seed):
                raise ValueError(f"{WHERE}: its NOISE has seed {source_seed} but SamplerCustomAdvanced's has seed "
                                 f"{seed}; connect the same NOISE node to both")
            try:
                frame = noisy_first_frame(self.noise_source, latent_image,
                                          self.model_patcher.get_model_object("model_sampling"), float(sigmas[0]))
            except NoiseInputError as err:
                raise ValueError(f"{WHERE}: {err}") from err
            noisy = node_helpers.conditioning_set_values(self.negative, {FIRST_FRAME_STATE_KEY: frame})
            self.inner_set_conds({NOISY_NEGATIVE: noisy})
        return super().sample(noise, latent_image, sampler, sigmas, denoise_mask=denoise_mask, callback=callback,
                              disable_pbar=disable_pbar, seed=seed)

    def predict_noise(self, x, timestep, model_options={}, seed=None):  # noqa: B006 (ComfyUI's signature)
        if self.mode == "image":
            conds = [self.conds.get(NOISY_NEGATIVE), self.conds.get("negative"), self.conds.get("positive")]
            noisy, uncond, cond = comfy.samplers.calc_cond_batch(self.inner_model, conds, x, timestep, model_options)
            return combine(noisy, uncond, cond, self.cfg_text, self.cfg_image)
        scale = self.cfg_text if self.mode == "text" else 1.0  # official: no CFG at all when both scales are <= 1
        return comfy.samplers.sampling_function(self.inner_model, x, timestep, self.conds.get("negative"),
                                                self.conds.get("positive"), scale, model_options=model_options,
                                                seed=seed)


def _check_first_frame(name: str, conditioning) -> None:
    if not conditioning or any(FIRST_FRAME_KEY not in c[1] for c in conditioning):
        raise ValueError(f"{name}: image guidance needs the first frame in this conditioning; connect the {name} "
                         "output of 'ConsistI2V Conditioning'")


class ConsistI2VGuider(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ConsistI2VGuider",
            display_name="ConsistI2V Guider (text + image CFG)",
            category="sampling/custom_sampling/guiders",
            description=(
                "ConsistI2V's guidance for SamplerCustomAdvanced, as the official pipeline combines it. cfg_image "
                "above 1 turns on image guidance: a third branch sees the empty prompt and, instead of the clean "
                "first frame, the start noise's first frame, and the guidance points from it towards the given "
                "first frame (u_noisy + cfg_image (u - u_noisy) + cfg_text (c - u)). Otherwise it is text CFG (cfg_text above 1) or the prompt alone, as CFGGuider."),
            inputs=[
                io.Model.Input("model", tooltip="The ConsistI2V model (image guidance needs it; text CFG works on any "
                                                 "model)."),
                io.Conditioning.Input("positive", tooltip="The positive output of 'ConsistI2V Conditioning'."),
                io.Conditioning.Input("negative", tooltip=(
                    "The negative output of 'ConsistI2V Conditioning' (ConsistI2V uses an empty prompt).")),
                io.Float.Input("cfg_text", default=7.5, min=0.0, max=100.0, step=0.1, round=0.01, tooltip=(
                    "Text guidance (official guidance_scale_txt, 7.5): the CFG scale of the prompt. "
                    "At 1 or below, with cfg_image at 1, the prompt branch runs alone.")),
                io.Float.Input("cfg_image", default=1.0, min=0.0, max=100.0, step=0.1, round=0.01, tooltip=(
                    "Image guidance (official guidance_scale_img; 1.0 in the official configs and demo = off). "
                    "Above 1 it adds guidance from a noise first frame towards the given one (the official 'both' "
                    "mode); costs a third model call per step. Needs the noise input.")),
                io.Noise.Input("noise", optional=True, tooltip=(
                    "The NOISE that feeds SamplerCustomAdvanced (needed when cfg_image > 1): its start state's first "
                    "frame is the noisy first frame. FrameInit Noise with drop_first_frame gives exactly the "
                    "official one.")),
            ],
            outputs=[io.Guider.Output()],
        )

    @classmethod
    def execute(cls, model, positive, negative, cfg_text, cfg_image, noise=None) -> io.NodeOutput:
        cfg_text, cfg_image = check_scale("cfg_text", cfg_text), check_scale("cfg_image", cfg_image)
        if guidance_mode(cfg_text, cfg_image) == "image":
            if not isinstance(model.model, ConsistI2VModel):
                raise ValueError(f"model: image guidance (cfg_image {cfg_image} > 1) needs the ConsistI2V model "
                                 f"('Load ConsistI2V Model'), got {type(model.model).__name__}; set cfg_image to 1 "
                                 "for text guidance only")
            _check_first_frame("positive", positive)
            _check_first_frame("negative", negative)
            if noise is None:
                raise ValueError(f"noise: image guidance (cfg_image {cfg_image} > 1) feeds the start noise's first "
                                 "frame to its unconditional branch; connect the NOISE that feeds "
                                 "SamplerCustomAdvanced, or set cfg_image to 1")
        guider = ImageTextGuider(model)
        guider.set_guidance(positive, negative, cfg_text, cfg_image, noise)
        return io.NodeOutput(guider)
