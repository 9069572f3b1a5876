"""CIL (Conditional Image Leakage): Analytic-Init NOISE + SIGMAS, its statistics, TimeNoise conditioning."""
from __future__ import annotations

import math
import os

import folder_paths
import torch
from comfy_api.latest import io

from ..kernels import analytic_init as ai
from ..kernels import timenoise as tn
from ..kernels.noise_objects import StartState
from . import timenoise_targets as tt
from .common import NOISE_CATEGORY, node_origin, quoted, seed_input
from .families import family_of

STATS_FOLDER = "cil_statistics"
CIL_CATEGORY = "sampling/custom_sampling/cil"
Statistics = io.Custom("CIL_STATISTICS")


def register_statistics_folder() -> None:
    """models/cil_statistics with a real extension filter (add_model_folder_path alone leaves it empty)."""
    exts = set(ai.STAT_EXTENSIONS)
    default = os.path.join(folder_paths.models_dir, STATS_FOLDER)
    if STATS_FOLDER in folder_paths.folder_names_and_paths:
        paths, old = folder_paths.folder_names_and_paths[STATS_FOLDER]
        if default not in paths:
            paths.append(default)
        folder_paths.folder_names_and_paths[STATS_FOLDER] = (paths, set(old) | exts)
    else:
        folder_paths.folder_names_and_paths[STATS_FOLDER] = ([default], exts)


register_statistics_folder()


def resample_input() -> io.Combo.Input:
    return io.Combo.Input("resample", options=list(ai.RESAMPLE_MODES), default="interpolate", tooltip=(
        "How E[x0] meets another frame count or size: interpolate (bilinear in space, linear in time, ends kept) "
        "keeps its layout; channel_mean keeps only each channel's average (no watermark, no layout)."))


