"""Autoregressive long video (ConsistI2V spec §6) from ComfyUI's own sampling parts."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..kernels import layout as lay
from ..kernels.longvideo import (autoregressive_video, check_chunking, check_long_layout, layout_slice,
                                 total_frames)
from .common import SEED_MAX, node_origin, noise_type_inputs, seed_input
from .frameinit import frameinit_inputs, frameinit_noise_builder

CONCAT_KEY = "concat_latent_image"
_NO_IMAGE = (
    "the conditioning does not carry a conditioning image latent (concat_latent_image): connect positive/negative "
    "from SVD_img2vid_Conditioning (or another node that stores the first frame's VAE latent as "
    "concat_latent_image)")


def conditioning_image(positive) -> torch.Tensor:
    """The first frame's VAE latent stored in ``positive`` (the first entry that carries one)."""
    for _, extra in positive:
        image = extra.get(CONCAT_KEY)
        if image is not None:
            return image
    raise ValueError("positive: " + _NO_IMAGE)


def with_condition(conditioning, frame: torch.Tensor) -> list:
    """A copy of ``conditioning`` whose conditioning image latents are ``frame``.

    All-zero image latents stay as they are: SVD_img2vid_Conditioning gives the negative a zero image (CFG
    against "no image"), and that must stay so for every chunk.
    """
    out = []
    for tensor, extra in conditioning:
        extra = dict(extra)
        old = extra.get(CONCAT_KEY)
        if old is not None and torch.count_nonzero(old) > 0:
            extra[CONCAT_KEY] = frame.to(dtype=old.dtype)
        out.append([tensor, extra])
    return out


_BROKEN = ("it came out of an earlier node broken (a diverged sampler, or an fp16 VAE overflow): encode a clean "
           "image (the VAE in fp32 if it overflows); Long Video would turn every chunk into NaN")


def _check_image(image: torch.Tensor, samples: torch.Tensor) -> None:
    if samples.ndim != 4 or image.ndim != 4:
        raise ValueError(
            f"latent is {samples.ndim}-D {tuple(samples.shape)} and the conditioning image latent "
            f"{image.ndim}-D {tuple(image.shape)}: Long Video supports SVD-style models (4-D frames-as-batch "
            "latents, one conditioning image latent); connect SVD_img2vid_Conditioning's outputs")
    if image.shape[1] != samples.shape[1] or image.shape[2:] != samples.shape[2:]:
        raise ValueError(
            f"the conditioning image latent is {tuple(image.shape[1:])} (C, H, W) but latent is "
            f"{tuple(samples.shape[1:])}: use the same width/height (and VAE) for the conditioning and the latent, "
            "e.g. both outputs of one SVD_img2vid_Conditioning")


