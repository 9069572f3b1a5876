"""Workflows on LTX-2 (audio + video) and LTXV 0.9.x image-to-video, wired as core's own templates wire them
(video_ltx2_i2v: its first stage; ltxv_image_to_video), with the pack's NOISE / SIGMAS nodes in place of
RandomNoise / LTXVScheduler. Model names and URLs are the templates' own."""
from __future__ import annotations

import json

from scripts.build_workflows import Graph

LTX2_CKPT = {"name": "ltx-2-19b-dev-fp8.safetensors",
             "url": "https://huggingface.co/Lightricks/LTX-2/resolve/main/ltx-2-19b-dev-fp8.safetensors",
             "directory": "checkpoints"}
GEMMA = {"name": "gemma_3_12B_it.safetensors",
         "url": "https://huggingface.co/Comfy-Org/ltx-2/resolve/main/split_files/text_encoders/gemma_3_12B_it.safetensors",
         "directory": "text_encoders"}
LTXV_CKPT = {"name": "ltx-video-2b-v0.9.5.safetensors",
             "url": "https://huggingface.co/Lightricks/LTX-Video/resolve/main/ltx-video-2b-v0.9.5.safetensors",
             "directory": "checkpoints"}
T5XXL = {"name": "t5xxl_fp16.safetensors",
         "url": "https://huggingface.co/comfyanonymous/flux_text_encoders/resolve/main/t5xxl_fp16.safetensors",
         "directory": "text_encoders"}

LTX2_W, LTX2_H, LTX2_FRAMES, LTX2_FPS = 768, 512, 97, 25  # the template's first stage (8k+1 frames, x32 sizes)
LTXV_W, LTXV_H, LTXV_FRAMES, LTXV_FPS = 768, 512, 97, 24  # the LTXV template


class FamilyGraph(Graph):
    """A Graph whose saved ``extra`` also carries this workflow's test metadata (core nodes it needs, CPU shrink)."""

    def __init__(self, extra: dict):
        super().__init__()
        self.cdi2v_extra = extra

    def dump(self, path, models):
        super().dump(path, models)
        wf = json.loads(path.read_text())
        wf["extra"].update(self.cdi2v_extra)
        path.write_text(json.dumps(wf, indent=1) + "\n")


def _prompts(g: Graph, clip: int, x: int, y: int, text: str, negative: str) -> tuple[int, int]:
    pos = g.node("CLIPTextEncode", (x, y), [text], inputs=[("clip", "CLIP")],
                 outputs=[("CONDITIONING", "CONDITIONING")], size=(400, 200), title="Positive prompt")
    neg = g.node("CLIPTextEncode", (x, y + 240), [negative], inputs=[("clip", "CLIP")],
                 outputs=[("CONDITIONING", "CONDITIONING")], size=(400, 120), title="Negative prompt")
    g.link(clip, 0, pos, "clip")
    g.link(clip, 0, neg, "clip")
    return pos, neg


