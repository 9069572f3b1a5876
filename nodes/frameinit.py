"""FrameInit (ConsistI2V) noise and the static layout it starts from."""
from __future__ import annotations

from comfy_api.latest import io

from ..kernels import layout as lay
from ..kernels.families import FAMILIES
from ..kernels.memory import check_fits
from ..kernels.noise_objects import LAYOUT_FIX, FrameInitNoise
from ..kernels.pyoco import check_alpha
from ..kernels.schedules import DEFAULT_TAU_SCALE, TAU_SCALES, layout_noise_sigma
from ..kernels.spectral import FILTER_TYPES, TEMPORAL_PADDINGS, check_filter_args, check_temporal_padding
from .common import NOISE_CATEGORY, node_origin, noise_type_inputs, seed_input, start_state
from .families import family_of
from .memory import free_memory

TIMESTEP_SCALE_TOOLTIP = (
    "How noise_timestep becomes this model's noise level. auto (default): the layout keeps the share of the "
    "start state's low frequencies that ConsistI2V gives it at noise_timestep (9.2% at 850) on SVD, DDPM, Wan, "
    "LTXV, HunyuanVideo and Cosmos models at any shift, as far as the model's largest noise level allows; on "
    "ConsistI2V's own schedule it is exactly model_schedule. model_schedule: noise_timestep read on this model's "
    "own schedule (the default before auto: saved nodes keep it); at 850 SVD keeps 1.0% of the layout and Wan, "
    "LTXV and HunyuanVideo 1.5 at their default shift 1.6-2.5%, close to plain noise. consisti2v_snr: "
    "ConsistI2V's layout-to-noise ratio at noise_timestep, always solved numerically (the same share as auto).")

# Example pixel frame counts for the causal VAEs' temporal strides (Wan's 81, LTXV's 97).
_EXAMPLE_PIXEL_FRAMES = {4: 81, 8: 97}


def static_layout_frames_tooltip() -> str:
    """The Static Layout ``frames`` tooltip: how many pixel frames each family's VAE needs (from FAMILIES)."""
    groups: dict = {}
    for fam in FAMILIES.values():
        groups.setdefault((fam.causal, fam.t_stride), []).append(fam)
    rules = []
    for (causal, t), fams in groups.items():
        labels = ", ".join("most other models" if f.key == "generic" else f.label for f in fams)
        if causal:
            px = _EXAMPLE_PIXEL_FRAMES.get(t, 8 * t + 1)
            rules.append(f"{labels}: {t}k+1 (e.g. {px} pixel frames -> {fams[0].latent_frames(px)} latent frames)")
        elif t == 1:
            rules.append(f"{labels}: one per latent frame (ConsistI2V: +1 with drop_first_frame)")
        else:
            rules.append(f"{labels}: {t} per latent frame")
    return ("Frames of the layout video in pixels: the sampled video's length, which the VAE must turn into the "
            "sampled latent's frame count. " + ". ".join(rules) + ".")


def frameinit_inputs() -> list:
    """FrameInit's noise level and filter inputs, shared by every node that builds FrameInit noise."""
    return [
        io.Int.Input("noise_timestep", default=850, min=0, max=999, tooltip=(
            "How deeply the layout is noised, on a 1000-step scale (ConsistI2V: 850). Lower keeps more of "
            "the layout (steadier, less motion); higher frees the video (more motion, may drift).")),
        io.Combo.Input("timestep_scale", options=list(TAU_SCALES), default=DEFAULT_TAU_SCALE,
                       tooltip=TIMESTEP_SCALE_TOOLTIP),
        io.Combo.Input("filter", options=list(FILTER_TYPES), default="gaussian", tooltip=(
            "Low-pass shape. gaussian (ConsistI2V) is smooth; butterworth is sharper; ideal/box cut hard "
            "and can ring.")),
        io.Float.Input("spatial_cutoff", default=0.25, min=0.0, max=1.0, step=0.01, tooltip=(
            "d_s: spatial stop frequency (0..1 of Nyquist). Raise it to keep finer layout detail (less "
            "freedom); lower it to keep only the rough composition. 0 disables FrameInit.")),
        io.Float.Input("temporal_cutoff", default=0.25, min=0.0, max=1.0, step=0.01, tooltip=(
            "d_t: temporal stop frequency. Raise it to follow a camera layout more closely frame by frame; "
            "lower it for a steadier video. 0 disables FrameInit.")),
        io.Int.Input("butterworth_order", default=4, min=1, max=64,
                     tooltip="Steepness of the butterworth filter (ignored by the other filters)."),
    ]



def frameinit_noise_builder(model, sigmas, noise_timestep, timestep_scale, filter, spatial_cutoff, temporal_cutoff,
                            butterworth_order, noise_type, pyoco_alpha, official_filters=False,
                            temporal_padding="mirror"):
    """Check the inputs of ``frameinit_inputs`` + ``noise_type_inputs`` once and return
    ``build(seed, layout, drop_first_frame=False) -> FrameInitNoise`` for this MODEL and SIGMAS."""
    check_filter_args(filter, spatial_cutoff, temporal_cutoff, butterworth_order)
    check_alpha(pyoco_alpha)
    check_temporal_padding(temporal_padding)
    start = start_state(model, sigmas)
    sigma_tau = layout_noise_sigma(start.model_sampling, noise_timestep, timestep_scale)
    fam = family_of(model)

    def build(seed, layout, drop_first_frame=False, origin="", layout_input="layout") -> FrameInitNoise:
        return FrameInitNoise(origin=origin, layout_input=layout_input, family=fam,
            seed=seed, layout=layout, start=start, sigma_tau=sigma_tau, drop_first_frame=drop_first_frame,
            noise_kind=noise_type, alpha=pyoco_alpha, filter_kind=filter, d_s=spatial_cutoff, d_t=temporal_cutoff,
            order=butterworth_order, official_filters=official_filters, temporal_padding=temporal_padding)

    return build

