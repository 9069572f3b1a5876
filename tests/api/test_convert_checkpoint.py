"""CIL Convert Checkpoint through the real server (issue 15, item 7): it runs again when its output file changed
(a deleted output is written again, not reported from ComfyUI's cache), keeps a file that is already this
conversion, never touches a user's file (the old fixed temp name '<output>.partial' included) and never writes
through a symlinked subfolder that leads outside the models folders."""
from __future__ import annotations

import uuid

import torch
from safetensors.torch import load_file, save_file

SOURCE = {"a.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b.bias": torch.ones(3)}


def diffusion_models(api):
    return api.server.extra["model_root"] / "diffusion_models"


def source_file(api) -> str:
    """A new small checkpoint in the server's models/diffusion_models; returns the ckpt_name to pick."""
    name = f"cdi2v_convert_src_{uuid.uuid4().hex[:8]}.safetensors"
    save_file({"module." + k: v for k, v in SOURCE.items()}, str(diffusion_models(api) / name))
    return f"diffusion_models/{name}"


def convert_prompt(ckpt_name: str, output_name: str, overwrite: bool = False) -> dict:
    return {"1": {"class_type": "CILConvertCheckpoint", "inputs": {
        "ckpt_name": ckpt_name, "weights": "auto", "arch": "as_is", "fp16": False, "output_name": output_name,
        "overwrite": overwrite}}}


def text_of(entry) -> str:
    return " ".join(entry["outputs"]["1"]["text"])


def assert_converted(path):
    got = load_file(str(path))
    assert set(got) == set(SOURCE) and all(torch.equal(got[k], v) for k, v in SOURCE.items())


def test_deleted_output_is_written_again(api):
    ckpt = source_file(api)
    out = f"cdi2v_converted_{uuid.uuid4().hex[:8]}"
    target = diffusion_models(api) / f"{out}.safetensors"
    prompt = convert_prompt(ckpt, out)

    entry = api.run(prompt)
    assert str(target) in text_of(entry)
    assert_converted(target)
    written = target.stat().st_mtime_ns

    entry = api.run(prompt)  # the same prompt again: the file is this conversion, kept as it is
    assert "kept" in text_of(entry) and target.stat().st_mtime_ns == written

    target.unlink()
    api.run(prompt)  # before: a cached success with the old path, and no file
    assert_converted(target)

    target.write_bytes(b"a user's own file")  # another file of that name: refused, and left alone
    msg = api.error_of(prompt)
    assert "output_name" in msg and "already exists" in msg and "enable overwrite" in msg
    assert target.read_bytes() == b"a user's own file"


def test_users_file_named_like_a_temp_file_survives(api):
    ckpt = source_file(api)
    out = f"cdi2v_user_{uuid.uuid4().hex[:8]}"
    folder = diffusion_models(api)
    user = folder / f"{out}.safetensors.partial"  # the fixed temp name the node used to write and delete
    user.write_bytes(b"user data")
    before = set(folder.iterdir())
    api.run(convert_prompt(ckpt, out))
    assert user.read_bytes() == b"user data"
    assert_converted(folder / f"{out}.safetensors")
    assert set(folder.iterdir()) - before == {folder / f"{out}.safetensors"}  # no temp file left either


def test_symlinked_subfolder_outside_models_is_refused(api, tmp_path):
    ckpt = source_file(api)
    outside = tmp_path / "outside"
    outside.mkdir()
    link = diffusion_models(api) / f"cdi2v_link_{uuid.uuid4().hex[:8]}"
    link.symlink_to(outside, target_is_directory=True)
    msg = api.error_of(convert_prompt(ckpt, f"{link.name}/escaped"))
    assert "output_name" in msg and "outside the models folders" in msg and str(outside) in msg
    assert not list(outside.iterdir())
    msg = api.error_of(convert_prompt(ckpt, f"{link.name}/deeper/escaped"))  # a folder it would create, too
    assert "outside the models folders" in msg and not list(outside.iterdir())