class CILAnalyticInit(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CILAnalyticInit",
            display_name="Analytic-Init (CIL)",
            category=NOISE_CATEGORY,
            description=(
                "CIL Analytic-Init for SamplerCustomAdvanced: starts sampling at an earlier time M from the Gaussian "
                "that best matches the real noisy video there (mean and variance from the statistics), instead of "
                "pure noise at T. Less leakage of the conditioning image: more motion on any image-to-video model. "
                "Outputs the NOISE and the SIGMAS (first sigma = sigma_M); connect both to the sampler."),
            inputs=[
                io.Model.Input("model", tooltip="The model being sampled (its schedule places M and the start state)."),
                Statistics.Input("statistics", tooltip=(
                    "E[x0] and Tr(Cov)/d: Load CIL Statistics (released files, or your own from CIL Estimate "
                    "Statistics: made for this model's family), CIL Estimate Statistics directly, or CIL Statistics "
                    "(mean from an image/layout latent, or zero mean).")),
                io.Float.Input("M", default=100.0, min=0.0, max=100000.0, step=0.1, tooltip=(
                    "Start time, on the model's own scale. SVD/EDM: a sigma (official 100; the model's top is 700). "
                    "DDPM models (DynamiCrafter, VideoCrafter, SD-style): a timestep 1..1000 (official 940-960; "
                    "the first step is M-1). Flow models (Wan, LTX, HunyuanVideo, Cosmos): a timestep 1..1000 before the "
                    "model's shift, sigma = the shifted M/1000 (1000 = pure noise; like KSampler denoise M/1000). "
                    "Lower M = more motion, but too low loses quality. The papers give M only for DynamiCrafter, "
                    "VideoCrafter1 and SVD.")),
                io.Int.Input("steps", default=25, min=1, max=1000, tooltip=(
                    "Sampling steps from M down to 0 (official: 25 for SVD, 50 for DynamiCrafter).")),
                io.Combo.Input("schedule", options=list(ai.SCHEDULES), default="auto", tooltip=(
                    "auto: karras for SVD/EDM (= the official SVD-CIL sigmas), uniform_trailing for DDPM models "
                    "(the official DDIM grid M-1, ...), linear_timesteps for flow models.")),
                seed_input(),
                io.Combo.Input("svd_formula", options=list(ai.SVD_FORMULAS), default="fixed", tooltip=(
                    "fixed: x_M = E + sqrt(sigma^2 + v)·eps (the paper). Compatibility with the official SVD "
                    "pipeline: official_intended adds diffusers' +1 to the variance, official_as_shipped reproduces "
                    "its swapped mean/variance bug, june2024 its first version. SVD/EDM models only.")),
                io.Noise.Input("noise", optional=True, tooltip=(
                    "Optional base noise eps instead of plain Gaussian from the seed: PYoCo Video Noise for "
                    "correlated frames, or FrameInit Noise (its start state) to combine Analytic-Init with "
                    "FrameInit.")),
            ],
            outputs=[io.Noise.Output(display_name="NOISE"), io.Sigmas.Output(display_name="SIGMAS")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, statistics, M, steps, schedule, seed, svd_formula, noise=None) -> io.NodeOutput:
        if not isinstance(statistics, ai.Statistics):
            raise ValueError("statistics: connect Load CIL Statistics or CIL Statistics")
        model_sampling = model.get_model_object("model_sampling")
        latent_format = model.get_model_object("latent_format")
        family = family_of(model)
        statistics.check_family(family.key)
        channels = getattr(latent_format, "latent_channels", None)
        if channels is not None:
            statistics.check_channels(channels)
        if family.causal:  # latent frame 0 encodes one video frame: kept apart when E is resampled in time
            statistics = statistics.with_options(causal_stride=family.t_stride)
        scale = ai.start_scale(model_sampling)
        ai.check_M(M, scale)
        if svd_formula not in ai.SVD_FORMULAS:
            raise ValueError(f"svd_formula {quoted(svd_formula)} is unknown: use one of {', '.join(ai.SVD_FORMULAS)}")
        if svd_formula != "fixed" and scale.kind != "sigma":
            raise ValueError(f"svd_formula {quoted(svd_formula)} reproduces the official SVD pipeline: use it only on "
                             "SVD/EDM models; keep 'fixed' for this model")
        sigmas = ai.start_sigmas(model_sampling, M, steps, schedule)
        sigma0 = float(sigmas[0])
        if not math.isfinite(sigma0):
            raise ValueError(f"M = {M:g} gives the first sigma {sigma0} on this model, which is not finite: no start "
                             "state exists there; lower M")
        start = StartState(model_sampling, latent_format.process_in, sigma0, float(model_sampling.sigma_max))
        noise = ai.AnalyticInitNoise(int(seed), start, statistics, svd_formula, noise, origin=node_origin(cls))
        return io.NodeOutput(noise, sigmas)


class CILStatisticsLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CILStatisticsLoader",
            display_name="Load CIL Statistics",
            category="loaders/video_models",
            description=(
                "Loads Analytic-Init statistics (E[x0] and Tr(Cov)/d) from models/cil_statistics: the released "
                "initial_noise files of DynamiCrafter, VideoCrafter and SVD-CIL (safetensors, or .pt read with "
                "weights_only) or files saved by this pack (CIL Estimate Statistics: they record the model family, "
                "and Analytic-Init refuses them on another family). E is resampled to any size and frame count."),
            inputs=[
                io.Combo.Input("statistics_file", options=folder_paths.get_filename_list(STATS_FOLDER), tooltip=(
                    "A file in models/cil_statistics, e.g. initial_noise_512 from GraceZhao/DynamiCrafter-Analytic-"
                    "Init. Its latent channels must match the model's (4 for SD-VAE models such as SVD).")),
                resample_input(),
                io.Float.Input("data_scale", default=1.0, min=0.01, max=10.0, step=0.01, tooltip=(
                    "Scale s of the training latents: E·s and v·s². 1.0 as the official code; DynamiCrafter's "
                    "dynamic rescale is 0.7 at 512 and 0.3 at 1024 (a small correction).")),
            ],
            outputs=[Statistics.Output(display_name="STATISTICS")],
        )

    @classmethod
    def execute(cls, statistics_file, resample, data_scale) -> io.NodeOutput:
        path = folder_paths.get_full_path(STATS_FOLDER, statistics_file)
        if path is None:
            raise ValueError(f"statistics_file: {quoted(statistics_file)} is not in models/{STATS_FOLDER}: put the "
                             "file there and refresh")
        return io.NodeOutput(ai.load_statistics(path, resample, data_scale))


