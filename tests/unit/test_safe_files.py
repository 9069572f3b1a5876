"""Writing converted checkpoints (kernels/safe_files.py, kernels/checkpoints.write_safetensors): the safetensors
stream reads back exactly; the output appears only when complete; an existing file is never replaced without
overwrite (a user's file named like the old fixed temp name '<output>.partial' included); a failed write leaves
nothing in the folder, in both staging modes (anonymous O_TMPFILE and the named fallback)."""
from __future__ import annotations

import os
import struct

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from kernels import safe_files
from kernels.checkpoints import CheckpointError, OutputError, write_safetensors

pytestmark = pytest.mark.unit


@pytest.fixture(params=["anonymous", "named"])
def staging(request, monkeypatch):
    monkeypatch.setattr(safe_files, "ANONYMOUS", request.param == "anonymous")
    return request.param


def all_dtypes() -> dict:
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6) - 11.5
    sd = {f"t_{str(dt).replace('torch.', '')}": base.to(dt) for dt in safe_files.DTYPES if dt != torch.bool}
    sd.update({"t_bool": base > 0, "scalar": torch.tensor(3.5), "empty": torch.zeros(0, 3),
               "strided": base.t(), "shared_a": base[1], "shared_b": base[1]})
    return sd


def test_stream_reads_back_exactly_with_aligned_offsets(tmp_path):
    sd = all_dtypes()
    out = write_safetensors(sd, tmp_path / "all.safetensors", metadata={"cil_source": "x.ckpt", "ü": "ß"})
    got = load_file(str(out))
    assert set(got) == set(sd)
    for key, value in sd.items():
        assert got[key].dtype == value.dtype and got[key].shape == value.shape
        assert torch.equal(got[key].float(), value.float()), key
    with safe_open(str(out), framework="pt") as f:
        assert f.metadata() == {"cil_source": "x.ckpt", "ü": "ß", "format": "pt"}
    data = out.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    assert n % 8 == 0
    import json
    header = json.loads(data[8:8 + n])
    for key, entry in header.items():
        if key != "__metadata__":
            assert entry["data_offsets"][0] % sd[key].element_size() == 0, key
    assert len(data) == 8 + n + max(e["data_offsets"][1] for k, e in header.items() if k != "__metadata__")


def test_output_appears_complete_and_nothing_else_is_left(tmp_path, staging):
    out = write_safetensors({"w": torch.ones(5)}, tmp_path / "o.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["o.safetensors"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # a normal file, not a private temp file
    torch.testing.assert_close(load_file(str(out))["w"], torch.ones(5), rtol=0, atol=0)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_failed_write_leaves_nothing(tmp_path, staging, monkeypatch):
    calls = []

    def fail_on_second(f, t):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        f.write(b"\0" * t.numel() * t.element_size())

    monkeypatch.setattr(safe_files, "write_tensor", fail_on_second)
    with pytest.raises(OutputError, match=r"o.safetensors: cannot write it \(No space left on device\); nothing "
                                          r"was left behind"):
        write_safetensors({"a": torch.ones(3), "b": torch.ones(3)}, tmp_path / "o.safetensors")
    assert len(calls) == 2 and not list(tmp_path.iterdir())


def test_existing_files_are_never_replaced(tmp_path, staging, monkeypatch):
    user = tmp_path / "o.safetensors.partial"  # the fixed temp name used before: it was overwritten and deleted
    user.write_bytes(b"user data")
    out = write_safetensors({"w": torch.ones(2)}, tmp_path / "o.safetensors")
    assert user.read_bytes() == b"user data"
    with pytest.raises(OutputError, match=r"o.safetensors: already exists; pick another name or allow overwriting"):
        write_safetensors({"w": torch.zeros(2)}, out)
    assert torch.equal(load_file(str(out))["w"], torch.ones(2))
    write_safetensors({"w": torch.zeros(2)}, out, overwrite=True)
    assert torch.equal(load_file(str(out))["w"], torch.zeros(2))

    # a file that appears while the data is written is not replaced either: the final link fails
    late = tmp_path / "late.safetensors"
    real = safe_files.write_safetensors_to

    def user_saves_meanwhile(f, tensors, meta):
        real(f, tensors, meta)
        late.write_bytes(b"user's late file")

    monkeypatch.setattr(safe_files, "write_safetensors_to", user_saves_meanwhile)
    with pytest.raises(OutputError, match="late.safetensors: already exists \\(nothing was overwritten\\)"):
        write_safetensors({"w": torch.ones(2)}, late)
    assert late.read_bytes() == b"user's late file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.safetensors", "o.safetensors",
                                                         "o.safetensors.partial"]


def test_bad_outputs_are_named_with_the_fix(tmp_path, monkeypatch):
    sd = {"w": torch.ones(2)}
    (tmp_path / "folder.safetensors").mkdir()
    with pytest.raises(OutputError, match=r"folder.safetensors: is a folder; give the file to write, e\.g\. "):
        write_safetensors(sd, tmp_path / "folder.safetensors", overwrite=True)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match=r"afile: is a file, so .*afile/sub/o.safetensors cannot be created"):
        write_safetensors(sd, tmp_path / "afile" / "sub" / "o.safetensors")
    monkeypatch.setattr("shutil.disk_usage", lambda p: type("U", (), {"free": 100})())
    with pytest.raises(OutputError, match=r"o.safetensors: needs \d+ bytes but .* has 100 bytes free; free some "
                                          r"space or pick another folder"):
        write_safetensors({"w": torch.ones(100)}, tmp_path / "o.safetensors")
    assert not (tmp_path / "o.safetensors").exists()
    with pytest.raises(CheckpointError, match="'c' is complex64, which safetensors cannot store"):
        write_safetensors({"c": torch.ones(2, dtype=torch.complex64)}, tmp_path / "c.safetensors")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_folder_is_named(tmp_path, staging):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match=r"o.safetensors: cannot write it \(Permission denied\)"):
            write_safetensors({"w": torch.ones(2)}, folder / "o.safetensors")
    finally:
        folder.chmod(0o755)


def test_stale_partials_of_dead_processes_are_removed(tmp_path):
    dead = tmp_path / f"o.safetensors{safe_files.PARTIAL_MARK}{safe_files._host()}-{2 ** 22 + 12345}-0123abcd"
    live = tmp_path / f"o.safetensors{safe_files.PARTIAL_MARK}{safe_files._host()}-{os.getpid()}-0123abcd"
    other_host = tmp_path / f"o.safetensors{safe_files.PARTIAL_MARK}elsewhere-{2 ** 22 + 12345}-0123abcd"
    user = tmp_path / "o.safetensors.cdi2v-partial-notes.txt"
    for p in (dead, live, other_host, user):
        p.write_bytes(b"x")
    assert safe_files.remove_stale_partials(tmp_path) == [dead]
    assert live.exists() and other_host.exists() and user.exists() and not dead.exists()
