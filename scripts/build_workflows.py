"""Write the example workflows in ``workflows/`` (UI format, as the frontend saves it).

Run ``python scripts/build_workflows.py`` after changing a node's widgets; the tests load every file.
"""
from __future__ import annotations

import json
import tomllib
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
CNR_ID = "consistent-dynamic-i2v"
OUR_PREFIXES = ("ConsistI2V", "CIL")

SVD_XT = {
    "name": "svd_xt.safetensors",
    "url": "https://huggingface.co/stabilityai/stable-video-diffusion-img2vid-xt/resolve/main/svd_xt.safetensors",
    "directory": "checkpoints",
}


def downloadable(entry: dict) -> bool:
    """What the frontend's Missing Models dialog downloads: a safetensors file from Hugging Face or Civitai."""
    return all(entry[k].split("?")[0].endswith((".safetensors", ".sft")) for k in ("name", "url"))


class Graph:
    def __init__(self):
        self.nodes, self.links = [], []
        self.manual = []  # files to fetch by hand (pickles, files to convert): extra.cdi2v_manual_files

    def node(self, kind, pos, widgets=(), inputs=(), outputs=(), size=(320, 120), title=None, models=None):
        """inputs: (name, type) sockets; outputs: (name, type)."""
        nid = len(self.nodes) + 1
        ours = kind.startswith(OUR_PREFIXES)
        props = {"Node name for S&R": kind, "cnr_id": CNR_ID if ours else "comfy-core",
                 "ver": VERSION if ours else "0.3.64"}
        if models:
            props["models"] = [m for m in models if downloadable(m)] or None
            self.manual += [m for m in models if not downloadable(m) and m not in self.manual]
            if props["models"] is None:
                del props["models"]
        node = {
            "id": nid, "type": kind, "pos": list(pos), "size": list(size), "flags": {}, "order": nid - 1,
            "mode": 0, "inputs": [{"name": n, "type": t, "link": None} for n, t in inputs],
            "outputs": [{"name": n, "type": t, "links": [], "slot_index": i} for i, (n, t) in enumerate(outputs)],
            "properties": props, "widgets_values": list(widgets),
        }
        if title:
            node["title"] = title
        self.nodes.append(node)
        return nid

    def link(self, src, slot, dst, name):
        lid = len(self.links) + 1
        s, d = self.nodes[src - 1], self.nodes[dst - 1]
        kind = s["outputs"][slot]["type"]
        s["outputs"][slot]["links"].append(lid)
        target = next(i for i, inp in enumerate(d["inputs"]) if inp["name"] == name)
        d["inputs"][target]["link"] = lid
        self.links.append([lid, src, slot, dst, target, kind])

    def note(self, pos, text, size=(420, 360)):
        self.node("MarkdownNote", pos, widgets=[text], size=size, title="How to use")
        self.nodes[-1]["properties"] = {}
        self.nodes[-1]["color"], self.nodes[-1]["bgcolor"] = "#432", "#653"

    def dump(self, path: Path, models):
        manual = self.manual + [m for m in models if not downloadable(m) and m not in self.manual]
        extra = {"ds": {"scale": 0.8, "offset": [0, 0]}}
        if manual:
            extra["cdi2v_manual_files"] = manual
            note = next(n for n in self.nodes if n["type"] == "MarkdownNote")
            note["widgets_values"][0] += "\n\n**Fetch by hand** (the Missing Models dialog only downloads safetensors):\n" + \
                "\n".join(f"- `{m['name']}` in `models/{m['directory']}`: {m['url']}" for m in manual)
        wf = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{CNR_ID}/{path.stem}")), "revision": 0,
              "last_node_id": len(self.nodes), "last_link_id": len(self.links),
              "nodes": self.nodes, "links": self.links, "groups": [], "config": {},
              "extra": extra, "models": [m for m in models if downloadable(m)], "version": 0.4}
        path.write_text(json.dumps(wf, indent=1) + "\n")