def _scaled_image(g: Graph, pos, width: int, height: int) -> tuple[int, int]:
    image = g.node("LoadImage", pos, ["example.png", "image"], outputs=[("IMAGE", "IMAGE"), ("MASK", "MASK")],
                   size=(320, 320))
    scale = g.node("ImageScale", (pos[0], pos[1] + 360), ["lanczos", width, height, "center"],
                   inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")], size=(320, 130))
    g.link(image, 0, scale, "image")
    return image, scale


def _static_layout(g: Graph, pos, scale: int, vae: tuple[int, int], frames: int, title: str) -> int:
    layout = g.node("ConsistI2VStaticLayout", pos, [frames], inputs=[("image", "IMAGE")],
                    outputs=[("IMAGE", "IMAGE")], size=(320, 90))
    encode = g.node("VAEEncode", (pos[0], pos[1] + 130), inputs=[("pixels", "IMAGE"), ("vae", "VAE")],
                    outputs=[("LATENT", "LATENT")], title=title)
    g.link(scale, 0, layout, "image")
    g.link(layout, 0, encode, "pixels")
    g.link(vae[0], vae[1], encode, "vae")
    return encode


def _sampler(g: Graph, pos, noise: tuple[int, int], guider: int, sampler: int, sigmas: tuple[int, int],
             latent: tuple[int, int]) -> int:
    run = g.node("SamplerCustomAdvanced", pos,
                 inputs=[("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                         ("latent_image", "LATENT")],
                 outputs=[("output", "LATENT"), ("denoised_output", "LATENT")], size=(320, 140))
    g.link(noise[0], noise[1], run, "noise")
    g.link(guider, 0, run, "guider")
    g.link(sampler, 0, run, "sampler")
    g.link(sigmas[0], sigmas[1], run, "sigmas")
    g.link(latent[0], latent[1], run, "latent_image")
    return run


LTX2_NOTE = """## LTX-2 image-to-video (audio + video) + Analytic-Init (CIL)
Core's LTX-2 I2V graph (its template's first stage: 768x512, 97 frames at 25 fps, CFG 4, euler) with the start of
sampling replaced by **Analytic-Init**: sampling starts at an earlier time `M` from the Gaussian that best matches
the real noisy video there, instead of pure noise. The remedy of the CIL paper for videos that stay static or
return to the first frame (a frequent LTX-2 complaint).

How the image enters: *LTXVImgToVideoInplace* writes the encoded image into the first latent frame under a noise
mask (1 - strength); *LTXVConcatAVLatent* joins the video and the audio latent into one nested latent. Analytic-Init
shapes the **video** part (the held first frame is left to ComfyUI, exactly as with RandomNoise); the **audio** part
gets plain Gaussian noise from the same seed, identical to RandomNoise's audio part.

**Statistics**: LTX-2 has no released CIL statistics. *CIL Statistics* takes E[x0] from your image as a *static
video* encoded by the LTX VAE (*Static Layout* -> *VAE Encode*: the causal VAE encodes the first frame alone and
8 frames per later latent frame, so a repeated latent frame would be wrong) and a variance `0.8` (a starting
guess: LTX latents are normalised per channel). Estimate both from your own clips for a better start.

**Files** (download links in the loaders): `ltx-2-19b-dev-fp8.safetensors` (checkpoints: transformer, video VAE,
audio VAE and text connectors), `gemma_3_12B_it.safetensors` (text_encoders).

**Knobs**
- *Analytic-Init* `M` (flow timestep, 1000 = pure noise = plain sampling): 900 here; lower = more motion, too low
  loses quality. `steps` 20 (the template's), schedule `auto` (linear in timesteps on LTX's shifted schedule).
- *CIL Statistics* `variance`: lower = a start closer to the image (steadier), higher = freer.
- *Static Layout* `frames` = *EmptyLTXVLatentVideo* `length` = *LTXV Empty Latent Audio* `frames_number` (8k+1);
  *Load Image* is scaled to the latent's size (x32) before it is encoded.
- *LTXVImgToVideoInplace* `strength` 1.0 keeps the first frame; lower lets the model change it.
- Full 3-D attention already lets every frame attend to the first one: no first-frame attention patch is needed."""

LTXV_NOTE = """## LTXV 0.9.5 image-to-video + FrameInit (ConsistI2V)
Core's LTXV I2V template (768x512, 97 frames, CFG 3, euler, *LTXVScheduler* 30 steps) on SamplerCustomAdvanced,
with the start noise replaced by **FrameInit Noise**: the start keeps the low frequencies of a static layout of
your image (noised to `noise_timestep`) and fresh high frequencies, so the video stays on the image's composition
and colours while it moves.

LTXVImgToVideo writes the image into the first latent frame under the noise mask 1 - `strength` (the template's
0.15 holds it weakly); FrameInit leaves that frame to ComfyUI (core's own inpainting semantics, as with
RandomNoise) and is exact on the others.

**Files** (download links in the loaders): `ltx-video-2b-v0.9.5.safetensors` (checkpoints),
`t5xxl_fp16.safetensors` (text_encoders, CLIPLoader type `ltxv`).

**Knobs**
- *FrameInit*: `noise_timestep` 850 with `timestep_scale` auto (the paper's layout share on this flow model),
  `spatial_cutoff` / `temporal_cutoff` 0.25. Lower cutoffs or a higher noise_timestep = more motion; higher cutoffs
  = closer to the image.
- *Static Layout* `frames` = *LTXVImgToVideo* `length` (8k+1); the image is scaled to the video size first.
- *LTXVImgToVideo* `strength`: 1.0 keeps the first frame exactly; the template's 0.15 lets it change.
- Full 3-D attention already lets every frame attend to the first one: no first-frame attention patch is needed."""


def ltx2_i2v_analytic_init() -> Graph:
    g = FamilyGraph({
        # LTX-2 is not in ComfyUI 0.3.64; its audio nodes need torchaudio
        "cdi2v_requires_nodes": ["LTXVConcatAVLatent", "LTXVImgToVideoInplace", "LTXVEmptyLatentAudio",
                                 "LTXVAudioVAELoader", "LTXAVTextEncoderLoader", "LTXVAudioVAEDecode"],
        "cdi2v_cpu_shrink": {"EmptyLTXVLatentVideo": {"width": 64, "height": 64, "length": 9},
                             "ConsistI2VStaticLayout": {"frames": 9},
                             "LTXVEmptyLatentAudio": {"frames_number": 9}},
    })
    ckpt = g.node("CheckpointLoaderSimple", (0, 0), [LTX2_CKPT["name"]],
                  outputs=[("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")], size=(360, 100),
                  models=[LTX2_CKPT])
    audio_vae = g.node("LTXVAudioVAELoader", (0, 140), [LTX2_CKPT["name"]], outputs=[("Audio VAE", "VAE")],
                       size=(360, 60), models=[LTX2_CKPT])
    clip = g.node("LTXAVTextEncoderLoader", (0, 240), [GEMMA["name"], LTX2_CKPT["name"]],
                  outputs=[("CLIP", "CLIP")], size=(360, 100), models=[GEMMA, LTX2_CKPT])
    _, scale = _scaled_image(g, (0, 380), LTX2_W, LTX2_H)

    pos, neg = _prompts(g, clip, 380, -120,
                        "The camera slowly pushes in while she turns her head and smiles; warm light, gentle "
                        "ambient sound of a busy diner.",
                        "blurry, low quality, static, distorted, watermark")
    cond = g.node("LTXVConditioning", (820, -120), [float(LTX2_FPS)],
                  inputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
                  outputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING")])
    g.link(pos, 0, cond, "positive")
    g.link(neg, 0, cond, "negative")
    guider = g.node("CFGGuider", (820, 40), [4.0],
                    inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
                    outputs=[("GUIDER", "GUIDER")])
    g.link(ckpt, 0, guider, "model")
    g.link(cond, 0, guider, "positive")
    g.link(cond, 1, guider, "negative")
    sampler = g.node("KSamplerSelect", (820, 180), ["euler"], outputs=[("SAMPLER", "SAMPLER")])

    empty = g.node("EmptyLTXVLatentVideo", (380, 380), [LTX2_W, LTX2_H, LTX2_FRAMES, 1],
                   outputs=[("LATENT", "LATENT")], size=(320, 130))
    inplace = g.node("LTXVImgToVideoInplace", (380, 550), [1.0, False],
                     inputs=[("vae", "VAE"), ("image", "IMAGE"), ("latent", "LATENT")],
                     outputs=[("latent", "LATENT")], size=(320, 130))
    g.link(ckpt, 2, inplace, "vae")
    g.link(scale, 0, inplace, "image")
    g.link(empty, 0, inplace, "latent")
    audio = g.node("LTXVEmptyLatentAudio", (380, 720), [LTX2_FRAMES, LTX2_FPS, 1],
                   inputs=[("audio_vae", "VAE")], outputs=[("Latent", "LATENT")], size=(320, 130))
    g.link(audio_vae, 0, audio, "audio_vae")
    av = g.node("LTXVConcatAVLatent", (760, 550), inputs=[("video_latent", "LATENT"), ("audio_latent", "LATENT")],
                outputs=[("latent", "LATENT")])
    g.link(inplace, 0, av, "video_latent")
    g.link(audio, 0, av, "audio_latent")

    encode = _static_layout(g, (760, 700), scale, (ckpt, 2), LTX2_FRAMES, "VAE Encode (static layout = E[x0])")
    stats = g.node("CILStatistics", (1140, 700), [0.8, "interpolate"], inputs=[("mean_latent", "LATENT")],
                   outputs=[("STATISTICS", "CIL_STATISTICS")], size=(320, 140))
    g.link(encode, 0, stats, "mean_latent")
    cil = g.node("CILAnalyticInit", (1140, 300), [900.0, 20, "auto", 0, "randomize", "fixed"],
                 inputs=[("model", "MODEL"), ("statistics", "CIL_STATISTICS"), ("noise", "NOISE")],
                 outputs=[("NOISE", "NOISE"), ("SIGMAS", "SIGMAS")], size=(340, 260))
    g.link(ckpt, 0, cil, "model")
    g.link(stats, 0, cil, "statistics")

    run = _sampler(g, (1540, 0), (cil, 0), guider, sampler, (cil, 1), (av, 0))
    split = g.node("LTXVSeparateAVLatent", (1540, 200), inputs=[("av_latent", "LATENT")],
                   outputs=[("video_latent", "LATENT"), ("audio_latent", "LATENT")])
    g.link(run, 0, split, "av_latent")
    decode = g.node("VAEDecode", (1540, 320), inputs=[("samples", "LATENT"), ("vae", "VAE")],
                    outputs=[("IMAGE", "IMAGE")])
    g.link(split, 0, decode, "samples")
    g.link(ckpt, 2, decode, "vae")
    audio_decode = g.node("LTXVAudioVAEDecode", (1540, 430), inputs=[("samples", "LATENT"), ("audio_vae", "VAE")],
                          outputs=[("Audio", "AUDIO")])
    g.link(split, 1, audio_decode, "samples")
    g.link(audio_vae, 0, audio_decode, "audio_vae")
    video = g.node("CreateVideo", (1900, 0), [float(LTX2_FPS)], inputs=[("images", "IMAGE"), ("audio", "AUDIO")],
                   outputs=[("VIDEO", "VIDEO")])
    g.link(decode, 0, video, "images")
    g.link(audio_decode, 0, video, "audio")
    save = g.node("SaveVideo", (1900, 140), ["video/LTX2_AnalyticInit", "auto", "auto"],
                  inputs=[("video", "VIDEO")], size=(400, 420))
    g.link(video, 0, save, "video")
    g.note((1540, 620), LTX2_NOTE, size=(520, 700))
    g.models = [LTX2_CKPT, GEMMA]
    return g


def ltxv_i2v_frameinit() -> Graph:
    g = FamilyGraph({
        "cdi2v_requires_nodes": ["LTXVImgToVideo", "LTXVScheduler", "LTXVConditioning"],
        "cdi2v_cpu_shrink": {"LTXVImgToVideo": {"width": 64, "height": 64, "length": 9},
                             "ConsistI2VStaticLayout": {"frames": 9},
                             "LTXVScheduler": {"steps": 2}},
    })
    ckpt = g.node("CheckpointLoaderSimple", (0, 0), [LTXV_CKPT["name"]],
                  outputs=[("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")], size=(360, 100),
                  models=[LTXV_CKPT])
    clip = g.node("CLIPLoader", (0, 140), [T5XXL["name"], "ltxv", "default"], outputs=[("CLIP", "CLIP")],
                  size=(360, 120), models=[T5XXL])
    _, scale = _scaled_image(g, (0, 300), LTXV_W, LTXV_H)
    pos, neg = _prompts(g, clip, 380, -120,
                        "A red fox moving gracefully, its russet coat vibrant against the white landscape, leaving "
                        "star-shaped prints behind as steam rises from its breath in the crisp winter air.",
                        "low quality, worst quality, deformed, distorted, disfigured, motion smear, motion "
                        "artifacts, fused fingers, bad anatomy, weird hand, ugly")
    i2v = g.node("LTXVImgToVideo", (820, -120), [LTXV_W, LTXV_H, LTXV_FRAMES, 1, 0.15],
                 inputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("vae", "VAE"),
                         ("image", "IMAGE")],
                 outputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent", "LATENT")],
                 size=(320, 240))
    g.link(pos, 0, i2v, "positive")
    g.link(neg, 0, i2v, "negative")
    g.link(ckpt, 2, i2v, "vae")
    g.link(scale, 0, i2v, "image")
    cond = g.node("LTXVConditioning", (820, 160), [25.0],
                  inputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
                  outputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING")])
    g.link(i2v, 0, cond, "positive")
    g.link(i2v, 1, cond, "negative")
    guider = g.node("CFGGuider", (1180, -120), [3.0],
                    inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
                    outputs=[("GUIDER", "GUIDER")])
    g.link(ckpt, 0, guider, "model")
    g.link(cond, 0, guider, "positive")
    g.link(cond, 1, guider, "negative")
    sampler = g.node("KSamplerSelect", (1180, 20), ["euler"], outputs=[("SAMPLER", "SAMPLER")])
    sched = g.node("LTXVScheduler", (1180, 140), [30, 2.05, 0.95, True, 0.1], inputs=[("latent", "LATENT")],
                   outputs=[("SIGMAS", "SIGMAS")], size=(320, 200))
    g.link(i2v, 2, sched, "latent")
    encode = _static_layout(g, (380, 400), scale, (ckpt, 2), LTXV_FRAMES, "VAE Encode (static layout)")
    noise = g.node("ConsistI2VFrameInitNoise", (820, 400),
                   [0, "randomize", 850, "auto", "gaussian", 0.25, 0.25, 4, False, "pyoco_mixed", 1.0, False,
                    "mirror"],
                   inputs=[("model", "MODEL"), ("layout", "LATENT"), ("sigmas", "SIGMAS")],
                   outputs=[("NOISE", "NOISE")], size=(340, 420))
    g.link(ckpt, 0, noise, "model")
    g.link(encode, 0, noise, "layout")
    g.link(sched, 0, noise, "sigmas")
    run = _sampler(g, (1560, -120), (noise, 0), guider, sampler, (sched, 0), (i2v, 2))
    decode = g.node("VAEDecode", (1560, 80), inputs=[("samples", "LATENT"), ("vae", "VAE")],
                    outputs=[("IMAGE", "IMAGE")])
    g.link(run, 0, decode, "samples")
    g.link(ckpt, 2, decode, "vae")
    save = g.node("SaveAnimatedWEBP", (1560, 200), ["LTXV_FrameInit", float(LTXV_FPS), False, 85, "default"],
                  inputs=[("images", "IMAGE")], size=(400, 480))
    g.link(decode, 0, save, "images")
    g.note((1180, 400), LTXV_NOTE, size=(360, 560))
    g.models = [LTXV_CKPT, T5XXL]
    return g


WORKFLOWS = {
    "ltx2_i2v_analytic_init": ltx2_i2v_analytic_init,
    "ltxv_i2v_frameinit": ltxv_i2v_frameinit,
}
