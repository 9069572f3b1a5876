"""`make demo`: run the default shipped workflow headless on CPU inside a real ComfyUI.

With the real model files in ComfyUI's models folders, the workflow runs as shipped. Without them it
runs on tiny random-weight stand-ins (the video is noise: it proves the graph, not the model) and at a
CPU-sized resolution, and also writes a weight-free preview of the FrameInit layout. It says which.
Nothing in ComfyUI's output folder is replaced (the preview takes the next free numbered name), and the demo's
temporary folder (tiny models, custom-node links) is removed when it ends, also on an error.
"""
from __future__ import annotations

import itertools
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.comfy_locate import find_comfyui  # noqa: E402
from scripts.workflow_api import defs_from_input_types, model_files, to_api_prompt  # noqa: E402
# before ComfyUI is on sys.path: it has a `tests` package of its own
from tests.support.workflows import images_named, provide_tiny_files, shrink_for_cpu  # noqa: E402

DEFAULT_WORKFLOW = ROOT / "workflows" / "svd_frameinit.json"
PREVIEW_STEM = "consistent_dynamic_i2v_layout_preview"


def new_output_file(folder: Path, stem: str = PREVIEW_STEM, suffix: str = ".webp") -> Path:
    """The first free ``<stem>_NNNNN<suffix>`` in ``folder`` (ComfyUI's counter style): no existing file is reused."""
    return next(p for i in itertools.count(1)
                if not os.path.lexists(p := folder / f"{stem}_{i:05d}{suffix}"))


def banner(text: str) -> None:
    print("\n" + "=" * 100 + "\n" + text + "\n" + "=" * 100, flush=True)


def layout_preview(image_path: Path, out_path: Path, frames: int = 16, seed: int = 0) -> None:
    """Weight-free picture of FrameInit: the layout's low band, and the start state it gives, in pixels. Written
    only as a new file: an existing ``out_path`` raises FileExistsError and is left as it is."""
    import numpy as np
    import torch
    from PIL import Image

    from kernels.pyoco import video_noise
    from kernels.schedules import consisti2v_alphas_cumprod
    from kernels.spectral import frameinit_mix, lowpass

    img = Image.open(image_path).convert("RGB")
    img.thumbnail((256, 256))
    pixels = torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)
    # a slow pan across the image, so the preview shows the temporal filter too
    width = pixels.shape[2] * 3 // 4
    starts = [round((pixels.shape[2] - width) * i / (frames - 1)) for i in range(frames)]
    layout = torch.stack([pixels[:, :, s:s + width] for s in starts])  # [T, 3, H, W]
    ab = float(consisti2v_alphas_cumprod()[850])
    eps = video_noise(layout.shape, seed)
    start = frameinit_mix(ab ** 0.5 * layout + (1 - ab) ** 0.5 * eps, eps)
    low, start_low = lowpass(layout), lowpass(start)
    start_low = start_low / start_low.abs().amax()  # the layout sits at ~9 % of the noise: stretch to show it

    def to_img(x):
        return ((x.clamp(-1, 1) + 1) * 127.5).byte().permute(1, 2, 0).numpy()

    tiles = [Image.fromarray(np.concatenate([to_img(layout[i]), to_img(low[i]), to_img(start_low[i])], axis=1))
             for i in range(frames)]
    with open(out_path, "xb") as f:
        try:
            tiles[0].save(f, format="WEBP", save_all=True, append_images=tiles[1:], duration=125, loop=0)
        except BaseException:
            os.unlink(out_path)  # ours, created just above: no half-written preview is left
            raise


def main() -> int:
    root = find_comfyui()
    if root is None:
        banner("No ComfyUI found. Set COMFYUI_PATH, or put this pack in <ComfyUI>/custom_nodes, or export ComfyUI "
               "into ~/comfy/ComfyUI (comfy-cli's default place).")
        return 2
    with tempfile.TemporaryDirectory(prefix="cdi2v_demo_") as work:
        return run_demo(root, Path(work))


def run_demo(root: Path, work: Path) -> int:
    from scripts.comfy_inprocess import InProcessComfy

    comfy = InProcessComfy(root, work, own_folders=True).boot()
    import folder_paths
    workflow = json.loads(DEFAULT_WORKFLOW.read_text())
    missing = [m for m in model_files(workflow) if folder_paths.get_full_path(m["directory"], m["name"]) is None]
    prompt = to_api_prompt(workflow, lambda kind: defs_from_input_types(
        comfy.nodes.NODE_CLASS_MAPPINGS[kind].INPUT_TYPES()))
    if missing:
        banner("Real model files not found: " + ", ".join(f"models/{m['directory']}/{m['name']} ({m['url']})"
                                                         for m in missing)
               + "\nRunning with TINY RANDOM WEIGHTS at a CPU-sized resolution: the video is noise, it proves the "
                 "graph runs.\nPut the files above in place and run `make demo` again for a real video.")
        provide_tiny_files(workflow, comfy.checkpoints, comfy.input_dir)
        prompt = shrink_for_cpu(prompt, workflow)
        image = comfy.input_dir / images_named(workflow)[0]
        while True:  # a file that appears meanwhile is not replaced: take the next name
            preview = new_output_file(comfy.output_dir)
            try:
                layout_preview(image, preview)
                break
            except FileExistsError:
                continue
        print(f"weight-free FrameInit preview (layout | its low band | low band of the noisy start): {preview}")
    else:
        banner(f"Running {DEFAULT_WORKFLOW.name} with the real model files on CPU: this takes a long time.")
    outputs = comfy.run(prompt)
    for out in outputs.values():
        for item in out.get("images", []):
            print("video written:", comfy.output_dir / item.get("subfolder", "") / item["filename"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
