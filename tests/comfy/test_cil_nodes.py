"""CIL nodes in a real in-process ComfyUI: the statistics folder and loader, TimeNoise conditioning in SVD sampling,
and clear errors for bad input (each names the input and the fix)."""
import copy
import math

import pytest
import torch

from tests.support.node_calls import call_node, capturing, node_class, sample_advanced

pytestmark = pytest.mark.comfy


@pytest.fixture(scope="module")
def stats_dir(comfy, tmp_path_factory):
    import folder_paths
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("cil_statistics")
    folder_paths.add_model_folder_path("cil_statistics", str(folder))
    g = torch.Generator().manual_seed(0)
    save_file({"Expectation_X0": torch.randn(1, 4, 16, 5, 8, generator=g), "Tr_Cov_d": torch.tensor(0.808)},
              str(folder / "initial_noise_512.safetensors"))
    torch.save({"Expectation_x_0": torch.randn(1, 16, 4, 5, 8, generator=g), "trCov_d": torch.tensor(0.9)},
               str(folder / "svd_initial_noise.pt"))
    save_file({"weight": torch.zeros(3)}, str(folder / "some_lora.safetensors"))
    save_file({"Expectation_X0": torch.zeros(1, 4, 1, 2, 2), "Tr_Cov_d": torch.tensor(-1.0)},
              str(folder / "negative.safetensors"))
    (folder / "broken.safetensors").write_bytes(b"\x00\x01 not a safetensors file")
    (folder / "readme.txt").write_text("not listed")
    return folder


def test_statistics_folder_has_an_extension_filter(comfy, stats_dir):
    import folder_paths

    paths, exts = folder_paths.folder_names_and_paths["cil_statistics"]
    assert {".safetensors", ".pt"} <= set(exts)
    names = folder_paths.get_filename_list("cil_statistics")
    assert "initial_noise_512.safetensors" in names and "svd_initial_noise.pt" in names
    assert "readme.txt" not in names


def test_loader_reads_released_layouts(comfy, stats_dir):
    dc = node_class("CILStatisticsLoader").execute("initial_noise_512.safetensors", "interpolate", 1.0).result[0]
    assert tuple(dc.mean.shape) == (4, 16, 5, 8) and dc.variance == pytest.approx(0.808)
    svd = node_class("CILStatisticsLoader").execute("svd_initial_noise.pt", "channel_mean", 0.7).result[0]
    assert tuple(svd.mean.shape) == (4, 16, 5, 8) and svd.resample == "channel_mean" and svd.scale == 0.7


@pytest.mark.parametrize("name, match", [
    ("some_lora.safetensors", "statistics_file 'some_lora.safetensors' is not a CIL statistics file"),
    ("broken.safetensors", "statistics_file 'broken.safetensors' is not a readable statistics file"),
    ("negative.safetensors", "negative or not finite"),
    ("missing.safetensors", "statistics_file: 'missing.safetensors' is not in models/cil_statistics"),
])
def test_loader_rejects_files_that_are_not_statistics(comfy, stats_dir, name, match):
    with pytest.raises(ValueError, match=match):
        node_class("CILStatisticsLoader").execute(name, "interpolate", 1.0)


def test_negative_variance_is_named(comfy):
    with pytest.raises(ValueError, match="variance = -0.5 is negative"):
        node_class("CILStatistics").execute(-0.5, "interpolate", None)


@pytest.mark.parametrize("kind, M, rng", [("eps", 0.0, "1000"), ("eps", 1001.0, "1000"), ("svd", 800.0, "700"),
                                          ("wan", 1200.0, "1000")])
def test_M_outside_range(comfy, kind, M, rng):
    from tests.support import tiny_models

    stats = node_class("CILStatistics").execute(0.5, "interpolate", None).result[0]
    with pytest.raises(ValueError, match=rf"M = {M:g} is outside \(0, {rng}\]"):
        node_class("CILAnalyticInit").execute(tiny_models.build_tiny_model(kind), stats, M, 10, "auto", 0, "fixed")


def test_statistics_channels_must_match_the_model(comfy, stats_dir):
    from tests.support import tiny_models

    stats = node_class("CILStatisticsLoader").execute("initial_noise_512.safetensors", "interpolate", 1.0).result[0]
    with pytest.raises(ValueError, match="statistics: .* has 4 latent channels but the model samples 16"):
        node_class("CILAnalyticInit").execute(tiny_models.build_tiny_model("wan"), stats, 900.0, 10, "auto", 0,
                                              "fixed")


def test_released_statistics_resample_to_the_video(comfy, stats_dir):
    """16-frame 5x8 statistics on a 4-frame 8x8 SVD latent: the NOISE has the latent's exact shape and dtype."""
    from tests.support import tiny_models

    model = tiny_models.build_tiny_model("svd")
    stats = node_class("CILStatisticsLoader").execute("initial_noise_512.safetensors", "interpolate", 1.0).result[0]
    noise, sigmas = node_class("CILAnalyticInit").execute(model, stats, 100.0, 25, "auto", 3, "fixed").result
    latent = {"samples": torch.zeros(4, 4, 8, 8)}
    n = noise.generate_noise(latent)
    assert n.shape == latent["samples"].shape and n.dtype == torch.float32 and n.device.type == "cpu"
    assert len(sigmas) == 26 and float(sigmas[0]) == 100.0
    assert noise.seed == 3


# ------------------------------------------------------------------------------------------ TimeNoise

def _svd_conditioning():
    from tests.support import tiny_models
    return tiny_models.tiny_conditioning("svd", frames=4, h=8, w=8)


