"""The shipped HunyuanVideo 1.5 and Cosmos Predict2 workflows through POST /prompt on a real server (tiny models
written under the real file names; CPU-shrunk sizes: 64x64x5 frames for HunyuanVideo 1.5, 32x32x9 for Cosmos)."""
import pytest

from tests.api.conftest import edited
from tests.support.workflows import WORKFLOWS, load, skip_if_missing_nodes

CASES = {"hunyuan15_i2v_frameinit_zoom": (5, 64), "cosmos_predict2_i2v_pyoco": (9, 32)}


def _require(api, stem):
    skip_if_missing_nodes(load(next(p for p in WORKFLOWS if p.stem == stem)), api.object_info, stem)


@pytest.mark.parametrize("stem", sorted(CASES))
def test_family_workflow_writes_its_video(api, stem):
    from PIL import Image

    _require(api, stem)
    frames, size = CASES[stem]
    entry = api.run(api.prompt(stem), timeout_s=300)
    assert entry["status"]["status_str"] == "success"
    saved = [img for out in entry["outputs"].values() for img in out.get("images", []) if img.get("type") == "output"]
    assert len(saved) == 1, entry["outputs"]
    path = api.server.output_dir / saved[0].get("subfolder", "") / saved[0]["filename"]
    with Image.open(path) as im:
        assert im.format == "WEBP" and im.size == (size, size)
        assert getattr(im, "n_frames", 1) == frames  # the decoded video: (latent frames - 1) * 4 + 1


def test_hunyuan_layout_of_another_size_is_refused_naming_it(api):
    stem = "hunyuan15_i2v_frameinit_zoom"
    _require(api, stem)
    msg = api.error_of(edited(api.prompt(stem), "ConsistI2VCameraLayout", width=32, height=32), timeout_s=300)
    assert "FrameInit" in msg and "layout" in msg and "2x2" in msg and "4x4" in msg, msg
