import pytest
from PIL import Image

from scripts.demo import layout_preview

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