class CILStatistics(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CILStatistics",
            display_name="CIL Statistics (latent or zero mean)",
            category=CIL_CATEGORY,
            description=(
                "Analytic-Init statistics without a file: E[x0] from a VAE-encoded image or layout video (our "
                "extension: the start leans towards that layout), or zero mean when no latent is connected, with "
                "your variance Tr(Cov)/d. On causal video VAEs (Wan, LTX, HunyuanVideo, Cosmos) take E[x0] from "
                "the image as Static Layout (frames 4k+1, the video's length) -> VAE Encode: latent frame 0 encodes "
                "one frame and later ones four, so one encoded frame repeated is not the same (Analytic-Init "
                "refuses it there)."),
            inputs=[
                io.Float.Input("variance", default=0.8, min=0.0, max=100.0, step=0.01, tooltip=(
                    "Tr(Cov)/d of the video latents (model space, per element). 0.8 ≈ the released DynamiCrafter-"
                    "512 value; lower = a start closer to the mean. Must be >= 0.")),
                resample_input(),
                io.Latent.Input("mean_latent", optional=True, tooltip=(
                    "Optional: VAE Encode of the conditioning image (1 frame, repeated over time: SD-VAE models "
                    "such as SVD) or of a layout video, as E[x0]; 4-D [frames, C, h, w] or 5-D [B, C, frames, h, w] "
                    "(the first video), used as is when it has the sampled latent's size. Causal video VAEs (Wan "
                    "...): encode a Static Layout video of the image (4k+1 frames). Leave empty for zero mean (a "
                    "pure variance correction).")),
            ],
            outputs=[Statistics.Output(display_name="STATISTICS")],
        )

    @classmethod
    def execute(cls, variance, resample, mean_latent=None) -> io.NodeOutput:
        ai.check_variance(variance, "variance")
        if mean_latent is None:
            return io.NodeOutput(ai.zero_mean_statistics(variance))
        return io.NodeOutput(ai.statistics_from_latent(mean_latent["samples"], variance, resample))


TIMENOISE_PRESETS = ("fixed_beta", "custom", *tn.PRESETS)
TIMENOISE_TARGETS = ("concat_latent", "image_embedding", "both")
TIMENOISE_FORMS = ("preset_default", *tn.FORMS)
TIMENOISE_APPLY = ("positive", "positive_and_negative")
PRESET_VALUES = "; ".join(f"{k} {p.beta_m:g} / {p.a:g} / {p.mu_max:g}" for k, p in tn.PRESETS.items())


def _noise_entries(conditioning, name, target, level, form, frames, gen, set_aug, video):
    out = []
    for i, (tensor, extra) in enumerate(conditioning):
        extra = dict(extra)
        if target in ("concat_latent", "both"):
            extra.update(tt.noise_concat(extra, name, i, target, level, form, frames, gen, video))
        if target in ("image_embedding", "both"):
            tensor, values = tt.noise_embedding(tensor, extra, name, i, target, level, form, gen)
            extra.update(values)
        if set_aug:
            extra["augmentation_level"] = float(level)
        out.append([tensor, extra])
    return out


