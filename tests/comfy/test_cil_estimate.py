"""CIL Estimate Statistics in a real in-process ComfyUI: streaming float64 statistics equal the one-shot ones, adding
clips to a file equals one run over all clips, ComfyUI's interrupt stops it without writing, a user's file is never
changed, files round-trip through Load CIL Statistics into Analytic-Init, statistics for another family or channel
count are refused with the input and the fix; on a causal video VAE (tiny Wan 2.1) E[x0] from the image is the
encoding of a static video, not one latent frame repeated; Analytic-Init's M on a shifted flow schedule."""
from __future__ import annotations

import copy
import uuid
from pathlib import Path

import pytest
import torch

from tests.support.node_calls import call_node, node_class

pytestmark = pytest.mark.comfy

SD_SCALE = 0.18215  # SD latent format (SVD): model space = raw latent x 0.18215


@pytest.fixture()
def folder(comfy):
    """The models/cil_statistics folder the node writes into: the test session's, never the ComfyUI checkout's."""
    import folder_paths

    path = Path(folder_paths.get_folder_paths("cil_statistics")[0])
    assert path.resolve().is_relative_to(comfy.work.resolve()), path
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def svd(comfy):
    from tests.support import tiny_models
    return tiny_models.build_tiny_model("svd")


def fresh(stem="est"):
    return f"{stem}_{uuid.uuid4().hex[:8]}.safetensors"


def estimate(model, file, latents=None, images=None, vae=None, add_to_file=False, frames_per_clip=0):
    """Run the node as ComfyUI's executor calls an is_input_list node: every input a list."""
    kw = {"model": [model], "file": [file], "add_to_file": [add_to_file], "frames_per_clip": [frames_per_clip]}
    if latents is not None:
        kw["latent"] = [{"samples": t} for t in latents]
    if images is not None:
        kw["image"] = list(images)
    if vae is not None:
        kw["vae"] = [vae]
    return node_class("CILEstimateStatistics").execute(**kw).result


