"""Test input images."""
from __future__ import annotations

from pathlib import Path


def write_gradient_png(path: Path, width: int = 64, height: int = 64, blue: int = 128) -> Path:
    """An RGB gradient (red along x, green along y): every pixel differs, so motion and crops show."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (width, height))
    img.putdata([(int(255 * x / width), int(255 * y / height), blue) for y in range(height) for x in range(width)])
    img.save(path)
    return path
