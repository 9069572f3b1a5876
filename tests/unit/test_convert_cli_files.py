"""scripts/convert_checkpoint.py and the file system, as real subprocesses: a bad output path is an error line
(exit 2, the path and the fix, no traceback); a conversion killed mid-write leaves nothing in the output folder
(anonymous O_TMPFILE staging), or, with the named fallback, a recognisable partial file that SIGTERM removes and
the next run removes after a SIGKILL."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from kernels import safe_files

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "convert_checkpoint.py"
MIB = 2 ** 20

# the real CLI, with the tensor writer paused after the second tensor so the parent can kill it mid-write
PAUSED_CLI = r"""
import os, runpy, sys, time
root, mode = sys.argv[1], sys.argv[2]
sys.path.insert(0, root)
from kernels import safe_files
safe_files.ANONYMOUS = mode == "anonymous"
real, written = safe_files.write_tensor, []
def paused(f, t):
    real(f, t)
    written.append(t.numel() * t.element_size())
    if len(written) == 2:
        f.flush()
        print("MID-WRITE", sum(written), flush=True)
        time.sleep(300)
safe_files.write_tensor = paused
sys.argv = [os.path.join(root, "scripts", "convert_checkpoint.py"), *sys.argv[3:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def cli(*args, cwd):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          cwd=str(cwd), timeout=300, check=False, env=dict(os.environ, PYTHONPATH=""))


def source(folder: Path) -> Path:
    path = folder / "checkpoint-step-5.ckpt"
    torch.save({"state_dict": {f"w{i}": torch.full((MIB // 4,), float(i)) for i in range(3)}}, path)  # 3 x 1 MiB
    return path


def paused_cli(folder: Path, mode: str, out: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-c", PAUSED_CLI, str(ROOT), mode, str(source(folder)), out],
                            cwd=str(folder), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=""))
    ready, _, _ = select.select([proc.stdout], [], [], 240)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("MID-WRITE"):
        proc.kill()
        pytest.fail(f"the conversion did not reach the pause: {line!r} {proc.stderr.read()[-3000:]}")
    return proc, int(line.split()[1])


def staged_fds(pid: int, folder: Path) -> list[int]:
    """Sizes of the files the process has open in ``folder`` that have no name there (O_TMPFILE)."""
    sizes = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(f"{folder}/#") and target.endswith("(deleted)"):
            sizes.append(os.stat(f"/proc/{pid}/fd/{fd}").st_size)
    return sizes


def kill(proc, sig) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=60)
    finally:
        proc.stdout.close()
        proc.stderr.close()


def test_bad_output_paths_are_error_lines(tmp_path):
    src = source(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "afile").write_text("x")
    cases = {
        ("models",): "models: is a folder; give the file to write, e.g. models/model.safetensors",
        ("models", "--overwrite"): "models: is a folder; give the file to write",
        ("afile/o.safetensors",): "afile: is a file, so afile/o.safetensors cannot be created; pick an output in a",
        ("o.txt",): "o.txt: the output must end in .safetensors",
    }
    for args, message in cases.items():
        res = cli(src, *args, cwd=tmp_path)
        assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, (args, res.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "checkpoint-step-5.ckpt", "models"]
    assert not list((tmp_path / "models").iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_output_folder_is_an_error_line(tmp_path):
    src = source(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        res = cli(src, ro / "o.safetensors", cwd=tmp_path)
    finally:
        ro.chmod(0o755)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "o.safetensors: cannot write it (Permission denied)" in res.stderr


@pytest.mark.skipif(not (hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")), reason="needs O_TMPFILE")
def test_sigkill_mid_write_leaves_nothing(tmp_path):
    proc, written = paused_cli(tmp_path, "anonymous", "out.safetensors")
    assert written == 2 * MIB
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-step-5.ckpt"]  # no name, hidden or not
    assert [s for s in staged_fds(proc.pid, tmp_path) if s >= written]  # the data is staged in that folder
    assert kill(proc, signal.SIGKILL) == -signal.SIGKILL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-step-5.ckpt"]


def test_named_fallback_sigterm_removes_and_next_run_cleans_after_sigkill(tmp_path):
    proc, written = paused_cli(tmp_path, "named", "out.safetensors")
    (partial,) = [p for p in tmp_path.iterdir() if safe_files.PARTIAL_MARK in p.name]
    assert partial.name.startswith("out.safetensors.cdi2v-partial-") and partial.stat().st_size >= written
    assert kill(proc, signal.SIGTERM) == 128 + signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-step-5.ckpt"]

    proc, _ = paused_cli(tmp_path, "named", "out.safetensors")
    assert kill(proc, signal.SIGKILL) == -signal.SIGKILL
    (left,) = [p for p in tmp_path.iterdir() if safe_files.PARTIAL_MARK in p.name]  # what SIGKILL can leave
    res = cli(tmp_path / "checkpoint-step-5.ckpt", "next.safetensors", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert not left.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-step-5.ckpt", "next.safetensors"]
    assert torch.equal(load_file(str(tmp_path / "next.safetensors"))["w2"], torch.full((MIB // 4,), 2.0))