def raw_clips(n, frames=3, c=4, h=5, w=6, seed=0, offset=0.0):
    """``n`` SVD-style raw latent clips [frames, C, h, w]."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(frames, c, h, w, generator=g)
    return [offset + base + 0.5 * torch.randn(frames, c, h, w, generator=g) for _ in range(n)]


def one_shot(clips):
    """float64 E[x0] [C, F, h, w] and Tr(Cov)/d of SVD-style raw clips, all at once."""
    z = torch.stack([c.double().permute(1, 0, 2, 3) * SD_SCALE for c in clips])
    return z.mean(0), float(z.var(0, unbiased=False).mean())


def file_state(path):
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())  # noqa: SIM118


# ------------------------------------------------------------------------------------------ statistics

def test_streaming_equals_one_shot_float64(svd, folder):
    """Clips far from zero (offset 3000): Welford in float64 equals the one-shot float64 estimate; a float32 sum of
    squares loses the variance there. Two LATENT items, one split into clips by frames_per_clip."""
    clips = raw_clips(7, offset=3000.0)
    name = fresh()
    stats, report = estimate(svd, name, latents=[torch.cat(clips[:4]), torch.cat(clips[4:])], frames_per_clip=3)
    mean, var = one_shot(clips)
    torch.testing.assert_close(stats.mean, mean.float(), rtol=1e-6, atol=0)
    assert stats.variance == pytest.approx(var, rel=1e-9) and var == pytest.approx(0.25 * SD_SCALE ** 2, rel=0.3)
    naive = torch.stack([c.permute(1, 0, 2, 3) * SD_SCALE for c in clips])  # float32 Σz²/n − E²
    assert abs(float(((naive ** 2).mean(0) - naive.mean(0) ** 2).mean()) - var) > 0.1 * var
    tensors, meta = file_state(folder / name)
    torch.testing.assert_close(tensors["cdi2v_mean_f64"], mean, rtol=1e-12, atol=1e-12)
    assert meta["family"] == "svd" and meta["clips"] == "7" and stats.clips == 7 and stats.family == "svd"
    assert (meta["channels"], meta["latent_frames"], meta["height"], meta["width"]) == ("4", "3", "5", "6")
    assert tensors["Expectation_X0"].shape == (1, 4, 3, 5, 6) and tensors["Expectation_X0"].dtype == torch.float32
    assert "7 clips (7 added, 0 already in it)" in report and "SVD / SVD-XT" in report


def test_adding_clips_equals_one_run_over_all(svd, folder):
    clips = raw_clips(6, seed=1)
    first, second, whole = fresh("part"), fresh("whole"), None
    estimate(svd, first, latents=clips[:3])
    path = folder / first
    before = path.read_bytes()
    msg = _error(svd, first, latents=clips[3:])  # add_to_file off: new clips for an existing file refused
    assert f"file: '{first}' already exists" in msg and "turn add_to_file on" in msg
    assert path.read_bytes() == before
    stats, report = estimate(svd, first, latents=clips[3:] + [clips[0]], add_to_file=True)  # clips[0] is in it
    assert "6 clips (3 added, 1 already in it)" in report
    whole, _ = estimate(svd, second, latents=clips)
    torch.testing.assert_close(stats.mean, whole.mean, rtol=0, atol=1e-6)
    assert stats.variance == pytest.approx(whole.variance, rel=1e-12) and stats.clips == whole.clips == 6
    a, b = file_state(path)[0], file_state(folder / second)[0]
    torch.testing.assert_close(a["cdi2v_m2_f64"], b["cdi2v_m2_f64"], rtol=1e-12, atol=1e-12)
    # the same clips again, add_to_file off: nothing new, the file's statistics are returned and it is not rewritten
    written = path.stat().st_mtime_ns, path.read_bytes()
    again, report = estimate(svd, first, latents=clips)
    assert "0 added, 6 already in it" in report and again.variance == stats.variance
    assert (path.stat().st_mtime_ns, path.read_bytes()) == written


def test_interrupt_stops_without_writing(svd, folder):
    import comfy.model_management as mm
    import comfy.utils

    clips = raw_clips(6, seed=2)
    name = fresh()
    estimate(svd, name, latents=clips[:2])
    before = (folder / name).read_bytes()
    seen = []

    def cancel_after_two(value, total, preview, node_id=None):  # the user presses Cancel while clips stream
        seen.append(value)
        if value == 2:
            mm.interrupt_current_processing(True)

    old = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(cancel_after_two)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            estimate(svd, name, latents=clips[2:], add_to_file=True)
        with pytest.raises(mm.InterruptProcessingException):
            estimate(svd, fresh("never"), latents=clips[2:])
    finally:
        comfy.utils.set_progress_bar_global_hook(old)
        mm.interrupt_current_processing(False)
    assert seen[:2] == [1, 2] and 4 not in seen  # stopped at the next clip, progress was reported per clip
    assert (folder / name).read_bytes() == before
    assert not [p for p in folder.iterdir() if p.name.startswith("never_") or ".cdi2v-partial-" in p.name]


def _error(model, file, **kw):
    with pytest.raises(ValueError) as err:
        estimate(model, file, **kw)
    return str(err.value)


def test_user_files_are_never_changed(svd, folder):
    from safetensors.torch import save_file

    user = folder / fresh("user")
    save_file({"Expectation_X0": torch.zeros(1, 4, 3, 5, 6), "Tr_Cov_d": torch.tensor(0.8)}, str(user))
    before = user.read_bytes()
    for add in (False, True):
        msg = _error(svd, user.name, latents=raw_clips(3), add_to_file=add)
        assert f"file: '{user.name}' exists in" in msg and "was not written by CIL Estimate Statistics" in msg
        assert "pick a new file name" in msg
    assert user.read_bytes() == before
    assert "must be a file name" in _error(svd, "../escape", latents=raw_clips(3))
    # a file of this node whose running sums went bad (NaN) takes no more clips and is left as it is
    ours = folder / fresh("ours")
    estimate(svd, ours.name, latents=raw_clips(3))
    tensors, meta = file_state(ours)
    tensors["cdi2v_m2_f64"][0, 0, 0, 0] = float("nan")
    save_file(tensors, str(ours), metadata=meta)
    before = ours.read_bytes()
    msg = _error(svd, ours.name, latents=raw_clips(2, seed=4), add_to_file=True)
    assert "was written by CIL Estimate Statistics but its running sums hold NaN" in msg and "new file name" in msg
    assert ours.read_bytes() == before
    assert "was not written" in _error(svd, user.stem, latents=raw_clips(3))  # '.safetensors' is added


def test_bad_clips_are_refused_with_the_input_and_the_fix(svd, folder):
    clips = raw_clips(3)
    clips[1] = clips[1].clone()
    clips[1][0, 0, 0, 0] = float("nan")
    msg = _error(svd, fresh(), latents=clips)
    assert "latent (item 1, clip 0) holds 1 NaN" in msg
    msg = _error(svd, fresh(), latents=raw_clips(2) + raw_clips(1, h=4))
    assert "latent (item 2, clip 0) is a 4-channel 3-frame 4x6 latent but the first clip 4-channel 3-frame 5x6" in msg
    assert "same size and frame count" in msg
    msg = _error(svd, fresh(), latents=raw_clips(2, c=16))
    assert "latent gives 16 latent channels but the model samples 4: encode the clips with this model's VAE" in msg
    assert "only 1 clip in all" in _error(svd, fresh(), latents=raw_clips(1) * 2)  # a duplicate counts once
    assert "not a multiple of 2" in _error(svd, fresh(), latents=[torch.cat(raw_clips(1))], frames_per_clip=2)
    assert "no clips" in _error(svd, fresh())
    assert "vae is not" in _error(svd, fresh(), images=[torch.rand(2, 16, 16, 3)])


def test_round_trip_through_loader_and_family_checks(comfy, svd, folder):
    from tests.support import tiny_models

    name = fresh()
    made, _ = estimate(svd, name, latents=raw_clips(4, seed=5))
    stats = node_class("CILStatisticsLoader").execute(name, "interpolate", 1.0).result[0]
    torch.testing.assert_close(stats.mean, made.mean, rtol=0, atol=0)
    assert stats.variance == pytest.approx(made.variance, rel=1e-6) and (stats.family, stats.clips) == ("svd", 4)
    noise, sigmas = node_class("CILAnalyticInit").execute(svd, stats, 100.0, 5, "auto", 0, "fixed").result
    latent = {"samples": torch.zeros(4, 4, 8, 8)}
    assert noise.generate_noise(latent).shape == (4, 4, 8, 8) and float(sigmas[0]) == 100.0

    wan = tiny_models.build_tiny_model("wan")
    with pytest.raises(ValueError, match=rf"statistics: statistics_file '{name}' was estimated for SVD / SVD-XT "
                                         r"\(family 'svd'\) but the model is Wan 2.1 / 2.2 14B \(family 'wan21'\).*"
                                         "CIL Estimate Statistics on your clips with this model"):
        node_class("CILAnalyticInit").execute(wan, stats, 900.0, 5, "auto", 0, "fixed")
    # a file of an unknown ('generic') family: the channel count still catches it
    eps = tiny_models.build_tiny_model("eps")
    generic = fresh("generic")
    estimate(eps, generic, latents=raw_clips(3))
    gstats = node_class("CILStatisticsLoader").execute(generic, "interpolate", 1.0).result[0]
    assert gstats.family == "generic"
    with pytest.raises(ValueError, match="statistics: statistics_file .* has 4 latent channels but the model samples "
                                         "16: use statistics estimated with this model's VAE"):
        node_class("CILAnalyticInit").execute(wan, gstats, 900.0, 5, "auto", 0, "fixed")
    # adding clips made with another model's family to the file
    msg = _error(eps, name, latents=raw_clips(2, seed=9), add_to_file=True)
    assert f"file: '{name}' holds statistics for SVD / SVD-XT (family 'svd') but the model is other model" in msg


def test_analytic_init_M_on_a_shifted_flow_schedule(comfy):
    """Wan (flow, shift 8): M is t·1000 before the shift: σ_M = 8t / (1 + 7t); beyond 1000 refused with the range."""
    from tests.support import tiny_models

    wan = tiny_models.build_tiny_model("wan")
    stats = node_class("CILStatistics").execute(0.5, "interpolate", None).result[0]
    _, sigmas = node_class("CILAnalyticInit").execute(wan, stats, 900.0, 4, "auto", 0, "fixed").result
    t = 0.9
    assert float(sigmas[0]) == pytest.approx(8 * t / (1 + 7 * t), rel=1e-6) and float(sigmas[-1]) == 0.0
    with pytest.raises(ValueError, match=r"M = 1000.5 is outside \(0, 1000\]: for this model M is a timestep in "
                                         r"\(0, 1000\] on the flow model's schedule before its shift"):
        node_class("CILAnalyticInit").execute(wan, stats, 1000.5, 4, "auto", 0, "fixed")


# ------------------------------------------------------------------------------------- causal video VAE

@pytest.fixture(scope="module")
def wan_parts(comfy):
    from tests.support import tiny_family_wan, tiny_models

    image = torch.rand(1, 16, 16, 3, generator=torch.Generator().manual_seed(7))
    vae = tiny_family_wan.build_tiny_vae("wan21")  # the tiny Wan 2.1 VAE on ComfyUI 0.8 and 0.3.64
    assert vae.latent_channels == 16
    return tiny_models.build_tiny_model("wan"), vae, image


def test_image_mean_on_a_causal_vae_is_the_static_video_encoding(wan_parts):
    model, vae, image = wan_parts
    static_video = call_node("ConsistI2VStaticLayout", image=image, frames=9)[0]  # 4k+1 frames -> 3 latent frames
    static = call_node("VAEEncode", pixels=static_video, vae=vae)[0]["samples"].detach()
    single = call_node("VAEEncode", pixels=image, vae=vae)[0]["samples"].detach()
    assert static.shape == (1, 16, 3, 2, 2) and single.shape == (1, 16, 1, 2, 2)
    torch.testing.assert_close(static[:, :, :1], single, rtol=1e-4, atol=1e-4)  # causal: frame 0 = the image alone
    replicated = single.expand(-1, -1, 3, -1, -1)
    gap = float((static[:, :, 1:] - replicated[:, :, 1:]).abs().max())
    assert gap > 0.05 * float(static.abs().max()), gap  # later latent frames encode 4 frames: not frame 0 again

    samples = torch.zeros(1, 16, 3, 2, 2)
    process_in = model.get_model_object("latent_format").process_in
    stats = node_class("CILStatistics").execute(0.8, "interpolate", {"samples": static}).result[0]
    noise, _ = node_class("CILAnalyticInit").execute(model, stats, 900.0, 4, "auto", 0, "fixed").result
    torch.testing.assert_close(noise.stats.mean_like(samples, process_in), process_in(static.clone()), rtol=0, atol=0)
    n = noise.generate_noise({"samples": samples})
    assert n.shape == samples.shape and bool(torch.isfinite(n).all())

    wrong = node_class("CILStatistics").execute(0.8, "interpolate", {"samples": single}).result[0]
    noise, _ = node_class("CILAnalyticInit").execute(model, wrong, 900.0, 4, "auto", 0, "fixed").result
    with pytest.raises(ValueError, match=r"E\[x0\] has 1 latent frame but the video has 3: .* repeating one latent "
                                         r"frame is not E\[x0\].*Static Layout \(frames = 9, i.e. 4k\+1\) -> VAE "
                                         "Encode -> CIL Statistics' mean_latent"):
        noise.generate_noise({"samples": samples})


def test_estimate_from_videos_with_the_wan_vae(wan_parts, folder):
    """IMAGE clips encoded one at a time with the model's VAE equal the statistics of their VAE Encode latents."""
    model, vae, _ = wan_parts
    g = torch.Generator().manual_seed(8)
    video = torch.rand(15, 16, 16, 3, generator=g)  # three clips of 5 frames (2 latent frames each)
    stats, report = estimate(model, fresh("wan"), images=[video], vae=vae, frames_per_clip=5)
    process_in = model.get_model_object("latent_format").process_in
    z = torch.stack([process_in(call_node("VAEEncode", pixels=video[i:i + 5], vae=vae)[0]["samples"].detach())[0].double()
                     for i in (0, 5, 10)])
    torch.testing.assert_close(stats.mean, z.mean(0).float(), rtol=1e-5, atol=1e-5)
    assert stats.variance == pytest.approx(float(z.var(0, unbiased=False).mean()), rel=1e-5)
    assert stats.family == "wan21" and tuple(stats.mean.shape) == (16, 2, 2, 2) and "3 clips" in report
    msg = _error(model, fresh("wan"), images=[video[:12]], vae=vae, frames_per_clip=4)
    assert "image (item 0, clip 0) has 4 frames: Wan 2.1 / 2.2 14B's causal video VAE encodes 4k+1 frames" in msg
    assert "set frames_per_clip to 1" in msg


