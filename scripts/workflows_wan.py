"""Workflows on Wan 2.1 I2V 14B, Wan 2.2 A14B I2V (two experts) and Wan 2.2 5B TI2V, wired as core's own templates
wire them (image_to_video_wan, video_wan2_2_14B_i2v, video_wan2_2_5B_ti2v: loaders, sizes, ModelSamplingSD3 shift 8,
CFG, the A14B split at half the steps), on SamplerCustomAdvanced with the pack's NOISE / SIGMAS nodes in place of
RandomNoise. Model names and URLs are the templates' own."""
from __future__ import annotations

import json

from scripts.build_workflows import CAMERA_FRAMEINIT, CIL_AI_WIDGETS, CLIP_VISION_H, MOVE_DEFAULTS, Graph

WAN21_REPO = "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files/"
WAN22_REPO = "https://huggingface.co/Comfy-Org/Wan_2.2_ComfyUI_Repackaged/resolve/main/split_files/"
UMT5 = {"name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
        "url": WAN21_REPO + "text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors", "directory": "text_encoders"}
WAN21_VAE = {"name": "wan_2.1_vae.safetensors", "url": WAN21_REPO + "vae/wan_2.1_vae.safetensors", "directory": "vae"}
WAN22_VAE = {"name": "wan2.2_vae.safetensors", "url": WAN22_REPO + "vae/wan2.2_vae.safetensors", "directory": "vae"}
WAN21_I2V = {"name": "wan2.1_i2v_480p_14B_fp16.safetensors",
             "url": WAN21_REPO + "diffusion_models/wan2.1_i2v_480p_14B_fp16.safetensors",
             "directory": "diffusion_models"}
WAN22_HIGH = {"name": "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
              "url": WAN22_REPO + "diffusion_models/wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
              "directory": "diffusion_models"}
WAN22_LOW = {"name": "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
             "url": WAN22_REPO + "diffusion_models/wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
             "directory": "diffusion_models"}
WAN22_5B = {"name": "wan2.2_ti2v_5B_fp16.safetensors",
            "url": WAN22_REPO + "diffusion_models/wan2.2_ti2v_5B_fp16.safetensors", "directory": "diffusion_models"}

# the templates' negative prompt (Wan's own default)
NEGATIVE = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，"
            "残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，"
            "三条腿，背景人很多，倒着走")
SHIFT = 8.0
A14B_SIZE, A14B_FRAMES, A14B_STEPS, A14B_CFG = 640, 81, 20, 3.5   # video_wan2_2_14B_i2v (standard, no LoRA)
I2V21_SIZE, I2V21_FRAMES, I2V21_STEPS, I2V21_CFG = 512, 33, 20, 6.0  # image_to_video_wan
TI2V_W, TI2V_H, TI2V_FRAMES, TI2V_STEPS, TI2V_CFG = 1280, 704, 121, 20, 5.0  # video_wan2_2_5B_ti2v
# CPU test sizes: 4k+1 frames (causal VAE), a multiple of 16 (Wan 2.1) / 32 (Wan 2.2 5B) pixels
CPU_FRAMES, CPU_SIZE = 9, 64


class WanGraph(Graph):
    """A Graph whose saved ``extra`` also carries the test metadata (core nodes it needs, CPU shrink values)."""

    def __init__(self, extra: dict):
        super().__init__()
        self.cdi2v_extra = extra

    def dump(self, path, models):
        super().dump(path, models)
        wf = json.loads(path.read_text())
        wf["extra"].update(self.cdi2v_extra)
        path.write_text(json.dumps(wf, indent=1) + "\n")