def svd_inputs(g: Graph, frames=25, width=1024, height=576, init_image=None, scheduler=True, unet=None):
    """Loader, image, SVD conditioning, sampler and scheduler. ``init_image(g, scale_id)`` may supply the
    conditioning image (e.g. a camera layout's first frame); default: the scaled input image. ``scheduler=False``
    leaves out the BasicScheduler (for graphs whose SIGMAS come from another node). ``unet``: a MODEL node that
    replaces the checkpoint's UNet (e.g. an SVD-CIL loader)."""
    ckpt = g.node("ImageOnlyCheckpointLoader", (0, 0), ["svd_xt.safetensors"],
                  outputs=[("MODEL", "MODEL"), ("CLIP_VISION", "CLIP_VISION"), ("VAE", "VAE")], models=[SVD_XT])
    img = g.node("LoadImage", (0, 160), ["example.png", "image"], outputs=[("IMAGE", "IMAGE"), ("MASK", "MASK")],
                 size=(320, 320))
    scale = g.node("ImageScale", (380, 160), ["bilinear", width, height, "center"],
                   inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")])
    g.link(img, 0, scale, "image")
    source = init_image(g, scale) if init_image else (scale, 0)
    cond = g.node("SVD_img2vid_Conditioning", (760, 0), [width, height, frames, 127, 6, 0.0],
                  inputs=[("clip_vision", "CLIP_VISION"), ("init_image", "IMAGE"), ("vae", "VAE")],
                  outputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent", "LATENT")],
                  size=(320, 260))
    vlcfg = g.node("VideoLinearCFGGuidance", (380, 0), [1.0], inputs=[("model", "MODEL")],
                   outputs=[("MODEL", "MODEL")])
    sampler = g.node("KSamplerSelect", (1140, 170), ["euler"], outputs=[("SAMPLER", "SAMPLER")])
    sched = g.node("BasicScheduler", (1140, 290), ["karras", 20, 1.0], inputs=[("model", "MODEL")],
                   outputs=[("SIGMAS", "SIGMAS")]) if scheduler else None
    g.link(ckpt, 1, cond, "clip_vision")
    g.link(source[0], source[1], cond, "init_image")
    g.link(ckpt, 2, cond, "vae")
    g.link(unet or ckpt, 0, vlcfg, "model")
    if sched:
        g.link(vlcfg, 0, sched, "model")
    return dict(ckpt=ckpt, scale=scale, cond=cond, model=vlcfg, sampler=sampler, sched=sched, frames=frames)


def decode_and_save(g: Graph, ids, latent_src):
    decode = g.node("VAEDecode", (2260, 0), inputs=[("samples", "LATENT"), ("vae", "VAE")],
                    outputs=[("IMAGE", "IMAGE")])
    save = g.node("SaveAnimatedWEBP", (2260, 120), ["ConsistentDynamicI2V", 6.0, False, 85, "default"],
                  inputs=[("images", "IMAGE")], size=(400, 480))
    g.link(latent_src, 0, decode, "samples")
    g.link(ids["ckpt"], 2, decode, "vae")
    g.link(decode, 0, save, "images")


def svd_base(g: Graph, frames=25, width=1024, height=576, init_image=None):
    """SVD image-to-video through SamplerCustomAdvanced; returns ids needed to attach a NOISE."""
    ids = svd_inputs(g, frames, width, height, init_image)
    guider = g.node("CFGGuider", (1140, 0), [2.5],
                    inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
                    outputs=[("GUIDER", "GUIDER")])
    run = g.node("SamplerCustomAdvanced", (1900, 0),
                 inputs=[("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                         ("latent_image", "LATENT")],
                 outputs=[("output", "LATENT"), ("denoised_output", "LATENT")], size=(300, 120))
    g.link(ids["model"], 0, guider, "model")
    g.link(ids["cond"], 0, guider, "positive")
    g.link(ids["cond"], 1, guider, "negative")
    g.link(guider, 0, run, "guider")
    g.link(ids["sampler"], 0, run, "sampler")
    g.link(ids["sched"], 0, run, "sigmas")
    g.link(ids["cond"], 2, run, "latent_image")
    decode_and_save(g, ids, run)
    return dict(ids, run=run)


FRAMEINIT_NOTE = """## SVD + FrameInit (ConsistI2V)
FrameInit starts sampling from the **low frequencies of a layout video** (here: the input image repeated) plus fresh
high-frequency noise, so the clip keeps the first frame's composition and colours.

**Knobs** (FrameInit Noise node)
- *noise_timestep* 850: lower = closer to the image, less motion; higher = more motion, more drift.
- *timestep_scale* `consisti2v_snr`: the layout strength ConsistI2V has at that timestep. SVD's own schedule
  (`model_schedule`) noises the layout far more at the same number.
- *spatial_cutoff* / *temporal_cutoff* 0.25: keep finer layout detail (higher) or only the rough composition (lower).
- *noise_type* `pyoco_mixed`, *pyoco_alpha* 1.0: frames share part of their noise (steadier).
- Static Layout *frames* must equal the SVD *video_frames*.

Model: `svd_xt.safetensors` in `models/checkpoints` (Stable Video Diffusion XT, download link in the loader)."""

PYOCO_NOTE = """## SVD + PYoCo noise (ConsistI2V)
PYoCo replaces the sampler's independent per-frame noise by **correlated video noise**: every frame shares part of
its noise, which reduces flicker and identity drift.

**Knobs** (PYoCo Video Noise node)
- *noise_type*: `pyoco_mixed` (shared + own noise, ConsistI2V), `pyoco_progressive` (each frame continues the
  last: smoothest), `gaussian` (plain, as RandomNoise).
- *pyoco_alpha* 1.0: frame correlation alpha²/(1+alpha²). Raise it against flicker; lower it for more motion.

Model: `svd_xt.safetensors` in `models/checkpoints` (Stable Video Diffusion XT, download link in the loader)."""


def static_frameinit_noise(g: Graph, ids, layout_pos, noise_pos, seed=(0, "randomize"), title=None):
    """Static Layout of the scaled input -> VAE Encode -> FrameInit Noise (consisti2v_snr) on an SVD graph."""
    layout = g.node("ConsistI2VStaticLayout", layout_pos, [ids["frames"]], inputs=[("image", "IMAGE")],
                    outputs=[("IMAGE", "IMAGE")])
    encode = g.node("VAEEncode", (layout_pos[0], layout_pos[1] + 140), inputs=[("pixels", "IMAGE"), ("vae", "VAE")],
                    outputs=[("LATENT", "LATENT")])
    noise = g.node("ConsistI2VFrameInitNoise", noise_pos,
                   [*seed, 850, "consisti2v_snr", "gaussian", 0.25, 0.25, 4, False, "pyoco_mixed", 1.0, False, "mirror"],
                   inputs=[("model", "MODEL"), ("layout", "LATENT"), ("sigmas", "SIGMAS")],
                   outputs=[("NOISE", "NOISE")], size=(340, 420), title=title)
    g.link(ids["scale"], 0, layout, "image")
    g.link(layout, 0, encode, "pixels")
    g.link(ids["ckpt"], 2, encode, "vae")
    g.link(ids["model"], 0, noise, "model")
    g.link(encode, 0, noise, "layout")
    g.link(ids["sched"], 0, noise, "sigmas")
    return noise


def frameinit_workflow() -> Graph:
    g = Graph()
    ids = svd_base(g)
    noise = static_frameinit_noise(g, ids, (760, 320), (1520, 0))
    g.link(noise, 0, ids["run"], "noise")
    g.note((0, 580), FRAMEINIT_NOTE)
    return g


def pyoco_workflow() -> Graph:
    g = Graph()
    ids = svd_base(g)
    noise = g.node("ConsistI2VPYoCoNoise", (1520, 0), [0, "randomize", "pyoco_mixed", 1.0],
                   outputs=[("NOISE", "NOISE")], size=(320, 160))
    g.link(noise, 0, ids["run"], "noise")
    g.note((0, 580), PYOCO_NOTE)
    return g


LONG_NOTE = """## SVD long video (ConsistI2V autoregressive)
Generates `chunks` clips one after another. Each clip is conditioned on the **last generated latent frame** of the
previous one (no VAE round trip) and starts from FrameInit noise built from that frame, so identity carries over;
the overlapping frame is dropped, giving chunks x (frames - 1) + 1 frames.

**Knobs** (Long Video node)
- *chunks* 3, *overlap* 1: length of the result.
- *anchor_colour*: pulls every later chunk's colour/brightness statistics back to the first frame (against drift).
- *noise_timestep*, *timestep_scale*, cutoffs, *noise_type*: as in FrameInit Noise.
- Optional *camera_layout*: a VAE-encoded layout video for the whole clip continues a camera move across chunks.

Model: `svd_xt.safetensors` in `models/checkpoints` (Stable Video Diffusion XT, download link in the loader)."""


def long_video_workflow() -> Graph:
    g = Graph()
    ids = svd_inputs(g)
    long = g.node("ConsistI2VLongVideo", (1520, 0),
                  [2.5, 0, "randomize", 3, 1, 850, "consisti2v_snr", "gaussian", 0.25, 0.25, 4, "pyoco_mixed", 1.0,
                   True],
                  inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                          ("latent", "LATENT"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                          ("camera_layout", "LATENT")],
                  outputs=[("LATENT", "LATENT")], size=(340, 480))
    g.link(ids["model"], 0, long, "model")
    g.link(ids["cond"], 0, long, "positive")
    g.link(ids["cond"], 1, long, "negative")
    g.link(ids["cond"], 2, long, "latent")
    g.link(ids["sampler"], 0, long, "sampler")
    g.link(ids["sched"], 0, long, "sigmas")
    decode_and_save(g, ids, long)
    g.note((0, 580), LONG_NOTE)
    return g


CAMERA_NOTE = """## SVD + training-free camera move (ConsistI2V)
A **Camera Move** path renders the input image into a synthetic **layout video** (Camera Layout); FrameInit starts
sampling from its low frequencies, so SVD follows the camera without any camera model. The layout's first frame is
SVD's conditioning image. **Camera Path Preview** draws each frame's view on the image (green first, red last).

**Knobs**
- Camera Move: *move* and its amount ({amount}), *start*/*end* span, *easing*; chain several moves via *previous*.
- FrameInit Noise: the paper's camera setting for this move, *noise_timestep* {tau} (`consisti2v_snr`: ConsistI2V's
  layout strength at that timestep), *spatial_cutoff* = *temporal_cutoff* = 0.5 (D0); pan / zoom 750, rotation /
  perspective 700. Lower *noise_timestep* = stronger pull towards the layout (less freedom).
- *temporal_padding* `mirror`: the end of the move does not wrap into the first frames (`circular` = official).
- Camera Layout *frames* must equal SVD *video_frames*; *border* fills views beyond the image (mirrored by default).

Model: `svd_xt.safetensors` in `models/checkpoints` (Stable Video Diffusion XT, download link in the loader)."""

# The paper's FrameInit settings for camera moves (noise level tau, D0 = spatial = temporal cutoff).
CAMERA_FRAMEINIT = {"pan": (750, 0.5), "zoom": (750, 0.5), "roll": (700, 0.5), "perspective": (700, 0.5)}

MOVE_DEFAULTS = ["pan", 0.0, 0.25, 1.5, 15.0, "-0.9,-0.9  0.9,-1.0  1.0,1.0  -1.0,0.9", 0.0, 1.0, "ease_in_out",
                 True, 0.0, 0.0]


def camera_workflow(move: str, amount: str) -> Graph:
    g = Graph()
    made = {}

    def from_layout(g, scale):
        widgets = list(MOVE_DEFAULTS)
        widgets[0] = move
        path = g.node("ConsistI2VCameraMove", (0, 600), widgets, inputs=[("previous", "CI2V_CAMERA_PATH")],
                      outputs=[("CAMERA_PATH", "CI2V_CAMERA_PATH")], size=(340, 300))
        layout = g.node("ConsistI2VCameraLayout", (380, 600), [25, 1024, 576, "reflect", "off"],
                        inputs=[("image", "IMAGE"), ("camera_path", "CI2V_CAMERA_PATH")],
                        outputs=[("IMAGE", "IMAGE")], size=(340, 220))
        first = g.node("ImageFromBatch", (380, 860), [0, 1], inputs=[("image", "IMAGE")],
                       outputs=[("IMAGE", "IMAGE")])
        preview = g.node("ConsistI2VCameraPathPreview", (760, 600), [25, 1024, 576],
                         inputs=[("image", "IMAGE"), ("camera_path", "CI2V_CAMERA_PATH")],
                         outputs=[("IMAGE", "IMAGE")])
        show = g.node("PreviewImage", (760, 760), inputs=[("images", "IMAGE")], size=(320, 260))
        g.link(scale, 0, layout, "image")
        g.link(path, 0, layout, "camera_path")
        g.link(layout, 0, first, "image")
        g.link(scale, 0, preview, "image")
        g.link(path, 0, preview, "camera_path")
        g.link(preview, 0, show, "images")
        made["layout"] = layout
        return (first, 0)

    ids = svd_base(g, init_image=from_layout)
    encode = g.node("VAEEncode", (1140, 600), inputs=[("pixels", "IMAGE"), ("vae", "VAE")],
                    outputs=[("LATENT", "LATENT")])
    tau, d0 = CAMERA_FRAMEINIT[move]
    noise = g.node("ConsistI2VFrameInitNoise", (1520, 0),
                   [0, "randomize", tau, "consisti2v_snr", "gaussian", d0, d0, 4, False, "pyoco_mixed", 1.0,
                    False, "mirror"],
                   inputs=[("model", "MODEL"), ("layout", "LATENT"), ("sigmas", "SIGMAS")],
                   outputs=[("NOISE", "NOISE")], size=(340, 420))
    g.link(made["layout"], 0, encode, "pixels")
    g.link(ids["ckpt"], 2, encode, "vae")
    g.link(ids["model"], 0, noise, "model")
    g.link(encode, 0, noise, "layout")
    g.link(ids["sched"], 0, noise, "sigmas")
    g.link(noise, 0, ids["run"], "noise")
    g.note((1140, 760), CAMERA_NOTE.replace("{amount}", amount).replace("{tau}", str(tau)), size=(460, 420))
    return g


CI2V_URL = "https://huggingface.co/TIGER-Lab/ConsistI2V/resolve/main/"
CI2V_UNET = {"name": "consisti2v_unet.safetensors", "url": CI2V_URL + "unet/diffusion_pytorch_model.safetensors",
             "directory": "diffusion_models"}
CI2V_TEXT = {"name": "consisti2v_text_encoder.safetensors", "url": CI2V_URL + "text_encoder/model.safetensors",
             "directory": "text_encoders"}
CI2V_VAE = {"name": "consisti2v_vae.safetensors", "url": CI2V_URL + "vae/diffusion_pytorch_model.safetensors",
            "directory": "vae"}
CI2V_SIZE, CI2V_FRAMES = 256, 16

CI2V_NOTE = """## ConsistI2V image-to-video (native model)
The ConsistI2V UNet generates 15 frames after your image; every frame attends to the first frame (spatial
first-frame attention and a 3x3 first-frame window in temporal attention), so appearance and layout hold.

**Files** (download links in the loaders): `consisti2v_unet.safetensors` in `models/diffusion_models`,
`consisti2v_text_encoder.safetensors` (SD 2.1 OpenCLIP-H) in `models/text_encoders`, `consisti2v_vae.safetensors`
(SD 2.1 VAE) in `models/vae`.

**Knobs**
- *ConsistI2V Conditioning*: `length` 16 (with the first frame), 256x256 (trained size), `frame_stride` 3:
  higher = larger motion per frame.
- *First-Frame Attention*: both on = the paper's model; turn off to see what they do (paper Table 3).
- *KSampler*: DDIM, `ddim_uniform`, 50 steps, CFG 7.5 (the official settings).
- *Prepend First Frame* puts the input frame in front, so the saved video has all 16 frames (8 fps)."""

CI2V_FRAMEINIT_NOTE = """## ConsistI2V + FrameInit (the paper's full inference)
As the official pipeline: the sampler starts from FrameInit noise built from the first frame repeated (low
frequencies of the noised layout + fresh high frequencies, PYoCo mixed noise).

**Knobs** (FrameInit Noise)
- *noise_timestep* 850, *timestep_scale* `model_schedule` (this is ConsistI2V's own schedule: exact).
- *drop_first_frame* on: the layout has 16 frames, the first is the conditioning frame and is not sampled.
- *spatial_cutoff* / *temporal_cutoff* 0.25 (paper); lower = more motion, higher = closer to the image.
- Static Layout *frames* = Conditioning *length* (16).

**ConsistI2V Guider**: *cfg_text* 7.5, *cfg_image* 1.0 (the official settings: text CFG only). Above 1,
*cfg_image* adds the official image guidance: a third branch sees the empty prompt and the start noise's first
frame (from the connected FrameInit Noise), and the video is pushed towards your first frame (a third model call
per step)."""

CI2V_CAMERA_NOTE = """## ConsistI2V + camera move (training-free)
The camera layout (the image seen through a moving camera) replaces the static layout in FrameInit; its first
frame conditions the model. Same files as the other ConsistI2V workflows.

**Knobs**
- *Camera Move*: pan / zoom / roll / perspective, easing, span. *Camera Layout* frames = `length` (16).
- FrameInit: the paper's camera setting, *noise_timestep* 750 for pan / zoom (700 for roll / perspective),
  *spatial_cutoff* = *temporal_cutoff* = 0.5 (D0); *temporal_padding* `mirror` keeps the end of the move out of
  the first frames (`circular` = official)."""


def prompts(g: Graph, clip: int, x: int, text: str) -> tuple[int, int]:
    """Positive (``text``) and empty negative CLIPTextEncode nodes fed by ``clip``, in a column at ``x``."""
    pos = g.node("CLIPTextEncode", (x, 140), [text], inputs=[("clip", "CLIP")],
                 outputs=[("CONDITIONING", "CONDITIONING")], size=(340, 140))
    neg = g.node("CLIPTextEncode", (x, 320), [""], inputs=[("clip", "CLIP")],
                 outputs=[("CONDITIONING", "CONDITIONING")], size=(340, 100))
    g.link(clip, 0, pos, "clip")
    g.link(clip, 0, neg, "clip")
    return pos, neg


def consisti2v_inputs(g: Graph, layout_image=None):
    """Loaders, prompts, image, conditioning; ``layout_image(g, scale_id)`` may supply the first frame."""
    unet = g.node("ConsistI2VModelLoader", (0, 0), ["consisti2v_unet.safetensors", "default"],
                  outputs=[("MODEL", "MODEL")], models=[CI2V_UNET])
    attention = g.node("ConsistI2VFirstFrameAttention", (380, 0), [True, True, 3], inputs=[("model", "MODEL")],
                       outputs=[("MODEL", "MODEL")])
    clip = g.node("CLIPLoader", (0, 140), ["consisti2v_text_encoder.safetensors", "stable_diffusion", "default"],
                  outputs=[("CLIP", "CLIP")], models=[CI2V_TEXT])
    vae = g.node("VAELoader", (0, 290), ["consisti2v_vae.safetensors"], outputs=[("VAE", "VAE")], models=[CI2V_VAE])
    pos, neg = prompts(g, clip, 380, "a red panda eating bamboo, forest, sunlight")
    img = g.node("LoadImage", (0, 400), ["example.png", "image"], outputs=[("IMAGE", "IMAGE"), ("MASK", "MASK")],
                 size=(320, 320))
    scale = g.node("ImageScale", (380, 460), ["bilinear", CI2V_SIZE, CI2V_SIZE, "center"],
                   inputs=[("image", "IMAGE")], outputs=[("IMAGE", "IMAGE")])
    cond = g.node("ConsistI2VConditioning", (760, 140), [CI2V_SIZE, CI2V_SIZE, CI2V_FRAMES, 3],
                  inputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("vae", "VAE"),
                          ("start_image", "IMAGE"), ("start_latent", "LATENT")],
                  outputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent", "LATENT")],
                  size=(340, 240))
    g.link(unet, 0, attention, "model")
    g.link(img, 0, scale, "image")
    g.link(pos, 0, cond, "positive")
    g.link(neg, 0, cond, "negative")
    g.link(vae, 0, cond, "vae")
    first = layout_image(g, scale) if layout_image else (scale, 0)
    g.link(first[0], first[1], cond, "start_image")
    g.models = [CI2V_UNET, CI2V_TEXT, CI2V_VAE]
    return dict(model=attention, vae=vae, scale=scale, cond=cond)


def consisti2v_output(g: Graph, ids, latent_src):
    full = g.node("ConsistI2VPrependFirstFrame", (1900, 0), inputs=[("samples", "LATENT"),
                                                                   ("positive", "CONDITIONING")],
                  outputs=[("LATENT", "LATENT")])
    decode = g.node("VAEDecode", (1900, 140), inputs=[("samples", "LATENT"), ("vae", "VAE")],
                    outputs=[("IMAGE", "IMAGE")])
    save = g.node("SaveAnimatedWEBP", (2260, 0), ["ConsistI2V", 8.0, False, 85, "default"],
                  inputs=[("images", "IMAGE")], size=(400, 480))
    g.link(latent_src, 0, full, "samples")
    g.link(ids["cond"], 0, full, "positive")
    g.link(full, 0, decode, "samples")
    g.link(ids["vae"], 0, decode, "vae")
    g.link(decode, 0, save, "images")


def consisti2v_workflow() -> Graph:
    g = Graph()
    ids = consisti2v_inputs(g)
    sampler = g.node("KSampler", (1140, 0), [0, "randomize", 50, 7.5, "ddim", "ddim_uniform", 1.0],
                     inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                             ("latent_image", "LATENT")], outputs=[("LATENT", "LATENT")], size=(320, 280))
    g.link(ids["model"], 0, sampler, "model")
    g.link(ids["cond"], 0, sampler, "positive")
    g.link(ids["cond"], 1, sampler, "negative")
    g.link(ids["cond"], 2, sampler, "latent_image")
    consisti2v_output(g, ids, sampler)
    g.note((760, 460), CI2V_NOTE, size=(460, 420))
    return g


def consisti2v_frameinit_base(g: Graph, ids, layout, tau=850, d_s=0.25, d_t=0.25, padding="circular"):
    """SamplerCustomAdvanced with FrameInit noise from the IMAGE batch ``layout`` (length frames)."""
    encode = g.node("VAEEncode", (1140, 600), inputs=[("pixels", "IMAGE"), ("vae", "VAE")],
                    outputs=[("LATENT", "LATENT")])
    guider = g.node("ConsistI2VGuider", (1140, -160), [7.5, 1.0],  # official guidance_scale_txt / _img
                    inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                            ("noise", "NOISE")], outputs=[("GUIDER", "GUIDER")], size=(320, 150))
    sampler = g.node("KSamplerSelect", (1140, 120), ["ddim"], outputs=[("SAMPLER", "SAMPLER")])
    sched = g.node("BasicScheduler", (1140, 240), ["ddim_uniform", 50, 1.0], inputs=[("model", "MODEL")],
                   outputs=[("SIGMAS", "SIGMAS")])
    noise = g.node("ConsistI2VFrameInitNoise", (1520, 160),
                   [0, "randomize", tau, "model_schedule", "gaussian", d_s, d_t, 4, True,
                    "pyoco_mixed", 1.0, False, padding],
                   inputs=[("model", "MODEL"), ("layout", "LATENT"), ("sigmas", "SIGMAS")],
                   outputs=[("NOISE", "NOISE")], size=(340, 420))
    run = g.node("SamplerCustomAdvanced", (1520, 0),
                 inputs=[("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                         ("latent_image", "LATENT")],
                 outputs=[("output", "LATENT"), ("denoised_output", "LATENT")], size=(300, 120))
    g.link(layout[0], layout[1], encode, "pixels")
    g.link(ids["vae"], 0, encode, "vae")
    for name, port in (("model", ids["model"]),):
        g.link(port, 0, guider, name)
        g.link(port, 0, sched, name)
        g.link(port, 0, noise, name)
    g.link(ids["cond"], 0, guider, "positive")
    g.link(ids["cond"], 1, guider, "negative")
    g.link(encode, 0, noise, "layout")
    g.link(sched, 0, noise, "sigmas")
    g.link(noise, 0, guider, "noise")
    for name, src in (("noise", noise), ("guider", guider), ("sampler", sampler), ("sigmas", sched)):
        g.link(src, 0, run, name)
    g.link(ids["cond"], 2, run, "latent_image")
    consisti2v_output(g, ids, run)


def consisti2v_frameinit_workflow() -> Graph:
    g = Graph()
    ids = consisti2v_inputs(g)
    layout = g.node("ConsistI2VStaticLayout", (760, 460), [CI2V_FRAMES], inputs=[("image", "IMAGE")],
                    outputs=[("IMAGE", "IMAGE")])
    g.link(ids["scale"], 0, layout, "image")
    consisti2v_frameinit_base(g, ids, (layout, 0))
    g.note((0, 760), CI2V_FRAMEINIT_NOTE, size=(460, 360))
    return g


def consisti2v_camera_workflow() -> Graph:
    g = Graph()
    made = {}

    def from_layout(g, scale):
        widgets = list(MOVE_DEFAULTS)
        widgets[0] = "zoom"
        path = g.node("ConsistI2VCameraMove", (0, 760), widgets, inputs=[("previous", "CI2V_CAMERA_PATH")],
                      outputs=[("CAMERA_PATH", "CI2V_CAMERA_PATH")], size=(340, 300))
        layout = g.node("ConsistI2VCameraLayout", (380, 760), [CI2V_FRAMES, CI2V_SIZE, CI2V_SIZE, "reflect", "off"],
                        inputs=[("image", "IMAGE"), ("camera_path", "CI2V_CAMERA_PATH")],
                        outputs=[("IMAGE", "IMAGE")], size=(340, 220))
        first = g.node("ImageFromBatch", (760, 760), [0, 1], inputs=[("image", "IMAGE")],
                       outputs=[("IMAGE", "IMAGE")])
        g.link(scale, 0, layout, "image")
        g.link(path, 0, layout, "camera_path")
        g.link(layout, 0, first, "image")
        made["layout"] = layout
        return (first, 0)

    ids = consisti2v_inputs(g, layout_image=from_layout)
    tau, d0 = CAMERA_FRAMEINIT["zoom"]
    consisti2v_frameinit_base(g, ids, (made["layout"], 0), tau=tau, d_s=d0, d_t=d0, padding="mirror")
    g.note((1140, 760), CI2V_CAMERA_NOTE, size=(460, 340))
    return g


METRICS_OUTPUTS = [("plot", "IMAGE"), ("report", "STRING")] + [(n, "FLOAT") for n in (
    "motion", "dynamic_degree", "flicker", "ssim", "psnr", "pan_x", "pan_y", "zoom", "roll", "camera_error")]
COMPARE_OUTPUTS = [("table", "IMAGE"), ("report", "STRING")] + [(n, "FLOAT") for n in (
    "motion_change", "dynamic_change", "flicker_change", "ssim_change", "psnr_change", "ssim_a_to_b")]

METRICS_READING = """**Reading the numbers** (weight-free, DIS optical flow; VBench-style, not VBench-comparable)
- *motion*: mean optical flow, pixels per frame. *dynamic_degree*: share of frame pairs (~8 fps apart) whose
  fastest 5 % of pixels move more than 6 px per 256 px of the short side (VBench's rule).
- *flicker*: VBench's 1 - mean frame difference / 255 (1 = frozen). *ssim* / *psnr*: every frame against the
  conditioning image (drift shows as a falling SSIM curve).
- *pan_x* / *pan_y* (fractions of the frame, camera right / up), *zoom* (x), *roll* (degrees,
  counter-clockwise): the camera fitted from the flow, frame 0 to the last frame.
- The nodes show their plot / table; the *report* output is the same as text, per frame (connect it to
  *Preview as Text*), and every number is a FLOAT output."""

METRICS_CAMERA_NOTE = """## SVD camera pan, measured (Video Metrics)
The *svd_camera_pan* graph, then **Video Metrics** measures the decoded video and checks the camera fitted from
its optical flow against the requested **Camera Move** path: *camera_error* is the distance between the two
motions in pixels per frame (0 = the camera did exactly what was asked; the report also gives it as a share of
the requested motion). In the plot the requested path is dashed. **Video A/B Compare** puts the layout video
(the ideal camera) next to the generated one.

""" + METRICS_READING + """

Try: raise FrameInit *temporal_cutoff* or lower *noise_timestep* and watch *camera_error* fall and *motion* follow
the layout's. Video Metrics needs OpenCV (`opencv-python-headless`, in this pack's requirements)."""

METRICS_COMPARE_NOTE = """## Same seed: baseline vs FrameInit vs Analytic-Init, measured (Video A/B Compare)
One SVD graph sampled three times with the **same seed** (42, fixed): plain `RandomNoise` (baseline), ConsistI2V's
**FrameInit Noise** (static layout of the input image) and CIL's **Analytic-Init** (starts at sigma M = 100 from
the matching Gaussian; **CIL Statistics** with E[x0] from the input image's latent, so no file is needed: swap in
*Load CIL Statistics* for the released SVD-CIL file). Two **Video A/B Compare** nodes measure each against the baseline and the conditioning
image: a table with B - A and curves of motion and SSIM; the outputs are the differences.

""" + METRICS_READING + """

Expect FrameInit to raise SSIM to the input (less drift) and lower flicker, at some cost in motion; lower its
*noise_timestep* for more fidelity, raise it for more motion. Expect Analytic-Init to add motion at similar
fidelity (CIL); lower *M* for more. All three use 20 steps; keep the seeds equal when you change one."""


def metrics_node(g: Graph, pos, video, reference=None, camera_path=None, fps=6.0):
    node = g.node("ConsistI2VVideoMetrics", pos, [fps, 0, "medium"],
                  inputs=[("video", "IMAGE"), ("reference", "IMAGE"), ("camera_path", "CI2V_CAMERA_PATH")],
                  outputs=METRICS_OUTPUTS, size=(420, 620))
    g.link(video[0], video[1], node, "video")
    if reference:
        g.link(reference[0], reference[1], node, "reference")
    if camera_path:
        g.link(camera_path[0], camera_path[1], node, "camera_path")
    return node


def compare_node(g: Graph, pos, video_a, video_b, labels, reference=None, fps=6.0):
    node = g.node("ConsistI2VVideoCompare", pos, [fps, labels[0], labels[1], "medium"],
                  inputs=[("video_a", "IMAGE"), ("video_b", "IMAGE"), ("reference", "IMAGE")],
                  outputs=COMPARE_OUTPUTS, size=(480, 700))
    g.link(video_a[0], video_a[1], node, "video_a")
    g.link(video_b[0], video_b[1], node, "video_b")
    if reference:
        g.link(reference[0], reference[1], node, "reference")
    return node


def save_image(g: Graph, pos, source, prefix):
    node = g.node("SaveImage", pos, [prefix], inputs=[("images", "IMAGE")], size=(520, 420))
    g.link(source[0], source[1], node, "images")
    return node


def metrics_camera_workflow() -> Graph:
    g = camera_workflow("pan", "pan_angle 0 = camera right, pan_distance 0.25 frame")
    of = {n["type"]: n["id"] for n in g.nodes}
    decoded, first = (of["VAEDecode"], 0), (of["ImageFromBatch"], 0)
    metrics_node(g, (2700, 0), decoded, reference=first, camera_path=(of["ConsistI2VCameraMove"], 0))
    compare_node(g, (2700, 680), (of["ConsistI2VCameraLayout"], 0), decoded, ("layout", "generated"),
                 reference=first)
    g.note((2700, 1440), METRICS_CAMERA_NOTE, size=(560, 560))
    return g


def _sampled(g: Graph, ids, guider, noise, y: int, prefix: str, sigmas=None):
    run = g.node("SamplerCustomAdvanced", (1900, y),
                 inputs=[("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                         ("latent_image", "LATENT")],
                 outputs=[("output", "LATENT"), ("denoised_output", "LATENT")], size=(300, 120))
    decode = g.node("VAEDecode", (2260, y), inputs=[("samples", "LATENT"), ("vae", "VAE")],
                    outputs=[("IMAGE", "IMAGE")])
    save = g.node("SaveAnimatedWEBP", (2260, y + 100), [prefix, 6.0, False, 85, "default"],
                  inputs=[("images", "IMAGE")], size=(400, 380), title=f"Save {prefix}")
    g.link(noise, 0, run, "noise")
    g.link(guider, 0, run, "guider")
    g.link(ids["sampler"], 0, run, "sampler")
    g.link(*(sigmas or (ids["sched"], 0)), run, "sigmas")
    g.link(ids["cond"], 2, run, "latent_image")
    g.link(run, 0, decode, "samples")
    g.link(ids["ckpt"], 2, decode, "vae")
    g.link(decode, 0, save, "images")
    return decode


def metrics_compare_workflow() -> Graph:
    """Baseline (RandomNoise) vs FrameInit vs Analytic-Init on one seed, measured side by side."""
    g = Graph()
    ids = svd_inputs(g)
    guider = g.node("CFGGuider", (1140, 0), [2.5],
                    inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
                    outputs=[("GUIDER", "GUIDER")])
    g.link(ids["model"], 0, guider, "model")
    g.link(ids["cond"], 0, guider, "positive")
    g.link(ids["cond"], 1, guider, "negative")
    base_noise = g.node("RandomNoise", (1520, 0), [42, "fixed"], outputs=[("NOISE", "NOISE")],
                        title="Baseline noise (seed 42)")
    baseline = _sampled(g, ids, guider, base_noise, 0, "baseline")
    fi_noise = static_frameinit_noise(g, ids, (760, 320), (1520, 560), (42, "fixed"), "FrameInit noise (seed 42)")
    frameinit = _sampled(g, ids, guider, fi_noise, 560, "frameinit")
    comp = compare_node(g, (2700, 0), (baseline, 0), (frameinit, 0), ("baseline", "FrameInit"),
                        reference=(ids["scale"], 0))
    save_image(g, (3220, 0), (comp, 0), "metrics/baseline_vs_frameinit")
    stats = cil_image_statistics(g, ids, (1140, 1000))  # E[x0] = the input image's latent, as svd_cil_compare
    cil = g.node("CILAnalyticInit", (1520, 1120), [100.0, 20, "auto", 42, "fixed", "fixed"],
                 inputs=[("model", "MODEL"), ("statistics", "CIL_STATISTICS"), ("noise", "NOISE")],
                 outputs=[("NOISE", "NOISE"), ("SIGMAS", "SIGMAS")], size=(340, 260),
                 title="Analytic-Init (seed 42)")
    g.link(ids["model"], 0, cil, "model")
    g.link(stats, 0, cil, "statistics")
    analytic = _sampled(g, ids, guider, cil, 1120, "analytic_init", sigmas=(cil, 1))
    comp2 = compare_node(g, (2700, 760), (baseline, 0), (analytic, 0), ("baseline", "Analytic-Init"),
                         reference=(ids["scale"], 0))
    save_image(g, (3220, 760), (comp2, 0), "metrics/baseline_vs_analytic_init")
    g.note((0, 580), METRICS_COMPARE_NOTE, size=(560, 560))
    return g


CIL_AI_NOTE = """## SVD + Analytic-Init (CIL)
**Analytic-Init** starts sampling at an earlier time *M* (SVD: sigma 100 instead of 700) from the Gaussian that best
matches the real noisy video there, so the model leans less on the conditioning image: **more motion**. It outputs
both the NOISE and the SIGMAS (Karras, sigma 100 -> 0.002, as the official SVD-CIL): connect both to the sampler.

**Knobs**
- Analytic-Init *M* 100 (official). Lower = more motion, but too low loses quality; 700 = plain SVD.
- *steps* 25, *schedule* `auto`; *svd_formula* `fixed` (the paper; the official pipeline's variants are there for
  parity only: at M = 100 they are all about N(0, 100²)).
- **CIL Statistics**: here E[x0] = the input image's latent (our extension) with *variance* 0.8. For the released
  statistics put the file in `models/cil_statistics` and use **Load CIL Statistics** instead.
- **TimeNoise Conditioning** is off (*beta* 0): CIL checkpoints need no noise at inference. Raise *beta* (or pick a
  preset and *t*) to experiment with noising the conditional image.
- For SVD-CIL-512 (`GraceZhao/SVD-CIL-512`, official settings): 512x320, 16 frames, fps 5, motion bucket 20,
  augmentation 0.002, VideoLinearCFG 1 -> 3.

Model: `svd_xt.safetensors` in `models/checkpoints` (Stable Video Diffusion XT, download link in the loader)."""

CIL_COMPARE_NOTE = """## Same seed: baseline vs Analytic-Init vs Analytic-Init + FrameInit
One SVD graph sampled three times with the **same seed** (42, fixed in every noise node):
1. **baseline**: RandomNoise + BasicScheduler (Karras from sigma 700).
2. **Analytic-Init** (CIL): starts at sigma *M* = 100 from the matching Gaussian (same epsilon as the baseline).
3. **Analytic-Init + FrameInit**: the same start time, with FrameInit's low-band layout of the input image as the
   noise (its *noise* input): more motion than the baseline, held to the image's composition.

Outputs: `CIL_compare/baseline`, `CIL_compare/analytic_init`, `CIL_compare/analytic_init_frameinit`.
All use 20 steps. When you change a seed, change all three; lower *M* for more motion, raise FrameInit's
*noise_timestep* to loosen the layout.

Model: `svd_xt.safetensors` in `models/checkpoints` (Stable Video Diffusion XT, download link in the loader)."""

CIL_AI_WIDGETS = [100.0, 25, "auto", 0, "randomize", "fixed"]
CIL_TIMENOISE_OFF = ["fixed_beta", 0.0, 0.0, 0.5, 100.0, 5.0, 1.0, "preset_default", "concat_latent", "positive", 0, 0,
                     "fixed", False]


def cil_analytic_init_node(g: Graph, pos, ids, stats, widgets, title=None):
    node = g.node("CILAnalyticInit", pos, widgets,
                  inputs=[("model", "MODEL"), ("statistics", "CIL_STATISTICS"), ("noise", "NOISE")],
                  outputs=[("NOISE", "NOISE"), ("SIGMAS", "SIGMAS")], size=(340, 260), title=title)
    g.link(ids["model"], 0, node, "model")
    g.link(stats, 0, node, "statistics")
    return node


def cil_image_statistics(g: Graph, ids, pos=(760, 300)):
    """CIL Statistics with E[x0] = the VAE latent of the scaled input image."""
    encode = g.node("VAEEncode", pos, inputs=[("pixels", "IMAGE"), ("vae", "VAE")], outputs=[("LATENT", "LATENT")])
    stats = g.node("CILStatistics", (pos[0], pos[1] + 110), [0.8, "interpolate"], inputs=[("mean_latent", "LATENT")],
                   outputs=[("STATISTICS", "CIL_STATISTICS")], size=(320, 140))
    g.link(ids["scale"], 0, encode, "pixels")
    g.link(ids["ckpt"], 2, encode, "vae")
    g.link(encode, 0, stats, "mean_latent")
    return stats


def cil_sample(g: Graph, ids, guider, noise, sigmas, pos, prefix):
    """SamplerCustomAdvanced -> VAE Decode -> Save, from NOISE ``noise`` and SIGMAS ``sigmas`` ((id, slot) each)."""
    x, y = pos
    run = g.node("SamplerCustomAdvanced", (x, y),
                 inputs=[("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                         ("latent_image", "LATENT")],
                 outputs=[("output", "LATENT"), ("denoised_output", "LATENT")], size=(300, 120))
    decode = g.node("VAEDecode", (x + 340, y), inputs=[("samples", "LATENT"), ("vae", "VAE")],
                    outputs=[("IMAGE", "IMAGE")])
    save = g.node("SaveAnimatedWEBP", (x + 340, y + 100), [prefix, 6.0, False, 85, "default"],
                  inputs=[("images", "IMAGE")], size=(400, 420))
    g.link(noise[0], noise[1], run, "noise")
    g.link(guider, 0, run, "guider")
    g.link(ids["sampler"], 0, run, "sampler")
    g.link(sigmas[0], sigmas[1], run, "sigmas")
    g.link(ids["cond"], 2, run, "latent_image")
    g.link(run, 0, decode, "samples")
    g.link(ids["ckpt"], 2, decode, "vae")
    g.link(decode, 0, save, "images")
    return run


def cil_guider(g: Graph, ids, pos, positive=None, negative=None):
    guider = g.node("CFGGuider", pos, [2.5],
                    inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
                    outputs=[("GUIDER", "GUIDER")])
    g.link(ids["model"], 0, guider, "model")
    g.link(*(positive or (ids["cond"], 0)), guider, "positive")
    g.link(*(negative or (ids["cond"], 1)), guider, "negative")
    return guider


def cil_analytic_init_workflow() -> Graph:
    g = Graph()
    ids = svd_inputs(g, scheduler=False)
    stats = cil_image_statistics(g, ids)
    timenoise = g.node("CILTimeNoiseConditioning", (1140, 300), CIL_TIMENOISE_OFF,
                       inputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
                       outputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING")], size=(340, 400))
    g.link(ids["cond"], 0, timenoise, "positive")
    g.link(ids["cond"], 1, timenoise, "negative")
    guider = cil_guider(g, ids, (1140, 0), (timenoise, 0), (timenoise, 1))
    cil = cil_analytic_init_node(g, (1520, 160), ids, stats, CIL_AI_WIDGETS)
    cil_sample(g, ids, guider, (cil, 0), (cil, 1), (1900, 0), "CIL_analytic_init")
    g.note((0, 580), CIL_AI_NOTE, size=(560, 520))
    return g


def cil_compare_workflow() -> Graph:
    g = Graph()
    ids = svd_inputs(g)
    stats = cil_image_statistics(g, ids)
    guider = cil_guider(g, ids, (1140, 0))
    base_noise = g.node("RandomNoise", (1520, 0), [42, "fixed"], outputs=[("NOISE", "NOISE")],
                        title="Baseline noise (seed 42)")
    cil_sample(g, ids, guider, (base_noise, 0), (ids["sched"], 0), (1900, 0), "CIL_compare/baseline")
    ai_widgets = [100.0, 20, "auto", 42, "fixed", "fixed"]
    cil = cil_analytic_init_node(g, (1520, 560), ids, stats, ai_widgets, title="Analytic-Init (seed 42)")
    cil_sample(g, ids, guider, (cil, 0), (cil, 1), (1900, 560), "CIL_compare/analytic_init")
    frameinit = static_frameinit_noise(g, ids, (760, 620), (1140, 1120), (42, "fixed"),
                                       "FrameInit noise (seed 42)")
    both = cil_analytic_init_node(g, (1520, 1120), ids, stats, ai_widgets, title="Analytic-Init + FrameInit (seed 42)")
    g.link(frameinit, 0, both, "noise")
    cil_sample(g, ids, guider, (both, 0), (both, 1), (1900, 1120), "CIL_compare/analytic_init_frameinit")
    g.note((0, 580), CIL_COMPARE_NOTE, size=(560, 520))
    return g


# --- DynamiCrafter / VideoCrafter1 / SVD-CIL checkpoints (CIL TimeNoise) ------------------------------------

KIJAI_DC = "https://huggingface.co/Kijai/DynamiCrafter_pruned/resolve/main/"
DC_CIL_512 = {"name": "dynamicrafter-CIL-512-no-watermark-fixed-pruned-fp16.safetensors",
              "url": KIJAI_DC + "dynamicrafter-CIL-512-no-watermark-fixed-pruned-fp16.safetensors",
              "directory": "diffusion_models"}
DC_1024 = {"name": "dynamicrafter_1024_v1_bf16.safetensors", "url": KIJAI_DC + "dynamicrafter_1024_v1_bf16.safetensors",
           "directory": "diffusion_models"}
VC1_CIL = {"name": "videocrafter1_cil_512.ckpt", "url": "https://huggingface.co/GraceZhao/VideoCrafter1-CIL-512/resolve/"
           "main/model.ckpt", "directory": "diffusion_models"}
CLIP_VISION_H = {"name": "clip_vision_h.safetensors", "url": "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_"
                 "repackaged/resolve/main/split_files/clip_vision/clip_vision_h.safetensors", "directory": "clip_vision"}
DC_STATS_1024 = {"name": "initial_noise_1024.pt", "url": "https://huggingface.co/GraceZhao/DynamiCrafter-Analytic-Init/"
                 "resolve/main/initial_noise_1024.pt", "directory": "cil_statistics"}
VC_STATS_512 = {"name": "videocrafter_initial_noise_512.pt", "url": "https://huggingface.co/GraceZhao/VideoCrafter-"
                "Analytic-Init/resolve/main/initial_noise_512.pt", "directory": "cil_statistics"}
SVD_CIL = {"name": "svd_cil_512.safetensors", "url": "https://huggingface.co/GraceZhao/SVD-CIL-512/resolve/main/"
           "checkpoint-step-20000.ckpt", "directory": "diffusion_models"}
SVD_STATS = {"name": "svd_initial_noise.pt", "url": "https://huggingface.co/GraceZhao/SVD-Analytic-init/resolve/main/"
             "initial_noise.pt", "directory": "cil_statistics"}

DC_FILES_NOTE = """**Files** (links in the loaders): the UNet in `models/diffusion_models` (a safetensors copy, or the official
`.ckpt`: read without running code, its VAE/encoders skipped); `clip_vision_h.safetensors` (OpenCLIP ViT-H/14) in
`models/clip_vision`; the SD 2.1 text encoder and VAE (`consisti2v_text_encoder.safetensors`,
`consisti2v_vae.safetensors`: the same files as the ConsistI2V workflows) in `models/text_encoders` / `models/vae`."""

DC_CIL_NOTE = """## DynamiCrafter-CIL 512 (TimeNoise checkpoint, official settings)
The CIL fine-tune of DynamiCrafter was trained with time-dependent noise on the conditional image, so it leans less
on it: **more motion**, same first frame. No noise is added at inference.

**Official settings**: 512x320, 16 frames, *frame_stride* 24, DDIM 50 steps with eta 1 (= `ddpm` sampler) on the
trailing grid from t = 999 (= `simple` scheduler at M = 1000), CFG 7.5 with *Guidance Rescale* 0.7. Analytic-Init at
M = 1000 is plain noise under zero-SNR, so no Analytic-Init node is needed here.

**Knobs**: *frame_stride* is an fps on the 512 and 1024 models: LOWER = more motion per frame (official range 15-30
at 512, 5-15 at 1024; on the 256 model it is a frame stride, where higher = more motion); Guidance Rescale 0.7 keeps colours from burning at CFG 7.5;
for the 1024 model (`GraceZhao/DynamiCrafter-CIL-1024`) pick *model_type* `dynamicrafter_1024` and 1024x576.

""" + DC_FILES_NOTE

DC_AI_NOTE = """## DynamiCrafter 1024 + Analytic-Init (CIL, training-free)
The original DynamiCrafter with **Analytic-Init**: sampling starts at M = 940 instead of 1000 from the Gaussian that
matches the real noisy video there (the released 1024 statistics), so the model copies the image less: more motion.

**Settings**: 1024x576, 16 frames, *frame_stride* 10 (the 1024 model's default fps; lower = more motion), DDIM eta 1 (`ddpm`), 50 steps on
the trailing grid from t = M - 1 (Analytic-Init outputs these SIGMAS), CFG 7.5 + Guidance Rescale 0.7.

**Knobs**: Analytic-Init *M* 940; lower = more motion, below ~820 quality drops (README sweep). *data_scale* 0.3
applies the 1024 model's latent rescale to the statistics (1.0 = the official code).
Statistics: `initial_noise_1024.pt` from GraceZhao/DynamiCrafter-Analytic-Init in `models/cil_statistics`.

""" + DC_FILES_NOTE

VC_CIL_NOTE = """## VideoCrafter1-CIL 512 (TimeNoise checkpoint + Analytic-Init, official settings)
VideoCrafter1 takes the image through CLIP only; its CIL fine-tune plus Analytic-Init (M = 940, the released
VideoCrafter statistics) gives far more motion than the original.

**Settings**: 512x320, 16 frames, fps 24 (*frame_stride* input), DDIM eta 1 (`ddpm`), 50 steps, CFG 12.
fps 24 is the official inference value; the CIL fine-tune itself was trained at fps 16 (its training script's fps
never reached the UNet): try 16 if the motion looks too fast or too slow.
The official script ignores M in its sampler (starts at t = 981 while drawing x_T for t = 939); here sampling
really starts at M - 1 on the trailing grid. Statistics: `initial_noise_512.pt` from
GraceZhao/VideoCrafter-Analytic-Init, saved as `videocrafter_initial_noise_512.pt` in `models/cil_statistics`.
The CIL checkpoint is a training `.ckpt` (`model.ckpt`): put it in `models/diffusion_models` as
`videocrafter1_cil_512.ckpt` (read with weights_only; or convert it with CIL Convert Checkpoint).

""" + DC_FILES_NOTE

SVD_CIL_NOTE = """## SVD-CIL 512 (TimeNoise checkpoint + Analytic-Init, official settings)
The CIL fine-tune of SVD loaded into ComfyUI's own SVD model (EMA weights of the training checkpoint), sampled as
the official pipeline: Analytic-Init at sigma M = 100 with the released statistics, Karras 25 Euler steps.

**Settings**: 512x320, 16 frames, fps 5, motion bucket 20, augmentation 0.002, linear CFG 1 -> 3
(VideoLinearCFGGuidance). Files: `checkpoint-step-20000.ckpt` from GraceZhao/SVD-CIL-512 in
`models/diffusion_models`, converted once with **CIL Convert Checkpoint** (arch `svd_cil`, weights `ema`, output
`svd_cil_512`) to `svd_cil_512.safetensors` (or pick the .ckpt itself in the loader: read with weights_only), `svd_xt.safetensors`
for the image encoder and VAE, `initial_noise.pt` from GraceZhao/SVD-Analytic-init saved as `svd_initial_noise.pt`
in `models/cil_statistics`.

**Knobs**: *M* lower = more motion; *svd_formula* `fixed` (the paper) or the official pipeline's variants."""


def dc_inputs(g: Graph, unet: dict, model_type: str, size: tuple[int, int], fs: int, rescale: float | None = 0.7):
    """Loader (+ Guidance Rescale), text/image encoders, VAE, prompts, image and DynamiCrafter conditioning."""
    loader = g.node("CILLoadDynamiCrafter", (0, 0), [unet["name"], model_type, "auto", "default"],
                    outputs=[("MODEL", "MODEL")], size=(380, 150), models=[unet])
    model = loader
    if rescale is not None:
        model = g.node("CILGuidanceRescale", (420, 0), [rescale, 0], inputs=[("model", "MODEL")],
                       outputs=[("MODEL", "MODEL")])
        g.link(loader, 0, model, "model")
    clip = g.node("CLIPLoader", (0, 190), [CI2V_TEXT["name"], "stable_diffusion", "default"],
                  outputs=[("CLIP", "CLIP")], models=[CI2V_TEXT])
    vision = g.node("CLIPVisionLoader", (0, 330), [CLIP_VISION_H["name"]], outputs=[("CLIP_VISION", "CLIP_VISION")],
                    models=[CLIP_VISION_H])
    vae = g.node("VAELoader", (0, 440), [CI2V_VAE["name"]], outputs=[("VAE", "VAE")], models=[CI2V_VAE])
    pos, neg = prompts(g, clip, 420, "a boat sailing on the sea, waves, sunset")
    img = g.node("LoadImage", (0, 560), ["example.png", "image"], outputs=[("IMAGE", "IMAGE"), ("MASK", "MASK")],
                 size=(320, 320))
    cond = g.node("CILDynamiCrafterConditioning", (800, 140), [size[0], size[1], 16, fs],
                  inputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("clip_vision", "CLIP_VISION"),
                          ("start_image", "IMAGE"), ("vae", "VAE")],
                  outputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent", "LATENT")],
                  size=(340, 240))
    g.link(pos, 0, cond, "positive")
    g.link(neg, 0, cond, "negative")
    g.link(vision, 0, cond, "clip_vision")
    g.link(img, 0, cond, "start_image")
    g.link(vae, 0, cond, "vae")
    g.models = [unet, CI2V_TEXT, CLIP_VISION_H, CI2V_VAE]
    return dict(model=model, vae=vae, cond=cond)


def dc_output(g: Graph, ids, latent_src, prefix: str, pos=(1600, 0)):
    decode = g.node("VAEDecode", pos, inputs=[("samples", "LATENT"), ("vae", "VAE")], outputs=[("IMAGE", "IMAGE")])
    save = g.node("SaveAnimatedWEBP", (pos[0] + 260, pos[1]), [prefix, 8.0, False, 85, "default"],
                  inputs=[("images", "IMAGE")], size=(400, 420))
    g.link(latent_src, 0, decode, "samples")
    g.link(ids["vae"], 0, decode, "vae")
    g.link(decode, 0, save, "images")


def dc_analytic_init_sampling(g: Graph, ids, stats_file: dict, data_scale: float, cfg: float, prefix: str):
    """Load CIL Statistics -> Analytic-Init (M 940, 50 steps, trailing grid) -> CFGGuider -> ddpm sampler."""
    stats = g.node("CILStatisticsLoader", (800, 420), [stats_file["name"], "interpolate", data_scale],
                   outputs=[("STATISTICS", "CIL_STATISTICS")], size=(340, 130), models=[stats_file])
    cil = g.node("CILAnalyticInit", (1180, 300), [940.0, 50, "uniform_trailing", 0, "randomize", "fixed"],
                 inputs=[("model", "MODEL"), ("statistics", "CIL_STATISTICS"), ("noise", "NOISE")],
                 outputs=[("NOISE", "NOISE"), ("SIGMAS", "SIGMAS")], size=(340, 260))
    guider = g.node("CFGGuider", (1180, 0), [cfg],
                    inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
                    outputs=[("GUIDER", "GUIDER")])
    sampler = g.node("KSamplerSelect", (1180, 140), ["ddpm"], outputs=[("SAMPLER", "SAMPLER")])
    run = g.node("SamplerCustomAdvanced", (1180, 600),
                 inputs=[("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                         ("latent_image", "LATENT")],
                 outputs=[("output", "LATENT"), ("denoised_output", "LATENT")], size=(300, 120))
    g.link(ids["model"], 0, cil, "model")
    g.link(stats, 0, cil, "statistics")
    g.link(ids["model"], 0, guider, "model")
    g.link(ids["cond"], 0, guider, "positive")
    g.link(ids["cond"], 1, guider, "negative")
    g.link(cil, 0, run, "noise")
    g.link(guider, 0, run, "guider")
    g.link(sampler, 0, run, "sampler")
    g.link(cil, 1, run, "sigmas")
    g.link(ids["cond"], 2, run, "latent_image")
    dc_output(g, ids, run, prefix)
    g.models.append(stats_file)


def dynamicrafter_cil_workflow() -> Graph:
    g = Graph()
    ids = dc_inputs(g, DC_CIL_512, "dynamicrafter_512", (512, 320), 24)
    sampler = g.node("KSampler", (1180, 0), [0, "randomize", 50, 7.5, "ddpm", "simple", 1.0],
                     inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                             ("latent_image", "LATENT")], outputs=[("LATENT", "LATENT")], size=(320, 280))
    g.link(ids["model"], 0, sampler, "model")
    g.link(ids["cond"], 0, sampler, "positive")
    g.link(ids["cond"], 1, sampler, "negative")
    g.link(ids["cond"], 2, sampler, "latent_image")
    dc_output(g, ids, sampler, "DynamiCrafter_CIL")
    g.note((0, 920), DC_CIL_NOTE, size=(560, 520))
    return g


def dynamicrafter_analytic_init_workflow() -> Graph:
    g = Graph()
    ids = dc_inputs(g, DC_1024, "dynamicrafter_1024", (1024, 576), 10)
    dc_analytic_init_sampling(g, ids, DC_STATS_1024, 1.0, 7.5, "DynamiCrafter_analytic_init")
    g.note((0, 920), DC_AI_NOTE, size=(560, 520))
    return g


def videocrafter1_cil_workflow() -> Graph:
    g = Graph()
    ids = dc_inputs(g, VC1_CIL, "videocrafter1_512", (512, 320), 24, rescale=None)
    dc_analytic_init_sampling(g, ids, VC_STATS_512, 1.0, 12.0, "VideoCrafter1_CIL")
    g.note((0, 920), VC_CIL_NOTE, size=(560, 560))
    return g


def svd_cil_workflow() -> Graph:
    g = Graph()
    unet = g.node("CILLoadSVDCIL", (0, 760), ["diffusion_models/" + SVD_CIL["name"], "auto", "default", True],
                  outputs=[("MODEL", "MODEL")], size=(380, 150), models=[SVD_CIL])
    ids = svd_inputs(g, frames=16, width=512, height=320, scheduler=False, unet=unet)
    cond = next(n for n in g.nodes if n["type"] == "SVD_img2vid_Conditioning")
    cond["widgets_values"][3:6] = [20, 5, 0.002]  # motion bucket 20, fps 5, augmentation 0.002 (official)
    stats = g.node("CILStatisticsLoader", (760, 420), [SVD_STATS["name"], "interpolate", 1.0],
                   outputs=[("STATISTICS", "CIL_STATISTICS")], size=(340, 130), models=[SVD_STATS])
    guider = g.node("CFGGuider", (1140, 0), [3.0],
                    inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
                    outputs=[("GUIDER", "GUIDER")])
    g.link(ids["model"], 0, guider, "model")
    g.link(ids["cond"], 0, guider, "positive")
    g.link(ids["cond"], 1, guider, "negative")
    cil = cil_analytic_init_node(g, (1520, 160), ids, stats, CIL_AI_WIDGETS)
    cil_sample(g, ids, guider, (cil, 0), (cil, 1), (1900, 0), "SVD_CIL")
    g.note((0, 940), SVD_CIL_NOTE, size=(560, 460))
    g.models = [SVD_XT, SVD_CIL, SVD_STATS]
    return g


WORKFLOWS = {
    "svd_frameinit": frameinit_workflow,
    "svd_pyoco": pyoco_workflow,
    "svd_long_video": long_video_workflow,
    "svd_camera_pan": lambda: camera_workflow("pan", "pan_angle 0 = camera right, pan_distance 0.25 frame"),
    "svd_camera_zoom": lambda: camera_workflow("zoom", "zoom_scale 1.5 in; below 1 zooms out"),
    "svd_camera_rotate": lambda: camera_workflow("roll", "roll_degrees 15, counter-clockwise"),
    "svd_camera_perspective": lambda: camera_workflow(
        "perspective", "perspective_corners: where the 4 view corners go"),
    "consisti2v_i2v": consisti2v_workflow,
    "consisti2v_frameinit": consisti2v_frameinit_workflow,
    "consisti2v_camera": consisti2v_camera_workflow,
    "svd_analytic_init": cil_analytic_init_workflow,
    "svd_cil_compare": cil_compare_workflow,
    "svd_metrics_camera_pan": metrics_camera_workflow,
    "svd_metrics_compare": metrics_compare_workflow,
    "dynamicrafter_cil_512": dynamicrafter_cil_workflow,
    "dynamicrafter_analytic_init": dynamicrafter_analytic_init_workflow,
    "videocrafter1_cil_512": videocrafter1_cil_workflow,
    "svd_cil_512": svd_cil_workflow,
}


def family_workflows() -> dict:
    """The builders of scripts/workflows_*.py (one module per core model family: Wan, LTX, HunyuanVideo, Cosmos),
    each exporting WORKFLOWS = {name: builder}; they import Graph & co from this module."""
    import importlib
    import sys

    sys.path.insert(0, str(ROOT))
    found = {}
    for path in sorted((ROOT / "scripts").glob("workflows_*.py")):
        found.update(importlib.import_module(f"scripts.{path.stem}").WORKFLOWS)
    return found


def main():
    WORKFLOWS.update(family_workflows())
    out = ROOT / "workflows"
    out.mkdir(exist_ok=True)
    for name, build in WORKFLOWS.items():
        graph = build()
        graph.dump(out / f"{name}.json", getattr(graph, "models", [SVD_XT]))
        print("wrote", out / f"{name}.json")


if __name__ == "__main__":
    main()
