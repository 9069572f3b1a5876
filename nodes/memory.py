"""Free CPU memory for the nodes' up-front size checks."""
from __future__ import annotations

import comfy.model_management
import torch

from ..kernels.memory import cgroup_headroom


def free_memory() -> int:
    """Bytes the process can still allocate: ComfyUI's free CPU memory, capped by the container's limit."""
    free = int(comfy.model_management.get_free_memory(torch.device("cpu")))
    headroom = cgroup_headroom()
    return free if headroom is None else min(free, headroom)
