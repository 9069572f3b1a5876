"""TimeNoise Conditioning through the real server: it reaches the pack's DynamiCrafter / VideoCrafter1 image, refuses
text-only (LTXV) conditioning and a frames count that does not match the video, each with the input and the fix."""
from __future__ import annotations

import copy

from tests.api.conftest import edited, node_of

TIMENOISE = dict(preset="fixed_beta", beta=1.0, t=0.0, quantile=0.5, beta_m=100.0, a=5.0, mu_max=1.0,
                 form="preset_default", target="concat_latent", apply_to="positive", frames=0, seed=0,
                 set_augmentation_level=False)


def id_of(prompt: dict, class_type: str) -> str:
    return next(k for k, n in prompt.items() if n["class_type"] == class_type)


def with_timenoise(prompt: dict, **inputs) -> dict:
    """The DynamiCrafter / VideoCrafter1 graph with TimeNoise Conditioning between its conditioning and the
    sampler (KSampler or CFGGuider)."""
    out = copy.deepcopy(prompt)
    cond = id_of(out, "CILDynamiCrafterConditioning")
    for node in out.values():
        for name, value in node["inputs"].items():
            if value in ([cond, 0], [cond, 1]):
                node["inputs"][name] = ["900", value[1]]
    out["900"] = {"class_type": "CILTimeNoiseConditioning",
                  "inputs": dict(TIMENOISE, positive=[cond, 0], negative=[cond, 1], **inputs)}
    return out


def text_only(prompt: dict, **inputs) -> dict:
    """LTXV-style conditioning (text + frame rate from LTXVConditioning) into TimeNoise Conditioning."""
    out = copy.deepcopy(prompt)
    cond = node_of(out, "CILDynamiCrafterConditioning")["inputs"]
    out["901"] = {"class_type": "LTXVConditioning",
                  "inputs": {"positive": cond["positive"], "negative": cond["negative"], "frame_rate": 25.0}}
    out["900"] = {"class_type": "CILTimeNoiseConditioning",
                  "inputs": dict(TIMENOISE, positive=["901", 0], negative=["901", 1], **inputs)}
    cond["positive"], cond["negative"] = ["900", 0], ["900", 1]
    return out


def test_timenoise_reaches_dynamicrafter_and_videocrafter1_and_refuses_text_and_wrong_frames(api):
    dc, vc = api.prompt("dynamicrafter_cil_512"), api.prompt("videocrafter1_cil_512")
    for prompt in (with_timenoise(dc, preset="DynamiCrafter", target="both"),
                   with_timenoise(dc, target="concat_latent", frames=4),
                   with_timenoise(vc, preset="VideoCrafter1", target="image_embedding")):
        assert api.run(prompt)["status"]["status_str"] == "success"

    msg = api.error_of(with_timenoise(vc, preset="VideoCrafter1", target="concat_latent"))
    assert "target concat_latent with preset VideoCrafter1" in msg and "set target to image_embedding" in msg
    msg = api.error_of(with_timenoise(vc, target="concat_latent"))  # fixed_beta: the model itself refuses
    assert "VideoCrafter1 takes the image only through its CLIP image tokens" in msg, msg
    msg = api.error_of(with_timenoise(dc, frames=7))
    assert "frames = 7 but the video has 4 frames (CIL DynamiCrafter Conditioning's length): set frames to 4" in msg

    msg = api.error_of(text_only(dc, target="image_embedding"))
    assert msg.startswith("CILTimeNoiseConditioning") and "target image_embedding: positive (entry 0) carries no " \
        "image embedding, only text conditioning (never noised); this conditioning supports no target" in msg, msg
    assert "CIL DynamiCrafter Conditioning" in msg

    svd = api.prompt("svd_analytic_init")
    timenoise = id_of(svd, "CILTimeNoiseConditioning")
    latent = [id_of(svd, "SVD_img2vid_Conditioning"), 2]  # a 4-frame video on CPU
    for frames in (7, 4096):
        msg = api.error_of(edited(svd, "CILTimeNoiseConditioning", frames=frames, beta=1.0, latent=latent))
        assert f"frames = {frames} but the video has 4 frames (the latent): set frames to 4, or 0" in msg, msg
    msg = api.error_of(edited(svd, "CILTimeNoiseConditioning", frames=7))
    assert "frames = 7: positive's conditioning does not say how many frames the video has: connect latent" in msg
    ok = edited(svd, "CILTimeNoiseConditioning", frames=4, beta=1.0, form="per_element", latent=latent)
    assert api.run(ok)["status"]["status_str"] == "success" and timenoise in ok