def _timenoise_level(preset, beta, t, quantile, beta_m, a, mu_max) -> tuple[float, str]:
    """(β, the preset's form)."""
    for label, value in (("beta", beta), ("t", t), ("quantile", quantile), ("beta_m", beta_m), ("a", a),
                         ("mu_max", mu_max)):
        if not math.isfinite(value):
            raise ValueError(f"{label} = {value} is not a finite number: give a number")
    if preset == "fixed_beta":
        if beta < 0:
            raise ValueError(f"beta = {beta}: the noise level must be >= 0")
        return float(beta), "per_element"
    if preset == "custom":
        if beta_m <= 0 or a <= 0:
            raise ValueError(f"beta_m = {beta_m}, a = {a}: both must be above 0 (official: beta_m 100 "
                             "DynamiCrafter / 15 SVD, a 5)")
        p = tn.TimeNoiseParams(a=a, beta_m=beta_m, mu_max=mu_max)
    else:
        p = tn.PRESETS[preset]
    if not 0 < quantile < 1:
        raise ValueError(f"quantile = {quantile} must be strictly between 0 and 1 (0.5 = median)")
    if t < 0:
        raise ValueError(f"t = {t} must be >= 0")
    return float(tn.quantile(quantile, t, p.a, p.beta_m, p.mu_max, p.s)), p.form


