"""Workflows on HunyuanVideo 1.5 I2V and Cosmos Predict2 I2V, wired as core's own templates wire them
(video_hunyuan_video_1.5_720p_i2v, video_cosmos_predict2_2B_video2world_480p_16fps), with the pack's NOISE /
SIGMAS nodes in place of RandomNoise. Model names and URLs are the templates' own."""
from __future__ import annotations

import json

from scripts.build_workflows import CAMERA_FRAMEINIT, MOVE_DEFAULTS, Graph

HV15_REPO = "https://huggingface.co/Comfy-Org/HunyuanVideo_1.5_repackaged/resolve/main/split_files/"
HV15_UNET = {"name": "hunyuanvideo1.5_720p_i2v_fp16.safetensors",
             "url": HV15_REPO + "diffusion_models/hunyuanvideo1.5_720p_i2v_fp16.safetensors",
             "directory": "diffusion_models"}
HV15_QWEN = {"name": "qwen_2.5_vl_7b_fp8_scaled.safetensors",
             "url": HV15_REPO + "text_encoders/qwen_2.5_vl_7b_fp8_scaled.safetensors", "directory": "text_encoders"}
HV15_BYT5 = {"name": "byt5_small_glyphxl_fp16.safetensors",
             "url": HV15_REPO + "text_encoders/byt5_small_glyphxl_fp16.safetensors", "directory": "text_encoders"}
HV15_VAE = {"name": "hunyuanvideo15_vae_fp16.safetensors",
            "url": HV15_REPO + "vae/hunyuanvideo15_vae_fp16.safetensors", "directory": "vae"}
SIGCLIP = {"name": "sigclip_vision_patch14_384.safetensors",
           "url": "https://huggingface.co/Comfy-Org/sigclip_vision_384/resolve/main/sigclip_vision_patch14_384.safetensors",
           "directory": "clip_vision"}

COSMOS_UNET = {"name": "cosmos_predict2_2B_video2world_480p_16fps.safetensors",
               "url": "https://huggingface.co/Comfy-Org/Cosmos_Predict2_repackaged/resolve/main/"
                      "cosmos_predict2_2B_video2world_480p_16fps.safetensors",
               "directory": "diffusion_models"}
COSMOS_T5 = {"name": "oldt5_xxl_fp8_e4m3fn_scaled.safetensors",
             "url": "https://huggingface.co/comfyanonymous/cosmos_1.0_text_encoder_and_VAE_ComfyUI/resolve/main/"
                    "text_encoders/oldt5_xxl_fp8_e4m3fn_scaled.safetensors",
             "directory": "text_encoders"}
WAN21_VAE = {"name": "wan_2.1_vae.safetensors",
             "url": "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files/vae/"
                    "wan_2.1_vae.safetensors",
             "directory": "vae"}

HV15_W, HV15_H, HV15_FRAMES = 1280, 720, 121  # the template's 720p I2V size
COSMOS_W, COSMOS_H, COSMOS_FRAMES = 848, 480, 93  # the template's 480p 16 fps size


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


def _prompts(g: Graph, clip: int, x: int, y: int, text: str) -> tuple[int, int]:
    pos = g.node("CLIPTextEncode", (x, y), [text], inputs=[("clip", "CLIP")],
                 outputs=[("CONDITIONING", "CONDITIONING")], size=(400, 200), title="Positive prompt")
    neg = g.node("CLIPTextEncode", (x, y + 240), [""], inputs=[("clip", "CLIP")],
                 outputs=[("CONDITIONING", "CONDITIONING")], size=(400, 120), title="Negative prompt")
    g.link(clip, 0, pos, "clip")
    g.link(clip, 0, neg, "clip")
    return pos, neg


