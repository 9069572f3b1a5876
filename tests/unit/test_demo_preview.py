import pytest
from PIL import Image

from scripts.demo import layout_preview, new_output_file

pytestmark = pytest.mark.unit


def test_weight_free_preview_is_an_animation(tmp_path):
    src = tmp_path / "in.png"
    Image.new("RGB", (80, 48), (200, 40, 40)).save(src)
    out = tmp_path / "preview.webp"
    layout_preview(src, out, frames=6)
    with Image.open(out) as im:
        assert im.n_frames == 6 and im.size == (3 * 60, 48)  # layout | low band | start, 3/4-width pan window
        im.seek(0)
        left = im.convert("RGB").getpixel((30, 24))
    assert left[0] > 150 and left[1] < 100  # the layout panel shows the image


def test_preview_never_replaces_a_users_file(tmp_path):
    src = tmp_path / "in.png"
    Image.new("RGB", (80, 48), (200, 40, 40)).save(src)
    out = tmp_path / "output"
    out.mkdir()
    users = {name: f"user file {name}".encode() for name in (
        "consistent_dynamic_i2v_layout_preview.webp",  # the name the demo wrote over before
        "consistent_dynamic_i2v_layout_preview_00001.webp", "consistent_dynamic_i2v_layout_preview_00002.webp")}
    for name, data in users.items():
        (out / name).write_bytes(data)
    preview = new_output_file(out)
    assert preview.name == "consistent_dynamic_i2v_layout_preview_00003.webp"
    with pytest.raises(FileExistsError):
        layout_preview(src, out / "consistent_dynamic_i2v_layout_preview_00001.webp", frames=2)
    layout_preview(src, preview, frames=6)
    assert all((out / name).read_bytes() == data for name, data in users.items())
    with Image.open(preview) as im:
        assert im.n_frames == 6


def test_demo_removes_its_temporary_folder_on_error(tmp_path, monkeypatch):
    """The demo's work folder (tiny models, custom-node links) goes away also when ComfyUI fails to boot."""
    import tempfile

    import scripts.comfy_inprocess
    from scripts import demo

    def fail_boot(self):
        assert self.work.is_dir() and self.work.parent == tmp_path
        raise RuntimeError("boot failed")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(demo, "find_comfyui", lambda: tmp_path / "ComfyUI")
    monkeypatch.setattr(scripts.comfy_inprocess.InProcessComfy, "boot", fail_boot)
    with pytest.raises(RuntimeError, match="boot failed"):
        demo.main()
    assert not list(tmp_path.glob("cdi2v_demo_*"))
