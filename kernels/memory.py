"""Up-front memory checks: refuse work that cannot fit before allocating it."""
from __future__ import annotations

from pathlib import Path

GIB = 1024 ** 3
_CGROUP_FILES = (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
                 ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"))


def cgroup_headroom() -> int | None:
    """Bytes left under this container's memory limit (cgroup v2 or v1); None without a limit."""
    for limit_file, usage_file in _CGROUP_FILES:
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:
            return max(0, int(limit) - usage)
    return None


def check_fits(need: int, limit: int | None, what: str, fix: str) -> None:
    """Raise a MemoryError naming ``what``, the estimate and ``fix`` when ``need`` bytes exceed ``limit``."""
    if limit is not None and need > limit:
        raise MemoryError(f"{what} needs about {need / GIB:.2f} GiB of memory but only {limit / GIB:.2f} GiB is "
                          f"free: {fix}")