def loaders(g: Graph, unets: list[dict], vae: dict, text: str):
    """UNETLoader(s) -> ModelSamplingSD3 (shift 8), CLIPLoader (umt5, type wan) -> prompts, VAELoader, LoadImage."""
    models = []
    for i, unet in enumerate(unets):
        loader = g.node("UNETLoader", (0, 140 * i), [unet["name"], "default"], outputs=[("MODEL", "MODEL")],
                        size=(360, 90), models=[unet])
        shift = g.node("ModelSamplingSD3", (400, 140 * i), [SHIFT], inputs=[("model", "MODEL")],
                       outputs=[("MODEL", "MODEL")], size=(260, 60))
        g.link(loader, 0, shift, "model")
        models.append(shift)
    y = 140 * len(unets)
    clip = g.node("CLIPLoader", (0, y), [UMT5["name"], "wan", "default"], outputs=[("CLIP", "CLIP")],
                  size=(360, 110), models=[UMT5])
    vae_id = g.node("VAELoader", (0, y + 150), [vae["name"]], outputs=[("VAE", "VAE")], size=(360, 60),
                    models=[vae])
    image = g.node("LoadImage", (0, y + 250), ["example.png", "image"],
                   outputs=[("IMAGE", "IMAGE"), ("MASK", "MASK")], size=(320, 320))
    pos = g.node("CLIPTextEncode", (700, 0), [text], inputs=[("clip", "CLIP")],
                 outputs=[("CONDITIONING", "CONDITIONING")], size=(400, 160), title="Positive prompt")
    neg = g.node("CLIPTextEncode", (700, 200), [NEGATIVE], inputs=[("clip", "CLIP")],
                 outputs=[("CONDITIONING", "CONDITIONING")], size=(400, 160), title="Negative prompt")
    g.link(clip, 0, pos, "clip")
    g.link(clip, 0, neg, "clip")
    g.models = [*unets, UMT5, vae]
    return dict(models=models, vae=vae_id, image=image, pos=pos, neg=neg, y=y)


def guider(g: Graph, pos, model: int, positive: tuple[int, int], negative: tuple[int, int], cfg: float,
           title=None) -> int:
    node = g.node("CFGGuider", pos, [cfg],
                  inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
                  outputs=[("GUIDER", "GUIDER")], title=title)
    g.link(model, 0, node, "model")
    g.link(*positive, node, "positive")
    g.link(*negative, node, "negative")
    return node