def test_causal_resampling_keeps_latent_frame_0():
    from tests.support.node_calls import pack_module
    ai = pack_module("kernels.analytic_init")
    mean = torch.arange(3, dtype=torch.float32).reshape(1, 3, 1, 1).expand(2, 3, 2, 2) * 10  # frames 0, 10, 20
    out = ai.resample_mean(mean, 5, 2, 2, causal=True)
    torch.testing.assert_close(out[:, :, 0, 0], torch.tensor([[0.0, 10.0, 40 / 3, 50 / 3, 20.0]] * 2))
    assert ai.resample_mean(mean, 1, 2, 2, causal=True)[:, 0].eq(0).all()
    plain = ai.resample_mean(mean, 5, 2, 2)
    assert plain[0, :, 0, 0].tolist() == [0.0, 5.0, 10.0, 15.0, 20.0]


# ------------------------------------------------------------------------------------------ in a prompt

def test_estimate_then_load_then_analytic_init_in_prompts(comfy, folder):
    """Real executor: clips from a graph (an image and its inverse, SVD VAE) -> Estimate -> Analytic-Init; then the
    written file -> Load CIL Statistics -> Analytic-Init -> sampler."""
    import nodes
    from scripts.workflow_api import defs_from_input_types, to_api_prompt
    from tests.support.workflows import (
        WORKFLOWS,
        load,
        provide_tiny_files,
        shrink_for_cpu,
    )

    wf = load(next(p for p in WORKFLOWS if p.stem == "svd_analytic_init"))
    provide_tiny_files(wf, comfy.checkpoints, comfy.input_dir)
    base = shrink_for_cpu(to_api_prompt(wf, lambda k: defs_from_input_types(
        nodes.NODE_CLASS_MAPPINGS[k].INPUT_TYPES())))
    ids = {n["class_type"]: k for k, n in base.items()}
    name = fresh("graph")
    first = copy.deepcopy(base)
    first["900"] = {"class_type": "ImageInvert", "inputs": {"image": [ids["ImageScale"], 0]}}
    first["901"] = {"class_type": "ImageBatch", "inputs": {"image1": [ids["ImageScale"], 0], "image2": ["900", 0]}}
    first["902"] = {"class_type": "CILEstimateStatistics", "inputs": {
        "model": [ids["ImageOnlyCheckpointLoader"], 0], "file": name, "add_to_file": False, "frames_per_clip": 1,
        "image": ["901", 0], "vae": [ids["ImageOnlyCheckpointLoader"], 2]}}
    first[ids["CILAnalyticInit"]]["inputs"]["statistics"] = ["902", 0]
    out = comfy.run(first)
    assert "2 clips (2 added" in out["902"]["text"][0]
    meta = file_state(folder / name)[1]
    assert (meta["family"], meta["clips"], meta["latent_frames"]) == ("svd", "2", "1")

    second = copy.deepcopy(base)
    second["903"] = {"class_type": "CILStatisticsLoader", "inputs": {
        "statistics_file": name, "resample": "interpolate", "data_scale": 1.0}}
    second[ids["CILAnalyticInit"]]["inputs"]["statistics"] = ["903", 0]
    comfy.run(second)