class CILTimeNoiseConditioning(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CILTimeNoiseConditioning",
            display_name="TimeNoise Conditioning (CIL)",
            category="conditioning/video_models",
            description=(
                "Adds CIL TimeNoise to the conditional image at inference, and to nothing else: noise of level beta "
                "on the image latent (SVD's concat_latent_image; on Wan 2.1 I2V only the frames concat_mask marks "
                "as given; DynamiCrafter's image latent in model space on every frame) and/or the image embedding "
                "(SVD's CLIP embedding, Wan's clip_vision_output, DynamiCrafter / VideoCrafter1 image tokens after "
                "the Resampler). Text conditioning is refused, never noised. CIL checkpoints need none at "
                "inference (beta 0); use it for experiments with TimeNoise-trained models."),
            inputs=[
                io.Conditioning.Input("positive", tooltip="Positive conditioning holding the conditional image."),
                io.Conditioning.Input("negative", tooltip="Negative conditioning (changed only with apply_to both)."),
                io.Combo.Input("preset", options=list(TIMENOISE_PRESETS), default="fixed_beta", tooltip=(
                    "fixed_beta: use beta as given. custom: beta = the quantile of the TimeNoise distribution with "
                    "the beta_m, a, mu_max inputs at time t (mu(t) = 2·mu_max·t^a - mu_max). DynamiCrafter / "
                    "VideoCrafter1 / SVD: the same with the official beta_m / a / mu_max (" + PRESET_VALUES +
                    "; the three inputs are then ignored).")),
                io.Float.Input("beta", default=0.0, min=0.0, max=1000.0, step=0.01, tooltip=(
                    "Noise level (std) for fixed_beta, in the latent's own units (SVD and Wan: the VAE latent as "
                    "the conditioning holds it, SVD trained with beta up to 15; DynamiCrafter: the scaled latent, "
                    "as the official code). 0 = no noise (what CIL checkpoints use at inference).")),
                io.Float.Input("t", default=0.0, min=0.0, max=1.0, step=0.01, tooltip=(
                    "Diffusion time 0..1 for custom and the presets (t_int/1000; SVD: sigma/700). Higher t = more "
                    "noise.")),
                io.Float.Input("quantile", default=0.5, min=0.001, max=0.999, step=0.001, tooltip=(
                    "Which level of the distribution: 0.5 = median (SVD at t=0: 4.03; DynamiCrafter: 26.9).")),
                io.Float.Input("beta_m", default=100.0, min=0.001, max=1000.0, step=0.1, tooltip=(
                    "custom only: the largest noise level (official 100 DynamiCrafter / VideoCrafter1, 15 SVD); "
                    "higher = more noise. Named presets use their own value.")),
                io.Float.Input("a", default=5.0, min=0.001, max=100.0, step=0.01, tooltip=(
                    "custom only: the exponent of t in mu(t) (official 5); lower = more noise early. Named "
                    "presets use their own value.")),
                io.Float.Input("mu_max", default=1.0, min=0.0, max=50.0, step=0.01, tooltip=(
                    "custom only: mu(t) runs from -mu_max at t=0 to +mu_max at t=1 (official 1; VideoCrafter1's "
                    "code 4). Named presets use their own value.")),
                io.Combo.Input("form", options=list(TIMENOISE_FORMS), default="preset_default", tooltip=(
                    "per_element: independent noise per element (DynamiCrafter). scalar_offset: one random offset "
                    "per sample (how SVD-CIL was trained). preset_default: the preset's own form (fixed_beta and "
                    "custom: per_element).")),
                io.Combo.Input("target", options=list(TIMENOISE_TARGETS), default="concat_latent", tooltip=(
                    "concat_latent: the image latent given to the model (SVD, Wan I2V: only the given frames, "
                    "DynamiCrafter). image_embedding: SVD's CLIP image embedding (SVD-CIL trained none), Wan's "
                    "clip_vision_output, DynamiCrafter / VideoCrafter1 image tokens after the Resampler (official "
                    "clip_type 1; VideoCrafter1 has no concat latent, use this). both. A conditioning without the "
                    "target (text only, e.g. LTXV) is refused.")),
                io.Combo.Input("apply_to", options=list(TIMENOISE_APPLY), default="positive", tooltip=(
                    "positive: only the conditional branch (SVD's negative holds zeros). positive_and_negative: "
                    "both, with the same noise (models whose uncond keeps the image).")),
                io.Int.Input("frames", default=0, min=0, max=4096, tooltip=(
                    "Frames of the video for the concat latent; a count other than the video's is refused. 0: as "
                    "the conditioning says (DynamiCrafter: independent noise on each of its frames, as the "
                    "official code; Wan: its latent frames; SVD: one draw for the image, shared by all frames). N: "
                    "SVD: expand the image to N frames with independent noise per frame (connect latent so the "
                    "count is checked); DynamiCrafter, Wan: must equal the (latent) frame count.")),
                seed_input(),
                io.Boolean.Input("set_augmentation_level", default=False, tooltip=(
                    "SVD: also write beta into augmentation_level (the noise_aug time-id), as SVD-CIL training fed "
                    "the TimeNoise level to the model.")),
                io.Latent.Input("latent", optional=True, tooltip=(
                    "Optional: the video latent the sampler samples (SVD_img2vid_Conditioning's latent). SVD's "
                    "conditioning does not say how many frames the video has: frames N is checked against it.")),
            ],
            outputs=[io.Conditioning.Output(display_name="positive"), io.Conditioning.Output(display_name="negative")],
        )

    @classmethod
    def execute(cls, positive, negative, preset, beta, t, quantile, beta_m, a, mu_max, form, target, apply_to,
                frames, seed, set_augmentation_level, latent=None) -> io.NodeOutput:
        for label, value, options in (("preset", preset, TIMENOISE_PRESETS), ("target", target, TIMENOISE_TARGETS),
                                      ("apply_to", apply_to, TIMENOISE_APPLY), ("form", form, TIMENOISE_FORMS)):
            if value not in options:
                raise ValueError(f"{label} {quoted(value)} is unknown: use one of {', '.join(options)}")
        if preset == "VideoCrafter1" and target != "image_embedding":
            raise ValueError(f"target {target} with preset VideoCrafter1: VideoCrafter1 takes the image only through "
                             "its CLIP image tokens (no concat latent): set target to image_embedding")
        level, default_form = _timenoise_level(preset, beta, t, quantile, beta_m, a, mu_max)
        form = default_form if form == "preset_default" else form
        video = tt.latent_frames(latent)
        gen_state = torch.Generator("cpu").manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF).get_state()

        def noised(cond, name):
            gen = torch.Generator("cpu")
            gen.set_state(gen_state)  # the same draws for both branches
            return _noise_entries(cond, name, target, level, form, int(frames), gen, set_augmentation_level, video)

        pos = noised(positive, "positive")  # at beta 0 too: a wrong target or frames count is refused the same
        neg = noised(negative, "negative") if apply_to == "positive_and_negative" else negative
        if level == 0:  # no noise: the inputs pass through unchanged
            return io.NodeOutput(positive, negative)
        return io.NodeOutput(pos, neg)
