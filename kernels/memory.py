"""Up-front memory checks: refuse work that cannot fit before allocating it."""
from __future__ import annotations

from pathlib import Path

GIB = 1024 ** 3
# (limit, usage, reclaimable page cache key of memory.stat beside usage): cgroup v2, then v1
CGROUP_FILES = (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current", "inactive_file"),
                ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes",
                 "total_inactive_file"))


def cgroup_headroom() -> int | None:
    """Bytes left under this container's memory limit (cgroup v2 or v1), reclaimable page cache counted as free;
    None without a limit."""
    for limit_file, usage_file, cache_key in CGROUP_FILES:
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            stat = dict(line.split() for line in Path(usage_file).with_name("memory.stat").read_text().splitlines())
        except (OSError, ValueError):
            stat = {}
        if limit.isdigit() and int(limit) < 1 << 60:  # "max" / a huge number: no limit
            return max(0, int(limit) - usage + int(stat.get(cache_key, 0)))
        return None
    return None


def check_fits(need: int, limit: int | None, what: str, fix: str) -> None:
    """Raise a MemoryError naming ``what``, the estimate and ``fix`` when ``need`` bytes exceed ``limit``."""
    if limit is not None and need > limit:
        raise MemoryError(f"{what} needs about {need / GIB:.2f} GiB of memory but only {limit / GIB:.2f} GiB is "
                          f"free: {fix}")
