"""Writing a big file into a user's folder without clobbering anything or leaving anything behind (no ComfyUI).

``staged_write(target, overwrite)`` yields a binary file; the data reaches ``target`` only when the block ends
without an error:

* Linux (``O_TMPFILE`` + ``/proc``): the data goes to an anonymous file of the target's folder, with no name, that
  the kernel frees when the process dies, SIGKILL and OOM kills included; it is linked in as ``target`` at the end.
* elsewhere (no ``O_TMPFILE``, or a file system without it): the data goes to
  ``<target>.cdi2v-partial-<host>-<pid>-<random>``, created exclusively (an existing file of any name is never
  touched) and removed on any exit Python sees (an error, Ctrl-C, a handled SIGTERM). A process killed outright
  leaves it; the next write into that folder removes every such file whose process, on this host, is gone.

Without ``overwrite`` the final step is a hard link, which fails if the target appeared meanwhile: an existing file
is never replaced. ``write_safetensors_to`` streams a state dict in the safetensors format, tensor by tensor.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import socket
import struct
from pathlib import Path

import torch

ANONYMOUS = True  # use O_TMPFILE where the OS offers it (tests switch it off to exercise the named fallback)
PARTIAL_MARK = ".cdi2v-partial-"
_PARTIAL = re.compile(re.escape(PARTIAL_MARK) + r"(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}$")
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}

DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
          torch.bool: "BOOL"}
for _name, _code in (("float8_e4m3fn", "F8_E4M3"), ("float8_e5m2", "F8_E5M2"), ("uint16", "U16"),
                     ("uint32", "U32"), ("uint64", "U64")):
    if hasattr(torch, _name):
        DTYPES[getattr(torch, _name)] = _code


# --- the safetensors format ---------------------------------------------------------------------------------

def safetensors_header(tensors: dict, metadata: dict) -> tuple[bytes, list[str], int]:
    """(8-byte length + JSON header padded to 8 bytes, key order, data bytes). Larger items first, so every
    tensor starts at a multiple of its item size. Raises TypeError naming a tensor of a dtype safetensors lacks."""
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    entries: dict = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for key in order:
        t = tensors[key]
        if t.dtype not in DTYPES:
            raise TypeError(f"'{key}' is {str(t.dtype).replace('torch.', '')}, which safetensors cannot store")
        size = t.numel() * t.element_size()
        entries[key] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    header = json.dumps(entries, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header, order, offset


def write_tensor(f, t: torch.Tensor) -> None:
    f.write(memoryview(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()))


def write_safetensors_to(f, tensors: dict, metadata: dict) -> None:
    header, order, _ = safetensors_header(tensors, metadata)
    f.write(header)
    for key in order:
        write_tensor(f, tensors[key])


# --- staging ------------------------------------------------------------------------------------------------

def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"


def partial_name(target: Path) -> Path:
    return target.with_name(f"{target.name}{PARTIAL_MARK}{_host()}-{os.getpid()}-{secrets.token_hex(4)}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the named temporary files a killed write left in ``folder`` (this host's, whose process is gone)."""
    removed = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            m = _PARTIAL.search(entry.name)
            if m and m["host"] == _host() and not _alive(int(m["pid"])) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _open_staging(target: Path) -> tuple[int, Path | None]:
    """(fd, None) for an anonymous file in the target's folder, else (fd, unique partial name)."""
    if ANONYMOUS and hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"):
        try:
            return os.open(target.parent, os.O_TMPFILE | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o666), None
        except OSError as err:
            if err.errno not in _NO_TMPFILE:
                raise
    name = partial_name(target)
    return os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o666), name


def _link(src: str | Path, target: Path, follow: bool) -> None:
    """link(2), or linkat(2) following ``src`` (the /proc/self/fd/N of an anonymous file): Python uses linkat,
    and so honours ``follow_symlinks``, only when a directory fd is given."""
    if not follow:
        os.link(src, target, follow_symlinks=False)
        return
    folder = os.open(target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.link(src, target.name, dst_dir_fd=folder, follow_symlinks=True)
    finally:
        os.close(folder)


def _link_no_replace(src: str | Path, target: Path, follow: bool) -> None:
    try:
        _link(src, target, follow)
    except FileExistsError:
        raise
    except OSError as err:  # a file system without hard links: check, then rename (not atomic, best effort)
        if follow or err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "File exists", str(target)) from err
        os.replace(src, target)


def _commit(fd: int, name: Path | None, target: Path, overwrite: bool) -> None:
    if name is None:  # anonymous: give it a name
        src = f"/proc/self/fd/{fd}"
        if not overwrite:
            _link_no_replace(src, target, follow=True)
            return
        name = partial_name(target)
        _link(src, name, follow=True)
        try:
            os.replace(name, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
        return
    if overwrite:
        os.replace(name, target)
    else:
        _link_no_replace(name, target, follow=False)


@contextlib.contextmanager
def staged_write(target, overwrite: bool = False):
    """Yield a binary file whose content becomes ``target`` if the block succeeds (see the module docstring).
    Raises FileExistsError when ``target`` exists and ``overwrite`` is off (checked again at the final link)."""
    target = Path(target)
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "File exists", str(target))
    remove_stale_partials(target.parent)
    fd, name = _open_staging(target)
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            yield f
            f.flush()
        os.fsync(fd)
        _commit(fd, name, target, overwrite)
    finally:
        os.close(fd)
        if name is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