def _timenoise(positive, negative, **kw):
    args = dict(preset="fixed_beta", beta=2.0, t=0.0, quantile=0.5, beta_m=100.0, a=5.0, mu_max=1.0,
                form="preset_default", target="concat_latent", apply_to="positive", frames=0, seed=1,
                set_augmentation_level=False)
    args.update(kw)
    return node_class("CILTimeNoiseConditioning").execute(positive, negative, **args).result


def test_timenoise_scalar_offset_reaches_the_svd_model(comfy):
    """SVD-CIL's form: one offset per sample on the unscaled concat latent; the model sees it in c_concat."""
    from tests.support import tiny_models

    positive, negative, latent = _svd_conditioning()
    original = copy.deepcopy(positive)
    level = 15.0 / (1.0 + math.exp(1.0))  # SVD preset median at t = 0: β_m·sigmoid(μ(0) = −1)
    pos, neg = _timenoise(positive, negative, preset="SVD", set_augmentation_level=True)
    assert neg is negative and torch.equal(positive[0][1]["concat_latent_image"],
                                           original[0][1]["concat_latent_image"]), "inputs are not modified"
    offset = pos[0][1]["concat_latent_image"] - positive[0][1]["concat_latent_image"]
    assert float(offset.std()) < 1e-5
    n = torch.randn(1, generator=torch.Generator().manual_seed(1))
    assert float(offset.flatten()[0]) == pytest.approx(level * float(n), rel=1e-5)
    assert pos[0][1]["augmentation_level"] == pytest.approx(level)

    model = tiny_models.build_tiny_model("svd")
    patched, seen = capturing(model, lambda args: args["c"]["c_concat"].detach().clone())
    sigmas = tiny_models.tiny_sigmas(model, steps=2).float()
    out = sample_advanced(patched, call_node("RandomNoise", noise_seed=0)[0], sigmas, pos, neg, latent, 2.0)
    halves = seen[0].chunk(2)  # the CFG batch holds both branches (in ComfyUI's order)
    zero = [h for h in halves if float(h.abs().max()) == 0]
    cond = [h for h in halves if float(h.abs().max()) > 0]
    assert len(zero) == 1 and len(cond) == 1  # SVD's negative keeps its zero image
    torch.testing.assert_close(cond[0], pos[0][1]["concat_latent_image"].expand_as(cond[0]), atol=1e-6, rtol=0)
    assert torch.isfinite(out["samples"]).all()


def test_timenoise_per_frame_both_branches_and_embedding(comfy):
    positive, negative, latent = _svd_conditioning()
    negative = [[negative[0][0], dict(negative[0][1], concat_latent_image=positive[0][1]["concat_latent_image"])]]
    pos, neg = _timenoise(positive, negative, beta=0.5, form="per_element", target="both",
                          apply_to="positive_and_negative", frames=4, seed=9, latent=latent)
    concat = pos[0][1]["concat_latent_image"]
    assert concat.shape[0] == 4 and not torch.equal(concat[0], concat[1])  # independent noise per frame
    torch.testing.assert_close(neg[0][1]["concat_latent_image"], concat)  # the same noise in both branches
    d = concat - positive[0][1]["concat_latent_image"]
    assert float(d.std()) == pytest.approx(0.5, rel=0.15)
    assert not torch.equal(pos[0][0], positive[0][0])  # image embedding noised too
    assert "augmentation_level" not in pos[0][1] or pos[0][1]["augmentation_level"] == positive[0][1].get(
        "augmentation_level")


def test_timenoise_zero_level_is_a_passthrough(comfy):
    positive, negative, _ = _svd_conditioning()
    pos, neg = _timenoise(positive, negative, beta=0.0)
    assert pos is positive and neg is negative


def test_timenoise_needs_a_concat_image(comfy):
    ctx = torch.zeros(1, 4, 32)
    with pytest.raises(ValueError, match=r"target concat_latent: positive \(entry 0\) carries no conditional image "
                                         r"latent \(concat_latent_image\); this conditioning supports no target"):
        _timenoise([[ctx, {}]], [[ctx, {}]])
    positive, negative, _ = _svd_conditioning()
    with pytest.raises(ValueError, match="frames = 3 but positive's concat_latent_image has 2 images"):
        _timenoise([[positive[0][0], dict(positive[0][1],
                                          concat_latent_image=torch.zeros(2, 4, 8, 8))]], negative,
                   form="per_element", frames=3, latent={"samples": torch.zeros(3, 4, 8, 8)})


# ------------------------------------------------------------------------------------------ in a real prompt

@pytest.fixture(scope="module")
def ai_prompt(comfy):
    import nodes

    from scripts.workflow_api import defs_from_input_types, to_api_prompt
    from tests.support.workflows import WORKFLOWS, load, provide_tiny_files, shrink_for_cpu

    wf = load(next(p for p in WORKFLOWS if p.stem == "svd_analytic_init"))
    provide_tiny_files(wf, comfy.checkpoints, comfy.input_dir)
    prompt = to_api_prompt(wf, lambda k: defs_from_input_types(nodes.NODE_CLASS_MAPPINGS[k].INPUT_TYPES()))
    return shrink_for_cpu(prompt)


def _node_of(prompt, class_type):
    return next(n for n in prompt.values() if n["class_type"] == class_type)


def test_prompt_M_outside_range(comfy, ai_prompt):
    prompt = copy.deepcopy(ai_prompt)
    _node_of(prompt, "CILAnalyticInit")["inputs"]["M"] = 800.0
    assert "M = 800 is outside (0, 700]" in comfy.error_of(prompt)


def test_prompt_negative_variance(comfy, ai_prompt):
    prompt = copy.deepcopy(ai_prompt)
    _node_of(prompt, "CILStatistics")["inputs"]["variance"] = -0.5
    msg = comfy.error_of(prompt)
    assert "variance" in msg and ("validation" in msg or "negative" in msg)
