"""Bad model and statistics files, sent through the real server as a user's graph reaches it: every case is
refused before anything is built, with a message that names the file and the fix (issue 15, item 6)."""
from __future__ import annotations

import json
import uuid

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.api.conftest import edited
from tests.support.pickles import SystemCall, WritesSentinel

WEIGHTS = "diffusion_pytorch_model.safetensors"
TINY_UNET = "consisti2v_unet.safetensors"  # the stand-in the consisti2v_i2v workflow names
TINY_CONFIG = {  # tests/support/tiny_models.CONSISTI2V_CONFIG: the config of TINY_UNET
    "block_out_channels": [64, 64], "layers_per_block": 1, "attention_head_dim": [1, 1], "cross_attention_dim": 32,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "norm_num_groups": 32, "n_temp_heads": 8,
}
ESC = "\x1b"


def models(api, kind):
    folder = api.server.extra["model_root"] / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def tiny_unet(api) -> dict:
    return load_file(str(models(api, "diffusion_models") / TINY_UNET))


def unet_folder(api, sd: dict, config=None) -> str:
    """A new diffusion_models/<unique>/ holding ``sd`` and, if given, a config.json (a dict, or raw text);
    returns the unet_name to pick."""
    name = f"cdi2v_bad_{uuid.uuid4().hex[:8]}"
    folder = models(api, "diffusion_models") / name
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in sd.items()}, str(folder / WEIGHTS))
    if config is not None:
        (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    return f"{name}/{WEIGHTS}"


def consisti2v_error(api, unet_name) -> str:
    return api.error_of(edited(api.prompt("consisti2v_i2v"), "ConsistI2VModelLoader", unet_name=unet_name,
                               weight_dtype="fp32"))


def assert_messages(cases: dict, error_of, start: str) -> None:
    """Every case fails with a message that starts with ``start``, holds all its words and stays short."""
    wrong = []
    for name, words in cases.items():
        try:
            msg = error_of(name)
        except AssertionError as err:  # the prompt ran: a silent result
            msg = str(err).splitlines()[0][:200]
        if not msg.startswith(start) or len(msg) > 1200 or any(w not in msg for w in words):
            wrong.append(f"{name}: wants {words}, got: {msg}")
    assert not wrong, "\n".join(wrong)


def test_consisti2v_loader_refuses_bad_files(api):
    sd = tiny_unet(api)
    huge = {**TINY_CONFIG, "block_out_channels": [32768] * 4, "attention_head_dim": [512] * 4,
            "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
            "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3}
    few = {k: v for k, v in sd.items() if k.startswith(("conv_in.", "time_embedding.", "up_blocks."))}
    cases = {  # unet_name -> words the message must hold
        unet_folder(api, sd, "{\"block_out_channels\": [64, 64],"): ["config.json", "not valid JSON", "line 1"],
        unet_folder(api, sd, [64, 64]): ["config.json", "JSON object", "list"],
        unet_folder(api, sd, {**TINY_CONFIG, "layers_per_block": "1"}): ["config.json", "layers_per_block", "'1'",
                                                                          "integer"],
        unet_folder(api, sd, {**TINY_CONFIG, "block_out_channels": [64, 64.5]}): ["block_out_channels", "integer"],
        unet_folder(api, sd, {**TINY_CONFIG, "norm_eps": "1e-5"}): ["norm_eps", "number"],
        unet_folder(api, sd, {**TINY_CONFIG, "down_block_types": ["CrossAttnDownBlock2D", "Down"]}):
            ["down_block_types", "'Down'", "DownBlock2D"],
        unet_folder(api, sd, huge): ["config.json", "GB", "available", "belongs to these weights"],
        unet_folder(api, few): [WEIGHTS, "missing", "down_blocks", "re-download"],
        unet_folder(api, {**sd, "down_blocks.9.resnets.0.conv1.weight": torch.zeros(64, 64, 3, 3)}):
            [WEIGHTS, "down_blocks.9.resnets.0.conv1.weight"],
        unet_folder(api, {**sd, "up_blocks.0.stray.weight": torch.zeros(3)}):
            [WEIGHTS, "unexpected keys", "up_blocks.0.stray.weight"],
        unet_folder(api, {k: (v * 100).to(torch.int8) for k, v in sd.items()}): [WEIGHTS, "int8", "floating"],
        unet_folder(api, {**sd, "conv_in.weight": sd["conv_in.weight"].to(torch.int32)}, TINY_CONFIG):
            [WEIGHTS, "conv_in.weight", "int32"],
    }
    assert_messages(cases, lambda name: consisti2v_error(api, name), "ConsistI2VModelLoader: ValueError:")


def stats_file(api, obj, ext=".pt") -> str:
    name = f"cdi2v_bad_{uuid.uuid4().hex[:8]}{ext}"
    path = models(api, "cil_statistics") / name
    if ext == ".pt":
        torch.save(obj, str(path))
    else:
        save_file(obj, str(path))
    return name


def statistics_error(api, name) -> str:
    return api.error_of(edited(api.prompt("dynamicrafter_analytic_init"), "CILStatisticsLoader",
                               statistics_file=name))


@pytest.mark.parametrize("payload", [WritesSentinel, SystemCall])
def test_statistics_loader_refuses_code_running_pickles(api, tmp_path, payload):
    sentinel = tmp_path / "ran"
    name = stats_file(api, {"Expectation_X0": payload(sentinel), "Tr_Cov_d": torch.tensor(0.8)})
    msg = statistics_error(api, name)
    assert msg.startswith("CILStatisticsLoader: ValueError:"), msg
    for w in (name, "would run code", "refused"):
        assert w in msg, msg
    for w in (ESC, "weights_only", "trust", "safe_globals"):
        assert w not in msg, msg
    assert not sentinel.exists()


def test_statistics_loader_refuses_bad_variance_and_duplicate_keys(api):
    mean = torch.zeros(1, 4, 2, 8, 8)
    cases = {
        stats_file(api, {1: mean, "Tr_Cov_d": torch.tensor(0.8)}):
            ["is not a CIL statistics file: it holds '1', 'Tr_Cov_d'"],
        stats_file(api, {"Expectation_X0": mean, "Tr_Cov_d": 1}): ["'Tr_Cov_d' holds int 1, not a float"],
        stats_file(api, {"Expectation_X0": mean, "Tr_Cov_d": "0.8"}): ["'Tr_Cov_d' holds str '0.8', not a float"],
        stats_file(api, {"Expectation_X0": mean, "Tr_Cov_d": torch.tensor(1)}, ".safetensors"):
            ["'Tr_Cov_d' holds a tensor of int64, not a float"],
        stats_file(api, {"Expectation_X0": mean.long(), "Tr_Cov_d": torch.tensor(0.8)}):
            ["'Expectation_X0' holds a tensor of int64, not a float"],
        stats_file(api, {"Expectation_X0": mean, "expectation_x0": mean + 1, "Tr_Cov_d": torch.tensor(0.8)}):
            ["'Expectation_X0' and 'expectation_x0' name the same statistic"],
        stats_file(api, {"Expectation_X0": mean, "Tr_Cov_d": torch.tensor(0.8), "trCov_d": torch.tensor(0.5)},
                   ".safetensors"): ["'Tr_Cov_d' and 'trCov_d' name the same statistic"],
    }
    assert_messages({name: [name, *words] for name, words in cases.items()}, lambda name: statistics_error(api, name),
                    "CILStatisticsLoader: ValueError:")
