"""Shared input definitions and MODEL/SIGMAS plumbing."""
from __future__ import annotations

import math

import comfy.utils
import torch
from comfy_api.latest import io

from ..kernels.noise_objects import StartState
from ..kernels.pyoco import NOISE_TYPES
from ..kernels.text import quoted  # re-exported for the nodes' error messages

NOISE_CATEGORY = "sampling/custom_sampling/noise"
LOADER_CATEGORY = "loaders/video_models"
WEIGHT_DTYPES = {"default": None, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
SEED_MAX = 0xFFFFFFFFFFFFFFFF


def seed_input() -> io.Int.Input:
    return io.Int.Input("seed", default=0, min=0, max=SEED_MAX, control_after_generate=True,
                        tooltip="Seed of the noise. The same seed, shape and settings give the same noise.")


def noise_type_inputs(default: str = "pyoco_mixed") -> list:
    return [
        io.Combo.Input("noise_type", options=list(NOISE_TYPES), default=default, tooltip=(
            "pyoco_mixed: every frame shares part of its noise (ConsistI2V's choice; steadier video). "
            "pyoco_progressive: each frame's noise continues the previous one (smoother, less motion). "
            "gaussian: independent noise per frame, as ComfyUI's RandomNoise.")),
        io.Float.Input("pyoco_alpha", default=1.0, min=0.0, max=100.0, step=0.05, tooltip=(
            "How much noise frames share: correlation alpha²/(1+alpha²) (0.5 at 1.0, ConsistI2V's value). "
            "Raise it if frames flicker or drift; lower it for more motion. 0 = independent noise.")),
    ]


def node_origin(cls) -> str:
    """"<display name> (node <id>)" of the running node (the id where ComfyUI passes the hidden unique_id)."""
    schema = cls.define_schema()  # not GET_SCHEMA: that caches on the class, locked while the node runs
    uid = getattr(cls.hidden, "unique_id", None) if cls.hidden is not None else None
    name = schema.display_name or schema.node_id
    return f"{name} (node {uid})" if uid is not None else name


def start_state(model, sigmas) -> StartState:
    """Where SamplerCustomAdvanced will start, read off the MODEL and SIGMAS that feed it."""
    if sigmas is None or sigmas.numel() < 2:
        raise ValueError(
            "sigmas is empty or has a single value: connect the same SIGMAS (with at least one step) "
            "that feed SamplerCustomAdvanced, e.g. from BasicScheduler"
        )
    model_sampling = model.get_model_object("model_sampling")
    sigma0 = float(sigmas.reshape(-1)[0])
    top = f"the model's sigma_max ({float(model_sampling.sigma_max):g}), as BasicScheduler does"
    if math.isinf(sigma0):
        raise ValueError(f"sigmas: the first sigma is infinite ({sigma0}): no start state exists at an infinite "
                         f"noise level. Start the schedule at a finite sigma, e.g. {top}; a hand-made schedule "
                         "(ManualSigmas, SetFirstSigma) must not hold inf or a number beyond float32")
    if math.isnan(sigma0):
        raise ValueError(f"sigmas: the first sigma is NaN: connect a valid schedule starting at e.g. {top}")
    if not sigma0 > 0:
        raise ValueError(f"sigmas start at {sigma0}: the first sigma must be above 0 (nothing is left to sample)")
    if not bool(torch.isfinite(sigmas).all()):
        raise ValueError("sigmas: the schedule holds NaN or infinite values after its first sigma: connect a "
                         "valid schedule, e.g. from BasicScheduler")
    latent_format = model.get_model_object("latent_format")
    return StartState(model_sampling, latent_format.process_in, sigma0, float(model_sampling.sigma_max))


def weight_dtype_input(tooltip: str) -> io.Combo.Input:
    return io.Combo.Input("weight_dtype", options=list(WEIGHT_DTYPES), default="default", tooltip=tooltip)


def parse_weight_dtype(name: str):
    """The torch dtype of a ``weight_dtype`` choice (None = let ComfyUI pick)."""
    if name not in WEIGHT_DTYPES:
        raise ValueError(f"weight_dtype {quoted(name)} is unknown: use one of {', '.join(WEIGHT_DTYPES)}")
    return WEIGHT_DTYPES[name]


def fit_image(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """The first image of an IMAGE batch, RGB, centre-cropped to the aspect and resized to width×height."""
    pixels = comfy.utils.common_upscale(image[:1, :, :, :3].movedim(-1, 1), width, height, "bilinear", "center")
    return pixels.movedim(1, -1)