def sampler_advanced(g: Graph, pos, noise, guide, sampler, sigmas, latent, title=None) -> int:
    run = g.node("SamplerCustomAdvanced", pos,
                 inputs=[("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                         ("latent_image", "LATENT")],
                 outputs=[("output", "LATENT"), ("denoised_output", "LATENT")], size=(320, 140), title=title)
    g.link(noise[0], noise[1], run, "noise")
    g.link(guide, 0, run, "guider")
    g.link(sampler, 0, run, "sampler")
    g.link(sigmas[0], sigmas[1], run, "sigmas")
    g.link(latent[0], latent[1], run, "latent_image")
    return run


def decode_and_save(g: Graph, pos, latent: int, vae: int, fps: float, prefix: str) -> None:
    decode = g.node("VAEDecode", pos, inputs=[("samples", "LATENT"), ("vae", "VAE")], outputs=[("IMAGE", "IMAGE")])
    save = g.node("SaveAnimatedWEBP", (pos[0], pos[1] + 100), [prefix, fps, False, 85, "default"],
                  inputs=[("images", "IMAGE")], size=(400, 480))
    g.link(latent, 0, decode, "samples")
    g.link(vae, 0, decode, "vae")
    g.link(decode, 0, save, "images")


A14B_NOTE = """## Wan 2.2 A14B I2V + Analytic-Init (CIL) across both experts
Core's Wan 2.2 14B image-to-video graph (its template's models, 640x640, 81 frames, shift 8, CFG 3.5, 20 steps split
10 / 10 between the experts), on SamplerCustomAdvanced: **Analytic-Init** gives the NOISE and the SIGMAS. It starts
at an earlier time *M* from the Gaussian that matches the noisy video there, N(c·E[x0], a² + c²·Tr(Cov)/d), instead
of pure noise, so the model copies the input image less (more motion).

**Two experts.** *SplitSigmas* cuts Analytic-Init's SIGMAS at *step* 10: the **high-noise expert** samples the first
part from Analytic-Init's NOISE, the **low-noise expert** continues from exactly the high expert's output at the
split sigma, with *DisableNoise* (the template's second KSamplerAdvanced has add_noise off). Keep the split near
Wan 2.2's boundary (sigma ≈ 0.9, about half the steps).

**Knobs**
- *M* 900 (flow timesteps 1..1000, 1000 = pure noise; on shift 8 it is sigma 0.986): lower = more motion, too low
  loses quality. *steps* 20.
- *CIL Statistics*: E[x0] = the Wan 2.1 VAE encoding of a **static video** of your image (*Static Layout* ->
  *VAE Encode*; the causal VAE's first latent frame differs from the others), *variance* 0.8 = Tr(Cov)/d of Wan
  latents (no released file for Wan: estimate it from your clips, or tune).
- *SplitSigmas step*: 10 of 20 (the template's hand-over).
- Full 3-D attention already lets every frame attend to the first one: no first-frame attention patch.

**Files** (download links in the loaders): `wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors` and
`wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors` (diffusion_models), `umt5_xxl_fp8_e4m3fn_scaled.safetensors`
(text_encoders), `wan_2.1_vae.safetensors` (vae)."""


def wan22_a14b_analytic_init() -> Graph:
    g = WanGraph({
        "cdi2v_requires_nodes": ["WanImageToVideo", "SplitSigmas", "DisableNoise"],
        "cdi2v_cpu_shrink": {"WanImageToVideo": {"width": CPU_SIZE, "height": CPU_SIZE, "length": CPU_FRAMES},
                             "ImageScale": {"width": CPU_SIZE, "height": CPU_SIZE},
                             "ConsistI2VStaticLayout": {"frames": CPU_FRAMES}, "SplitSigmas": {"step": 1}},
    })
    ids = loaders(g, [WAN22_HIGH, WAN22_LOW], WAN21_VAE,
                  "The white dragon warrior stands still, eyes full of determination and strength. The camera slowly "
                  "moves closer or circles around the warrior, highlighting the powerful presence and heroic spirit "
                  "of the character.")
    high, low = ids["models"]
    y = ids["y"]
    scale = g.node("ImageScale", (400, y + 250), ["lanczos", A14B_SIZE, A14B_SIZE, "center"],
                   inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")])
    g.link(ids["image"], 0, scale, "image")
    cond = g.node("WanImageToVideo", (1140, 0), [A14B_SIZE, A14B_SIZE, A14B_FRAMES, 1],
                  inputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("vae", "VAE"),
                          ("clip_vision_output", "CLIP_VISION_OUTPUT"), ("start_image", "IMAGE")],
                  outputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent", "LATENT")],
                  size=(320, 220))
    g.link(ids["pos"], 0, cond, "positive")
    g.link(ids["neg"], 0, cond, "negative")
    g.link(ids["vae"], 0, cond, "vae")
    g.link(scale, 0, cond, "start_image")

    layout = g.node("ConsistI2VStaticLayout", (700, 420), [A14B_FRAMES], inputs=[("image", "IMAGE")],
                    outputs=[("IMAGE", "IMAGE")])
    encode = g.node("VAEEncode", (700, 540), inputs=[("pixels", "IMAGE"), ("vae", "VAE")],
                    outputs=[("LATENT", "LATENT")], title="VAE Encode (static video = E[x0])")
    stats = g.node("CILStatistics", (700, 640), [0.8, "interpolate"], inputs=[("mean_latent", "LATENT")],
                   outputs=[("STATISTICS", "CIL_STATISTICS")], size=(320, 140))
    g.link(scale, 0, layout, "image")
    g.link(layout, 0, encode, "pixels")
    g.link(ids["vae"], 0, encode, "vae")
    g.link(encode, 0, stats, "mean_latent")
    ai_widgets = list(CIL_AI_WIDGETS)
    ai_widgets[0], ai_widgets[1] = 900.0, A14B_STEPS
    cil = g.node("CILAnalyticInit", (1140, 420), ai_widgets,
                 inputs=[("model", "MODEL"), ("statistics", "CIL_STATISTICS"), ("noise", "NOISE")],
                 outputs=[("NOISE", "NOISE"), ("SIGMAS", "SIGMAS")], size=(340, 260),
                 title="Analytic-Init (high-noise expert)")
    g.link(high, 0, cil, "model")
    g.link(stats, 0, cil, "statistics")
    split = g.node("SplitSigmas", (1500, 420), [A14B_STEPS // 2], inputs=[("sigmas", "SIGMAS")],
                   outputs=[("high_sigmas", "SIGMAS"), ("low_sigmas", "SIGMAS")], title="SplitSigmas (expert hand-over)")
    g.link(cil, 1, split, "sigmas")

    sampler = g.node("KSamplerSelect", (1500, 560), ["euler"], outputs=[("SAMPLER", "SAMPLER")])
    disable = g.node("DisableNoise", (1500, 660), outputs=[("NOISE", "NOISE")])
    g_high = guider(g, (1500, 0), high, (cond, 0), (cond, 1), A14B_CFG, title="CFGGuider (high-noise expert)")
    g_low = guider(g, (1500, 160), low, (cond, 0), (cond, 1), A14B_CFG, title="CFGGuider (low-noise expert)")
    first = sampler_advanced(g, (1860, 0), (cil, 0), g_high, sampler, (split, 0), (cond, 2),
                             title="High-noise expert (Analytic-Init NOISE)")
    second = sampler_advanced(g, (1860, 200), (disable, 0), g_low, sampler, (split, 1), (first, 0),
                              title="Low-noise expert (DisableNoise)")
    decode_and_save(g, (2220, 0), second, ids["vae"], 16.0, "Wan22_A14B_AnalyticInit")
    g.note((1860, 420), A14B_NOTE, size=(560, 620))
    return g


TI2V_NOTE = """## Wan 2.2 5B TI2V + FrameInit camera pan (training-free camera control)
Core's Wan 2.2 5B text-and-image-to-video graph (its template's models, 1280x704, 121 frames, shift 8, CFG 5,
`uni_pc` / `simple`, 20 steps) on SamplerCustomAdvanced, with the start noise replaced by **FrameInit Noise** built
from a **camera layout**: your image seen through a slow pan, encoded with the **Wan 2.2 VAE** (48 channels, x16,
causal x4 in time). The video starts from the layout's low frequencies, so the camera follows the pan.

Wan 2.2 5B writes the image into the first latent frame under a **noise mask** 0 (*Wan22ImageToVideoLatent*):
ComfyUI keeps that frame exactly the encoded image at every step; FrameInit's start applies to the other frames.
The conditioning image is the layout's first frame, so image and layout agree.

**Knobs**
- *Camera Move*: `pan_distance` 0.25 of the frame over the clip, direction `pan_angle`; *Camera Layout* frames = the
  latent node's `length` (121 = 4k+1) and the same width/height (multiples of 32).
- *FrameInit Noise*: the paper's camera setting, *noise_timestep* 750, *spatial_cutoff* = *temporal_cutoff* = 0.5,
  *temporal_padding* `mirror`, `consisti2v_snr` (ConsistI2V's layout strength on this flow model). Raise the
  cutoffs / lower noise_timestep to follow the pan more closely; the opposite for more freedom.
- Full 3-D attention already lets every frame attend to the first one: no first-frame attention patch.

**Files** (download links in the loaders): `wan2.2_ti2v_5B_fp16.safetensors` (diffusion_models),
`umt5_xxl_fp8_e4m3fn_scaled.safetensors` (text_encoders), `wan2.2_vae.safetensors` (vae; the Wan 2.1 VAE does not
fit the 5B model)."""


def wan22_5b_camera_pan() -> Graph:
    g = WanGraph({
        "cdi2v_requires_nodes": ["Wan22ImageToVideoLatent"],
        "cdi2v_cpu_shrink": {"Wan22ImageToVideoLatent": {"width": CPU_SIZE, "height": CPU_SIZE, "length": CPU_FRAMES},
                             "ImageScale": {"width": CPU_SIZE, "height": CPU_SIZE},
                             "ConsistI2VCameraLayout": {"width": CPU_SIZE, "height": CPU_SIZE, "frames": CPU_FRAMES}},
    })
    ids = loaders(g, [WAN22_5B], WAN22_VAE,
                  "Low contrast. In a retro 1970s-style subway station, a street musician plays in dim colors and "
                  "rough textures. He wears an old jacket, playing guitar with focus. Commuters hurry by, and a small "
                  "crowd gathers to listen. The camera slowly moves right, capturing the blend of music and city "
                  "noise, with old subway signs and mottled walls in the background.")
    (model,) = ids["models"]
    y = ids["y"]
    scale = g.node("ImageScale", (400, y + 250), ["lanczos", TI2V_W, TI2V_H, "center"],
                   inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")])
    g.link(ids["image"], 0, scale, "image")
    path = g.node("ConsistI2VCameraMove", (700, 420), list(MOVE_DEFAULTS), inputs=[("previous", "CI2V_CAMERA_PATH")],
                  outputs=[("CAMERA_PATH", "CI2V_CAMERA_PATH")], size=(340, 300))
    layout = g.node("ConsistI2VCameraLayout", (1080, 420), [TI2V_FRAMES, TI2V_W, TI2V_H, "reflect", "off"],
                    inputs=[("image", "IMAGE"), ("camera_path", "CI2V_CAMERA_PATH")], outputs=[("IMAGE", "IMAGE")],
                    size=(340, 220))
    first = g.node("ImageFromBatch", (1080, 680), [0, 1], inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")])
    encode = g.node("VAEEncode", (1440, 420), inputs=[("pixels", "IMAGE"), ("vae", "VAE")],
                    outputs=[("LATENT", "LATENT")], title="VAE Encode (camera layout, Wan 2.2 VAE)")
    g.link(scale, 0, layout, "image")
    g.link(path, 0, layout, "camera_path")
    g.link(layout, 0, first, "image")
    g.link(layout, 0, encode, "pixels")
    g.link(ids["vae"], 0, encode, "vae")
    latent = g.node("Wan22ImageToVideoLatent", (1140, 0), [TI2V_W, TI2V_H, TI2V_FRAMES, 1],
                    inputs=[("vae", "VAE"), ("start_image", "IMAGE")], outputs=[("LATENT", "LATENT")],
                    size=(320, 180))
    g.link(ids["vae"], 0, latent, "vae")
    g.link(first, 0, latent, "start_image")

    g_cfg = guider(g, (1500, 0), model, (ids["pos"], 0), (ids["neg"], 0), TI2V_CFG)  # the prompts directly
    sampler = g.node("KSamplerSelect", (1500, 160), ["uni_pc"], outputs=[("SAMPLER", "SAMPLER")])
    sched = g.node("BasicScheduler", (1500, 260), ["simple", TI2V_STEPS, 1.0], inputs=[("model", "MODEL")],
                   outputs=[("SIGMAS", "SIGMAS")])
    g.link(model, 0, sched, "model")
    tau, d0 = CAMERA_FRAMEINIT["pan"]
    noise = g.node("ConsistI2VFrameInitNoise", (1800, 420),
                   [0, "randomize", tau, "consisti2v_snr", "gaussian", d0, d0, 4, False, "pyoco_mixed", 1.0, False,
                    "mirror"],
                   inputs=[("model", "MODEL"), ("layout", "LATENT"), ("sigmas", "SIGMAS")],
                   outputs=[("NOISE", "NOISE")], size=(340, 420))
    g.link(model, 0, noise, "model")
    g.link(encode, 0, noise, "layout")
    g.link(sched, 0, noise, "sigmas")
    run = sampler_advanced(g, (1860, 0), (noise, 0), g_cfg, sampler, (sched, 0), (latent, 0))
    decode_and_save(g, (2220, 0), run, ids["vae"], 24.0, "Wan22_5B_FrameInit_pan")
    g.note((2220, 620), TI2V_NOTE, size=(520, 560))
    return g


I2V21_NOTE = """## Wan 2.1 I2V + PYoCo noise (ConsistI2V)
Core's Wan 2.1 image-to-video graph (its template's models, 512x512, 33 frames, shift 8, CFG 6, `uni_pc` /
`simple`, 20 steps, CLIP vision H of the image) on SamplerCustomAdvanced, with **PYoCo Video Noise** in place of
RandomNoise: frames share part of their noise, which keeps the subject steadier (less flicker and identity drift).

Wan 2.1 I2V takes the image by concat (VAE latent of the image + grey frames, and a mask, in the conditioning):
every sampled latent frame starts from the PYoCo noise.

**Knobs**
- *PYoCo*: `noise_type` pyoco_mixed (shared + own noise) or pyoco_progressive (each frame continues the last),
  `pyoco_alpha` 1.0: higher = frames more alike (steadier, less motion); 0 = plain noise.
- *WanImageToVideo*: `length` 33 (4k+1), width/height multiples of 16.
- Full 3-D attention already lets every frame attend to the first one: no first-frame attention patch.

**Files** (download links in the loaders): `wan2.1_i2v_480p_14B_fp16.safetensors` (diffusion_models),
`umt5_xxl_fp8_e4m3fn_scaled.safetensors` (text_encoders), `wan_2.1_vae.safetensors` (vae),
`clip_vision_h.safetensors` (clip_vision)."""


def wan21_i2v_pyoco() -> Graph:
    g = WanGraph({
        "cdi2v_requires_nodes": ["WanImageToVideo"],
        "cdi2v_cpu_shrink": {"WanImageToVideo": {"width": CPU_SIZE, "height": CPU_SIZE, "length": CPU_FRAMES}},
    })
    ids = loaders(g, [WAN21_I2V], WAN21_VAE,
                  "a cute anime girl with massive fennec ears and a big fluffy tail wearing a maid outfit turning "
                  "around")
    (model,) = ids["models"]
    y = ids["y"]
    vision = g.node("CLIPVisionLoader", (400, y), [CLIP_VISION_H["name"]], outputs=[("CLIP_VISION", "CLIP_VISION")],
                    size=(300, 60), models=[CLIP_VISION_H])
    encode = g.node("CLIPVisionEncode", (400, y + 250), ["none"],
                    inputs=[("clip_vision", "CLIP_VISION"), ("image", "IMAGE")],
                    outputs=[("CLIP_VISION_OUTPUT", "CLIP_VISION_OUTPUT")])
    g.link(vision, 0, encode, "clip_vision")
    g.link(ids["image"], 0, encode, "image")
    cond = g.node("WanImageToVideo", (1140, 0), [I2V21_SIZE, I2V21_SIZE, I2V21_FRAMES, 1],
                  inputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("vae", "VAE"),
                          ("clip_vision_output", "CLIP_VISION_OUTPUT"), ("start_image", "IMAGE")],
                  outputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent", "LATENT")],
                  size=(320, 220))
    g.link(ids["pos"], 0, cond, "positive")
    g.link(ids["neg"], 0, cond, "negative")
    g.link(ids["vae"], 0, cond, "vae")
    g.link(encode, 0, cond, "clip_vision_output")
    g.link(ids["image"], 0, cond, "start_image")
    g_cfg = guider(g, (1500, 0), model, (cond, 0), (cond, 1), I2V21_CFG)
    sampler = g.node("KSamplerSelect", (1500, 160), ["uni_pc"], outputs=[("SAMPLER", "SAMPLER")])
    sched = g.node("BasicScheduler", (1500, 260), ["simple", I2V21_STEPS, 1.0], inputs=[("model", "MODEL")],
                   outputs=[("SIGMAS", "SIGMAS")])
    g.link(model, 0, sched, "model")
    noise = g.node("ConsistI2VPYoCoNoise", (1500, 420), [0, "randomize", "pyoco_mixed", 1.0],
                   outputs=[("NOISE", "NOISE")], size=(320, 160))
    run = sampler_advanced(g, (1860, 0), (noise, 0), g_cfg, sampler, (sched, 0), (cond, 2))
    decode_and_save(g, (2220, 0), run, ids["vae"], 16.0, "Wan21_I2V_PYoCo")
    g.note((1500, 640), I2V21_NOTE, size=(520, 460))
    return g


WORKFLOWS = {
    "wan22_a14b_analytic_init": wan22_a14b_analytic_init,
    "wan22_5b_camera_pan": wan22_5b_camera_pan,
    "wan21_i2v_pyoco": wan21_i2v_pyoco,
}
