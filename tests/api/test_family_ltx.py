"""The LTX workflows through a real server's POST /prompt (tiny LTX checkpoints loaded by core's
CheckpointLoaderSimple; tiny T5-XXL / Gemma 3 text encoders at the loader boundary): each writes its video, and a
FrameInit layout of the wrong length comes back as an error that names the layout.

ltx2_i2v_analytic_init skips where ComfyUI lacks LTX-2 (0.3.64) or its audio nodes (LTXVEmptyLatentAudio & co.
live in comfy_extras/nodes_lt_audio.py, which needs torchaudio)."""
from tests.api.conftest import edited
from tests.support.workflows import WORKFLOWS, load, skip_if_missing_nodes


def _require(api, stem):
    skip_if_missing_nodes(load(next(p for p in WORKFLOWS if p.stem == stem)), api.object_info, stem)


def _saved(api, entry):
    saved = [f for out in entry["outputs"].values() for f in out.get("images", []) if f.get("type") == "output"]
    assert len(saved) == 1, entry["outputs"]
    path = api.server.output_dir / saved[0].get("subfolder", "") / saved[0]["filename"]
    assert path.stat().st_size > 0
    return path


def test_ltxv_frameinit_workflow_writes_its_video(api):
    from PIL import Image

    _require(api, "ltxv_i2v_frameinit")
    entry = api.run(api.prompt("ltxv_i2v_frameinit"), timeout_s=300)
    assert entry["status"]["status_str"] == "success"
    with Image.open(_saved(api, entry)) as im:
        # CPU shrink: 64x64, 9 frames = 2 latent frames of the causal x8 VAE
        assert im.format == "WEBP" and im.size == (64, 64) and getattr(im, "n_frames", 1) == 9


def test_ltx2_analytic_init_workflow_writes_its_video(api):
    _require(api, "ltx2_i2v_analytic_init")
    entry = api.run(api.prompt("ltx2_i2v_analytic_init"), timeout_s=300)
    assert entry["status"]["status_str"] == "success"
    assert _saved(api, entry).suffix == ".mp4"


def test_ltxv_layout_of_another_length_is_refused_naming_it(api):
    stem = "ltxv_i2v_frameinit"
    _require(api, stem)
    msg = api.error_of(edited(api.prompt(stem), "ConsistI2VStaticLayout", frames=17), timeout_s=300)
    assert "FrameInit" in msg and "layout" in msg and "3 frame" in msg and "has 2" in msg, msg