class ConsistI2VFrameInitNoise(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ConsistI2VFrameInitNoise",
            display_name="FrameInit Noise (ConsistI2V)",
            category=NOISE_CATEGORY,
            description=(
                "ConsistI2V's FrameInit as a NOISE for SamplerCustomAdvanced: the start noise keeps the "
                "low-frequency layout of a layout video (the first frame repeated, or a camera move) and fresh "
                "high frequencies. Keeps the video on the first frame's composition and colours; with a camera "
                "layout it steers the camera without training. Connect the same MODEL and SIGMAS as the sampler."),
            inputs=[
                io.Model.Input("model", tooltip="The model being sampled (its noise schedule places the start state)."),
                io.Latent.Input("layout", tooltip=(
                    "VAE-encoded layout video with the sampled video's frame count and size: e.g. 'ConsistI2V "
                    "Static Layout' -> VAE Encode. Its low frequencies become the start of sampling.")),
                io.Sigmas.Input("sigmas", tooltip="The SIGMAS that feed SamplerCustomAdvanced."),
                seed_input(),
                *frameinit_inputs(),
                io.Boolean.Input("drop_first_frame", default=False, tooltip=(
                    "On for models that condition on a clean first frame outside the sampled latent (ConsistI2V): "
                    "the layout then has one frame more than the sampled video. Off for SVD, Wan and most others.")),
                *noise_type_inputs(),
                io.Boolean.Input("official_filters", default=False, tooltip=(
                    "Reproduce the official ConsistI2V/FreeInit filters exactly, quirks included (off-centre grid "
                    "for odd sizes, ideal cutoff d²<=2·d_s, asymmetric box). Only for parity with the paper code.")),
                io.Combo.Input("temporal_padding", options=list(TEMPORAL_PADDINGS), default="mirror", optional=True,
                               tooltip=(
                    "What the layout continues into at its ends before the low-pass. mirror (default): the clip "
                    "played backwards, end frames repeated; reflect: the same without repeating them. Either keeps "
                    "the end of a camera move out of its first frames. circular: the official FFT wrap (the last "
                    "frames leak into the first), for parity with the paper code. A layout that does not change "
                    "over time gives the same noise with all three.")),
            ],
            outputs=[io.Noise.Output(display_name="NOISE")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, layout, sigmas, seed, noise_timestep, timestep_scale, filter, spatial_cutoff,
                temporal_cutoff, butterworth_order, drop_first_frame, noise_type, pyoco_alpha,
                official_filters, temporal_padding="mirror") -> io.NodeOutput:
        samples = layout["samples"]
        if getattr(samples, "is_nested", False):
            raise ValueError(
                "layout is a nested (multi-part) latent such as LTX-2's audio+video latent: connect the VAE Encode "
                "of a layout video (Static Layout or Camera Layout -> the video VAE), a plain video latent")
        if samples.ndim not in (4, 5):
            raise ValueError(f"layout is {samples.ndim}-D {tuple(samples.shape)}: connect a VAE-encoded video")
        if lay.frame_count(samples) < 2:
            raise ValueError(
                "layout is a single image latent (1 frame): FrameInit needs a layout video. Use 'ConsistI2V Static "
                "Layout' to repeat the image over the video's frames, then VAE Encode it")
        lay.check_finite(samples, "layout", LAYOUT_FIX)
        build = frameinit_noise_builder(model, sigmas, noise_timestep, timestep_scale, filter, spatial_cutoff,
                                        temporal_cutoff, butterworth_order, noise_type, pyoco_alpha, official_filters,
                                        temporal_padding)
        return io.NodeOutput(build(seed, samples.detach().cpu(), drop_first_frame, origin=node_origin(cls)))


class ConsistI2VStaticLayout(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ConsistI2VStaticLayout",
            display_name="Static Layout (ConsistI2V)",
            category="image/video",
            description=(
                "Repeats the conditioning image over the video's frames: the static layout that FrameInit keeps "
                "the video close to. VAE Encode the result and connect it to FrameInit Noise's layout."),
            inputs=[
                io.Image.Input("image", tooltip="The first frame (the first image of a batch is used)."),
                io.Int.Input("frames", default=16, min=1, max=4096, tooltip=static_layout_frames_tooltip()),
            ],
            outputs=[io.Image.Output(display_name="IMAGE")],
        )

    @classmethod
    def execute(cls, image, frames) -> io.NodeOutput:
        if image.ndim != 4 or image.shape[0] < 1:
            raise ValueError(f"image must be an IMAGE batch [B, H, W, C]; got shape {tuple(image.shape)}")
        lay.check_finite(image[:1], "image", "it came out of an earlier node broken (e.g. a diverged sampler's "
                         "VAE Decode): connect a clean image; a NaN layout makes FrameInit's whole video NaN")
        h, w = image.shape[1:3]
        check_fits(int(frames) * image[:1].numel() * image.element_size(), free_memory(),
                   f"a {frames}-frame {w}x{h} static layout", "lower frames or the image size")
        return io.NodeOutput(image[:1].repeat(int(frames), 1, 1, 1))
