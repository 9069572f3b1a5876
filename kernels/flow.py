"""Dense optical flow between video frames: OpenCV's DIS (Dense Inverse Search), weight-free and fast on CPU.

DIS (Kroeger et al. 2016) is a coarse-to-fine patch-based flow; on 2 CPU cores it takes ~10 ms per 512x320
pair and recovers a synthetic 2 px/frame pan exactly, where Farneback is biased low (see the spec's
landscape, metrics section). OpenCV is imported lazily so the rest of the pack works without it.

Convention: ``flow[t, y, x] = (u, v)`` in pixels, such that frame t at (x, y) is found in frame t+1 at
(x + u, y + v) (content motion, x right, y down).
"""
from __future__ import annotations

import numpy as np
import torch

from .text import quoted

PRESETS = ("ultrafast", "fast", "medium")
MIN_SIDE = 16  # DIS's coarsest pyramid level needs a few 8-px patches

_MISSING = ("OpenCV is needed for the optical-flow metrics (DIS flow) but 'cv2' cannot be imported: install it "
            "into ComfyUI's Python with 'pip install opencv-python-headless' (or reinstall this pack's "
            "requirements.txt)")


def cv2_module():
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError(f"{_MISSING} ({e})") from e
    return cv2


def gray_u8(video: torch.Tensor) -> np.ndarray:
    """[T, H, W, 3] float 0..1 -> [T, H, W] uint8 luma (BT.601 weights), as OpenCV's RGB2GRAY."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32, device=video.device)
    luma = (video.float().clamp(0, 1) @ w) * 255.0
    return luma.round().to(torch.uint8).cpu().numpy()


def iter_flow(gray: np.ndarray, pairs: list[tuple[int, int]] | None = None, preset: str = "medium"):
    """Yield the flow [H, W, 2] float32 of each (a, b) frame pair of ``gray`` [T, H, W] uint8 (default:
    consecutive frames), one at a time so long videos never hold every flow field."""
    if preset not in PRESETS:
        raise ValueError(f"flow preset {quoted(preset)} is unknown: use one of {', '.join(PRESETS)}")
    if gray.ndim != 3 or gray.dtype != np.uint8:
        raise ValueError(f"optical flow needs [T, H, W] uint8 frames; got {gray.dtype} {gray.shape}")
    t, h, w = gray.shape
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"frames of {w}x{h} pixels are too small for optical flow: need at least "
                         f"{MIN_SIDE}x{MIN_SIDE}")
    if pairs is None:
        pairs = [(i, i + 1) for i in range(t - 1)]
    cv2 = cv2_module()
    dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}"))
    for a, b in pairs:
        yield dis.calc(np.ascontiguousarray(gray[a]), np.ascontiguousarray(gray[b]), None)


def dis_flow(gray: np.ndarray, pairs: list[tuple[int, int]] | None = None, preset: str = "medium") -> np.ndarray:
    """All flows of ``iter_flow`` stacked: [P, H, W, 2] float32."""
    flows = list(iter_flow(gray, pairs, preset))
    return np.stack(flows) if flows else np.zeros((0, *gray.shape[1:], 2), dtype=np.float32)