def _sample_and_save(g: Graph, x: int, noise: int, guider: int, sampler: int, sigmas: tuple[int, int],
                     latent: tuple[int, int], vae: int, fps: float, prefix: str) -> None:
    run = g.node("SamplerCustomAdvanced", (x, 0),
                 inputs=[("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                         ("latent_image", "LATENT")],
                 outputs=[("output", "LATENT"), ("denoised_output", "LATENT")], size=(320, 140))
    decode = g.node("VAEDecode", (x, 200), inputs=[("samples", "LATENT"), ("vae", "VAE")],
                    outputs=[("IMAGE", "IMAGE")])
    save = g.node("SaveAnimatedWEBP", (x, 320), [prefix, fps, False, 85, "default"],
                  inputs=[("images", "IMAGE")], size=(400, 480))
    g.link(noise, 0, run, "noise")
    g.link(guider, 0, run, "guider")
    g.link(sampler, 0, run, "sampler")
    g.link(sigmas[0], sigmas[1], run, "sigmas")
    g.link(latent[0], latent[1], run, "latent_image")
    g.link(run, 0, decode, "samples")
    g.link(vae, 0, decode, "vae")
    g.link(decode, 0, save, "images")


HV15_NOTE = """## HunyuanVideo 1.5 I2V + FrameInit camera zoom (training-free camera control)
Core's HunyuanVideo 1.5 720p I2V graph (its template's models, CFG 6, shift 7, euler, `simple`) with the start
noise replaced by **FrameInit Noise** built from a **camera layout**: your image seen through a slow zoom,
encoded with the HunyuanVideo 1.5 VAE (32 channels, x16, causal x4 in time). The video starts from the layout's
low frequencies, so the camera follows the zoom while the model fills in the detail. HunyuanVideo 1.5 takes the
image by concat (the image latent rides in the conditioning); every sampled frame starts from the FrameInit state.

**Files** (download links in the loaders): `hunyuanvideo1.5_720p_i2v_fp16.safetensors` (diffusion_models),
`qwen_2.5_vl_7b_fp8_scaled.safetensors` + `byt5_small_glyphxl_fp16.safetensors` (text_encoders),
`hunyuanvideo15_vae_fp16.safetensors` (vae), `sigclip_vision_patch14_384.safetensors` (clip_vision).

**Knobs**
- *Camera Move*: `zoom_scale` 1.5 over the clip; *Camera Layout* frames = HunyuanVideo15ImageToVideo `length`
  (121 = 4k+1) and the same width/height (1280x720, multiples of 16).
- *FrameInit Noise*: the paper's camera setting, *noise_timestep* 750, *spatial_cutoff* = *temporal_cutoff* = 0.5,
  *temporal_padding* `mirror`. Lower the cutoffs / raise noise_timestep for more freedom, raise them to follow
  the zoom more closely. *timestep_scale* `auto` gives the layout the paper's share of the start state on this
  flow model (shift 7), whatever its schedule.
- The conditioning image is the layout's first frame, so image and layout agree.
- *BasicScheduler* 20 steps (the template; the Hunyuan team used 50). Full 3-D attention already lets every frame
  attend to the first one: no first-frame attention patch is needed on this DiT."""

COSMOS_NOTE = """## Cosmos Predict2 I2V + PYoCo noise
Core's Cosmos Predict2 2B Video2World graph (its template's models, 848x480, 93 frames, CFG 4, euler, `karras`,
35 steps) on SamplerCustomAdvanced, with **PYoCo Video Noise** in place of RandomNoise: frames share part of their
noise, which keeps the subject steadier across the clip.

Cosmos Predict2 writes the image into the first latent frame under a noise mask 0: ComfyUI keeps that frame clean
at every step (the model sees the conditioning there whatever the noise), the other frames start from PYoCo.

**Files** (download links in the loaders): `cosmos_predict2_2B_video2world_480p_16fps.safetensors`
(diffusion_models), `oldt5_xxl_fp8_e4m3fn_scaled.safetensors` (text_encoders, CLIPLoader type `cosmos`),
`wan_2.1_vae.safetensors` (vae: Cosmos Predict2 uses the Wan 2.1 VAE).

**Knobs**
- *PYoCo*: `noise_type` pyoco_mixed (or progressive), `pyoco_alpha` 1.0: higher = frames more alike.
- *CosmosPredict2ImageToVideoLatent*: `length` 93 (4k+1), optional `end_image` (held at the end the same way).
- *CFGGuider* 4, *BasicScheduler* `karras` 35 steps (the template's KSampler settings); 16 fps output.
- Full 3-D attention already lets every frame attend to the first one: no first-frame attention patch."""


def hunyuan15_i2v_frameinit_zoom() -> Graph:
    g = FamilyGraph({
        "cdi2v_requires_nodes": ["HunyuanVideo15ImageToVideo"],
        "cdi2v_cpu_shrink": {"HunyuanVideo15ImageToVideo": {"width": 64, "height": 64, "length": 5},
                             "ConsistI2VCameraLayout": {"width": 64, "height": 64, "frames": 5}},
    })
    unet = g.node("UNETLoader", (0, 0), [HV15_UNET["name"], "default"], outputs=[("MODEL", "MODEL")],
                  models=[HV15_UNET])
    clip = g.node("DualCLIPLoader", (0, 140), [HV15_QWEN["name"], HV15_BYT5["name"], "hunyuan_video_15", "default"],
                  outputs=[("CLIP", "CLIP")], size=(360, 160), models=[HV15_QWEN, HV15_BYT5])
    vae = g.node("VAELoader", (0, 340), [HV15_VAE["name"]], outputs=[("VAE", "VAE")], models=[HV15_VAE])
    vision = g.node("CLIPVisionLoader", (0, 460), [SIGCLIP["name"]], outputs=[("CLIP_VISION", "CLIP_VISION")],
                    models=[SIGCLIP])
    image = g.node("LoadImage", (0, 580), ["example.png", "image"], outputs=[("IMAGE", "IMAGE"), ("MASK", "MASK")],
                   size=(320, 320))
    move = list(MOVE_DEFAULTS)
    move[0] = "zoom"
    path = g.node("ConsistI2VCameraMove", (380, 580), move, inputs=[("previous", "CI2V_CAMERA_PATH")],
                  outputs=[("CAMERA_PATH", "CI2V_CAMERA_PATH")], size=(340, 300))
    layout = g.node("ConsistI2VCameraLayout", (760, 580), [HV15_FRAMES, HV15_W, HV15_H, "reflect", "off"],
                    inputs=[("image", "IMAGE"), ("camera_path", "CI2V_CAMERA_PATH")], outputs=[("IMAGE", "IMAGE")],
                    size=(340, 220))
    first = g.node("ImageFromBatch", (760, 840), [0, 1], inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")])
    encode_layout = g.node("VAEEncode", (1140, 580), inputs=[("pixels", "IMAGE"), ("vae", "VAE")],
                           outputs=[("LATENT", "LATENT")], title="VAE Encode (camera layout)")
    g.link(image, 0, layout, "image")
    g.link(path, 0, layout, "camera_path")
    g.link(layout, 0, first, "image")
    g.link(layout, 0, encode_layout, "pixels")
    g.link(vae, 0, encode_layout, "vae")

    vision_enc = g.node("CLIPVisionEncode", (380, 340), ["center"],
                        inputs=[("clip_vision", "CLIP_VISION"), ("image", "IMAGE")],
                        outputs=[("CLIP_VISION_OUTPUT", "CLIP_VISION_OUTPUT")])
    g.link(vision, 0, vision_enc, "clip_vision")
    g.link(first, 0, vision_enc, "image")
    pos, neg = _prompts(g, clip, 380, -120, "The camera slowly zooms in; gentle natural motion, soft light.")
    cond = g.node("HunyuanVideo15ImageToVideo", (800, 0), [HV15_W, HV15_H, HV15_FRAMES, 1],
                  inputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("vae", "VAE"),
                          ("start_image", "IMAGE"), ("clip_vision_output", "CLIP_VISION_OUTPUT")],
                  outputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent", "LATENT")],
                  size=(340, 240))
    g.link(pos, 0, cond, "positive")
    g.link(neg, 0, cond, "negative")
    g.link(vae, 0, cond, "vae")
    g.link(first, 0, cond, "start_image")
    g.link(vision_enc, 0, cond, "clip_vision_output")

    shift = g.node("ModelSamplingSD3", (380, 0), [7.0], inputs=[("model", "MODEL")], outputs=[("MODEL", "MODEL")])
    g.link(unet, 0, shift, "model")
    guider = g.node("CFGGuider", (1180, 0), [6.0],
                    inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
                    outputs=[("GUIDER", "GUIDER")])
    g.link(shift, 0, guider, "model")
    g.link(cond, 0, guider, "positive")
    g.link(cond, 1, guider, "negative")
    sampler = g.node("KSamplerSelect", (1180, 140), ["euler"], outputs=[("SAMPLER", "SAMPLER")])
    sched = g.node("BasicScheduler", (1180, 260), ["simple", 20, 1.0], inputs=[("model", "MODEL")],
                   outputs=[("SIGMAS", "SIGMAS")])
    g.link(shift, 0, sched, "model")
    tau, d0 = CAMERA_FRAMEINIT["zoom"]
    noise = g.node("ConsistI2VFrameInitNoise", (1520, 580),
                   [0, "randomize", tau, "auto", "gaussian", d0, d0, 4, False, "pyoco_mixed", 1.0, False,
                    "mirror"],
                   inputs=[("model", "MODEL"), ("layout", "LATENT"), ("sigmas", "SIGMAS")],
                   outputs=[("NOISE", "NOISE")], size=(340, 420))
    g.link(shift, 0, noise, "model")
    g.link(encode_layout, 0, noise, "layout")
    g.link(sched, 0, noise, "sigmas")
    _sample_and_save(g, 1560, noise, guider, sampler, (sched, 0), (cond, 2), vae, 24.0, "HunyuanVideo15_FrameInit")
    g.note((1960, 580), HV15_NOTE, size=(480, 560))
    g.models = [HV15_UNET, HV15_QWEN, HV15_BYT5, HV15_VAE, SIGCLIP]
    return g


def cosmos_predict2_i2v_pyoco() -> Graph:
    g = FamilyGraph({
        "cdi2v_requires_nodes": ["CosmosPredict2ImageToVideoLatent"],
        "cdi2v_cpu_shrink": {"CosmosPredict2ImageToVideoLatent": {"width": 32, "height": 32, "length": 9}},
    })
    unet = g.node("UNETLoader", (0, 0), [COSMOS_UNET["name"], "default"], outputs=[("MODEL", "MODEL")],
                  models=[COSMOS_UNET])
    clip = g.node("CLIPLoader", (0, 140), [COSMOS_T5["name"], "cosmos", "default"], outputs=[("CLIP", "CLIP")],
                  size=(360, 120), models=[COSMOS_T5])
    vae = g.node("VAELoader", (0, 300), [WAN21_VAE["name"]], outputs=[("VAE", "VAE")], models=[WAN21_VAE])
    image = g.node("LoadImage", (0, 420), ["example.png", "image"], outputs=[("IMAGE", "IMAGE"), ("MASK", "MASK")],
                   size=(320, 320))
    pos, neg = _prompts(g, clip, 380, -120, "A paper boat drifts across a calm pond, ripples spreading, "
                                            "realistic, cinematic.")
    latent = g.node("CosmosPredict2ImageToVideoLatent", (380, 420), [COSMOS_W, COSMOS_H, COSMOS_FRAMES, 1],
                    inputs=[("vae", "VAE"), ("start_image", "IMAGE"), ("end_image", "IMAGE")],
                    outputs=[("LATENT", "LATENT")], size=(340, 200))
    g.link(vae, 0, latent, "vae")
    g.link(image, 0, latent, "start_image")
    guider = g.node("CFGGuider", (820, 0), [4.0],
                    inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
                    outputs=[("GUIDER", "GUIDER")])
    g.link(unet, 0, guider, "model")
    g.link(pos, 0, guider, "positive")
    g.link(neg, 0, guider, "negative")
    sampler = g.node("KSamplerSelect", (820, 140), ["euler"], outputs=[("SAMPLER", "SAMPLER")])
    sched = g.node("BasicScheduler", (820, 260), ["karras", 35, 1.0], inputs=[("model", "MODEL")],
                   outputs=[("SIGMAS", "SIGMAS")])
    g.link(unet, 0, sched, "model")
    noise = g.node("ConsistI2VPYoCoNoise", (820, 420), [0, "randomize", "pyoco_mixed", 1.0],
                   outputs=[("NOISE", "NOISE")], size=(320, 160))
    _sample_and_save(g, 1200, noise, guider, sampler, (sched, 0), (latent, 0), vae, 16.0, "CosmosPredict2_PYoCo")
    g.note((380, 680), COSMOS_NOTE, size=(460, 460))
    g.models = [COSMOS_UNET, COSMOS_T5, WAN21_VAE]
    return g


WORKFLOWS = {
    "hunyuan15_i2v_frameinit_zoom": hunyuan15_i2v_frameinit_zoom,
    "cosmos_predict2_i2v_pyoco": cosmos_predict2_i2v_pyoco,
}