class ConsistI2VLongVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ConsistI2VLongVideo",
            display_name="Long Video (ConsistI2V autoregressive)",
            category="sampling/custom_sampling",
            description=(
                "Generates a long video as several chunks, ConsistI2V-style: each chunk is conditioned on the last "
                "generated latent frame of the previous one (no VAE decode/encode in between) and starts from "
                "FrameInit noise of that frame (or of its slice of a camera layout); the overlapping first "
                "frame(s) of later chunks are dropped and the result is one video latent. Uses ComfyUI's own "
                "MODEL, SAMPLER and SIGMAS; works with SVD-style conditioning (SVD_img2vid_Conditioning)."),
            inputs=[
                io.Model.Input("model", tooltip="The video model (e.g. from ImageOnlyCheckpointLoader), patched as "
                               "you like (e.g. VideoLinearCFGGuidance)."),
                io.Conditioning.Input("positive", tooltip=(
                    "Positive conditioning carrying the first frame's VAE latent (concat_latent_image), e.g. "
                    "SVD_img2vid_Conditioning's positive. Later chunks get the previous chunk's last frame instead.")),
                io.Conditioning.Input("negative", tooltip=(
                    "Negative conditioning, e.g. SVD_img2vid_Conditioning's negative (its empty image stays empty).")),
                io.Latent.Input("latent", tooltip=(
                    "The empty latent of ONE chunk (its frame count is the chunk length), e.g. "
                    "SVD_img2vid_Conditioning's latent output.")),
                io.Sampler.Input("sampler", tooltip="The sampler for every chunk, e.g. from KSamplerSelect."),
                io.Sigmas.Input("sigmas", tooltip="The noise schedule for every chunk, e.g. from BasicScheduler."),
                io.Float.Input("cfg", default=2.5, min=0.0, max=100.0, step=0.1, round=0.01, tooltip=(
                    "Classifier-free guidance scale (SVD: about 2.5; with VideoLinearCFGGuidance this is the last "
                    "frame's scale).")),
                seed_input(),
                io.Int.Input("chunks", default=3, min=1, max=256, tooltip=(
                    "How many chunks to generate one after another (ConsistI2V: 3). The video gets "
                    "chunks·(frames − overlap) + overlap frames, e.g. 46 for 3 × 16 with overlap 1. Chunk k uses "
                    "seed + k.")),
                io.Int.Input("overlap", default=1, min=0, max=4096, tooltip=(
                    "Leading frames dropped from every chunk after the first (they repeat the previous chunk's "
                    "last frame). 1 for SVD/ConsistI2V, whose first frame reproduces the conditioning image; must "
                    "be smaller than the chunk's frame count.")),
                *frameinit_inputs(),
                *noise_type_inputs(),
                io.Boolean.Input("anchor_colour", default=False, tooltip=(
                    "Match every later chunk's per-channel latent mean/std to the first frame's, so colour and "
                    "brightness do not drift over long videos. Can flatten deliberate lighting changes.")),
                io.Latent.Input("camera_layout", optional=True, tooltip=(
                    "Optional VAE-encoded layout video for the WHOLE long clip (chunks·(frames − overlap) + "
                    "overlap latent frames, e.g. a camera move): chunk k's FrameInit follows its slice instead "
                    "of the static previous frame.")),
            ],
            outputs=[io.Latent.Output(display_name="LATENT", tooltip="The whole video as one latent.")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, positive, negative, latent, sampler, sigmas, cfg, seed, chunks, overlap,
                noise_timestep, timestep_scale, filter, spatial_cutoff, temporal_cutoff, butterworth_order,
                noise_type, pyoco_alpha, anchor_colour, camera_layout=None) -> io.NodeOutput:
        import comfy.model_management
        import comfy.sample
        import comfy.utils

        build_noise = frameinit_noise_builder(model, sigmas, noise_timestep, timestep_scale, filter, spatial_cutoff,
                                              temporal_cutoff, butterworth_order, noise_type, pyoco_alpha)
        samples = latent["samples"]
        if getattr(samples, "is_nested", False):
            raise ValueError("latent is a nested (multi-part) latent: Long Video needs a plain video latent")
        image = conditioning_image(positive)
        _check_image(image, samples)
        lay.check_finite(image, f"positive's {CONCAT_KEY} (the start latent of chunk 1)", _BROKEN)
        lay.check_finite(samples, "latent", _BROKEN)
        axis = lay.frame_axis(samples.ndim)
        frames = samples.shape[axis]
        check_chunking(chunks, overlap, frames)
        if camera_layout is not None:
            camera = camera_layout["samples"].detach().cpu()
            if camera.ndim != samples.ndim:
                raise ValueError(f"camera_layout is {camera.ndim}-D {tuple(camera.shape)} but latent is "
                                 f"{samples.ndim}-D: VAE Encode the camera layout with this model's VAE")
            check_long_layout(camera, chunks, frames, overlap, axis)
            lay.check_finite(camera, "camera_layout", _BROKEN)

        latent_image = comfy.sample.fix_empty_latent_channels(model, samples)
        origin = node_origin(cls)
        noise_mask = latent.get("noise_mask")
        steps = sigmas.shape[-1] - 1
        pbar = comfy.utils.ProgressBar(chunks * steps)

        def sample_chunk(k: int, condition: torch.Tensor) -> torch.Tensor:
            chunk_seed = (seed + k) % (SEED_MAX + 1)
            if k > 0:
                lay.check_finite(condition, f"chunk {k}'s last frame", "the sampler diverged on that chunk: try "
                                 "a lower cfg, more steps or another sampler")
            if camera_layout is None:
                chunk_layout = condition.repeat_interleave(frames, dim=axis)
            else:
                chunk_layout = layout_slice(camera, k, frames, overlap, axis)
            layout_input = "camera_layout" if camera_layout is not None else "positive" if k == 0 else "latent"
            noise = build_noise(chunk_seed, chunk_layout.float(), origin=f"{origin}, chunk {k + 1}",
                                layout_input=layout_input).generate_noise({"samples": latent_image})

            def step_callback(step, x0, x, total_steps):
                pbar.update_absolute(k * steps + step + 1)

            return comfy.sample.sample_custom(
                model, noise, cfg, sampler, sigmas, with_condition(positive, condition),
                with_condition(negative, condition), latent_image, noise_mask=noise_mask, callback=step_callback,
                disable_pbar=True, seed=chunk_seed)

        def progress(k: int) -> None:
            pbar.update_absolute((k + 1) * steps)
            comfy.model_management.throw_exception_if_processing_interrupted()

        first = image[:1].detach().cpu()
        video = autoregressive_video(sample_chunk, first, chunks, overlap, axis, anchor=anchor_colour,
                                     progress=progress)
        assert video.shape[axis] == total_frames(chunks, frames, overlap)
        return io.NodeOutput({"samples": video})
