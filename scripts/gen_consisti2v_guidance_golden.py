"""Generate a sampling golden of ConsistI2V's guidance modes by running the OFFICIAL pipeline on the tiny golden UNet.

Not part of the pack or its tests, and no official code is copied into this repository: the official checkout
(TIGER-AI-Lab/ConsistI2V at 152102b) is imported from the path given on the command line. Nothing is downloaded.

Regenerate (an environment that runs the official code: diffusers 0.21.2, huggingface_hub < 0.26, transformers 4.36,
einops, beartype, torch >= 2)::

    PYTHONPATH=<official deps> python scripts/gen_consisti2v_guidance_golden.py --official-checkout DIR \
        --out tests/fixtures/golden

What runs (all official): ``ConditionalAnimationPipeline.__call__`` (consisti2v/pipelines/
pipeline_conditional_animation.py) with FrameInit on (``init_filter`` with the inference.yaml filter, noise level
850), PYoCo mixed noise (alpha 1) from a seeded CPU generator, the official DDIMScheduler config
(configs/inference/inference.yaml ``noise_scheduler_kwargs``), frame stride 3 and the UNet
``VideoLDMUNet3DConditionModel.from_pretrained`` of the ``consisti2v_unet_tiny_f8_8x8`` golden. One run per
guidance mode the official code selects from its two scales (lines 516-521: none, "text", "both").

Stand-ins at the loading boundary only: the VAE's ``encode(...).latent_dist.sample()`` returns a stored latent, the
tokenizer maps "" and the prompt to two ids, and the text encoder returns a stored embedding per id (the tiny UNet
has 24-d cross-attention, no real CLIP has). The UNet forward and ``scheduler.step`` are wrapped to record their
inputs and outputs (every call: the three-branch batch of the "both" mode included).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

UNET_CASE = "consisti2v_unet_tiny_f8_8x8"
SEED, STEPS, STRIDE, TAU, SCALING = 20240611, 4, 3, 850, 0.18215
FILTER = {"method": "gaussian", "d_s": 0.25, "d_t": 0.25}
SCHEDULER = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "linear", "steps_offset": 1,
             "clip_sample": False, "rescale_betas_zero_snr": False, "timestep_spacing": "leading",
             "prediction_type": "epsilon"}
MODES = {  # case name -> (guidance_scale_txt, guidance_scale_img)
    "both": (7.5, 2.0),
    "both_text_1": (1.0, 3.0),
    "text": (7.5, 1.0),
    "none": (1.0, 1.0),
}


def stand_ins(torch, first_latent, embeddings, tokens):
    """VAE, tokenizer and text encoder returning stored tensors (the only non-official parts of the run)."""

    class Config(dict):
        __getattr__ = dict.get

    class StandIn(torch.nn.Module):
        device, dtype = torch.device("cpu"), torch.float32

    class VAE(StandIn):
        config = Config(scaling_factor=SCALING, block_out_channels=[1, 1, 1, 1])

        def __init__(self):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(1))

        def encode(self, pixels):
            latent = first_latent / SCALING
            dist = type("Dist", (), {"sample": lambda self_: latent.clone()})()
            return type("Enc", (), {"latent_dist": dist})()

        def decode(self, z):
            return type("Dec", (), {"sample": torch.zeros(z.shape[0], 3, z.shape[2] * 8, z.shape[3] * 8)})()

    class Tokenizer:
        model_max_length = tokens

        def __call__(self, prompts, **kw):
            ids = torch.tensor([[0 if p == "" else 1] * tokens for p in prompts])
            return type("Tok", (), {"input_ids": ids})()

    class TextEncoder(StandIn):
        config = Config()

        def __init__(self):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(1))

        def forward(self, ids, attention_mask=None):
            return (embeddings[ids[:, 0]],)

    return VAE(), Tokenizer(), TextEncoder()


def run_case(torch, pipeline_cls, unet, scheduler_cls, inputs, txt, img, frames, size):
    vae, tokenizer, text_encoder = stand_ins(torch, inputs["first_frame_latent"], inputs["embeddings"],
                                             inputs["embeddings"].shape[1])
    pipe = pipeline_cls(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                        scheduler=scheduler_cls(**SCHEDULER))
    pipe.set_progress_bar_config(disable=True)
    params = type("FilterParams", (), FILTER)()  # an OmegaConf node in scripts/animate.py
    pipe.init_filter(video_length=frames, height=size, width=size, filter_params=params)
    calls, steps = [], []
    forward, step = unet.forward, pipe.scheduler.step

    def record_forward(sample, t, encoder_hidden_states=None, first_frame_latents=None, frame_stride=None, **kw):
        out = forward(sample, t, encoder_hidden_states=encoder_hidden_states,
                      first_frame_latents=first_frame_latents, frame_stride=frame_stride, **kw)
        calls.append({"sample": sample.clone(), "t": torch.as_tensor(t).clone(), "first": first_frame_latents.clone(),
                          "context": encoder_hidden_states.clone(), "eps": out.sample.clone()})
        return out

    def record_step(noise_pred, t, latents, **kw):
        out = step(noise_pred, t, latents, **kw)
        steps.append({"eps": noise_pred.clone(), "x": latents.clone(), "prev": out.prev_sample.clone()})
        return out

    unet.forward, pipe.scheduler.step = record_forward, record_step
    try:
        pipe(prompt="a tiny video", negative_prompt=None, first_frames=torch.zeros(1, 3, size, size),
             num_inference_steps=STEPS, guidance_scale_txt=txt, guidance_scale_img=img, width=size, height=size,
             video_length=frames, noise_sampling_method="pyoco_mixed", noise_alpha=1.0, eta=0.0,
             frame_stride=STRIDE, guidance_rescale=0.0, num_videos_per_prompt=1, use_frameinit=True,
             frameinit_noise_level=TAU, generator=torch.Generator("cpu").manual_seed(SEED))
    finally:
        unet.forward, pipe.scheduler.step = forward, step
    tensors = {}
    for i, c in enumerate(calls):
        for k, v in c.items():
            tensors[f"call{i}_{k}"] = v.float().contiguous()
    for i, s in enumerate(steps):
        for k, v in s.items():
            tensors[f"step{i}_{k}"] = v.float().contiguous()
    timesteps = [int(c["t"]) for c in calls]
    return tensors, timesteps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--official-checkout", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path, help="golden folder (holds the tiny UNet case)")
    args = ap.parse_args()
    sys.path.insert(0, str(args.official_checkout.resolve()))
    import torch
    from consisti2v.models.videoldm_unet import VideoLDMUNet3DConditionModel
    from consisti2v.pipelines.pipeline_conditional_animation import (
        ConditionalAnimationPipeline,
    )
    from diffusers import DDIMScheduler
    from safetensors.torch import save_file

    torch.set_grad_enabled(False)
    unet = VideoLDMUNet3DConditionModel.from_pretrained(str(args.out / UNET_CASE)).eval().float()
    frames, latent = unet.config.n_frames, unet.config.sample_size
    gen = torch.Generator().manual_seed(SEED + 1)
    inputs = {"first_frame_latent": torch.randn(1, 4, latent, latent, generator=gen),
              "embeddings": torch.randn(2, 77, unet.config.cross_attention_dim, generator=gen)}  # [uncond, cond]
    for name, (txt, img) in MODES.items():
        tensors, timesteps = run_case(torch, ConditionalAnimationPipeline, unet, DDIMScheduler, inputs, txt, img,
                                      frames, latent * 8)
        folder = args.out / f"consisti2v_guidance_{name}"
        folder.mkdir(exist_ok=True)
        save_file({**{k: v.contiguous() for k, v in inputs.items()}, **tensors}, str(folder / "io.safetensors"),
                  metadata={"format": "pt"})
        branches = tensors["call0_sample"].shape[0]
        (folder / "config.json").write_text(json.dumps({
            "source": {"repository": "TIGER-AI-Lab/ConsistI2V", "commit": "152102b",
                       "file": "consisti2v/pipelines/pipeline_conditional_animation.py",
                       "entry": "ConditionalAnimationPipeline.__call__"},
            "unet_case": UNET_CASE, "guidance_scale_txt": txt, "guidance_scale_img": img,
            "official_mode": {1: None, 2: "text", 3: "both"}[branches], "unet_batch_per_call": branches,
            "seed": SEED, "generator": "torch.Generator('cpu').manual_seed(seed), passed as generator=",
            "steps": STEPS, "timesteps": timesteps, "eta": 0.0, "frame_stride": STRIDE,
            "video_length": frames, "latent_size": latent, "noise_sampling_method": "pyoco_mixed",
            "noise_alpha": 1.0, "frameinit": {"noise_level": TAU, **FILTER}, "scheduler": SCHEDULER,
            "vae_scaling_factor": SCALING,
            "tensors": {
                "first_frame_latent": "[1,4,h,w] clean first-frame latent, already x scaling (what the stand-in VAE "
                                      "returns times 0.18215)",
                "embeddings": "[2,77,d]: row 0 the empty prompt (uncond), row 1 the prompt",
                "callN_*": "UNet call N (one per step): sample [branches,4,F-1,h,w], t, first [branches,4,1,h,w] "
                           "(both mode: noisy x_T frame 0, clean, clean), context, eps",
                "stepN_*": "scheduler.step N: eps (guided), x (latents in), prev (latents out)",
            },
            "stand_ins": "VAE, tokenizer and text encoder only (see scripts/gen_consisti2v_guidance_golden.py)",
        }, indent=1))
        print(name, timesteps, branches)


if __name__ == "__main__":
    main()
