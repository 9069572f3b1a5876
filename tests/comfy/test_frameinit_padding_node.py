"""FrameInit Noise's temporal_padding through the node on tiny ComfyUI models: mirror by default, circular on
request, and the end of a camera-like layout kept out of frame 0 of the start state."""
import pytest
import torch

from tests.support.node_calls import node_class

pytestmark = pytest.mark.comfy

ARGS = (123, 850, "consisti2v_snr", "gaussian", 0.5, 0.5, 4, False, "pyoco_mixed", 1.0, False)


def _noise(model, layout, sigmas, *padding):
    return node_class("ConsistI2VFrameInitNoise").execute(model, {"samples": layout}, sigmas, *ARGS,
                                                          *padding).result[0]


@pytest.mark.parametrize("kind", ["svd", "wan"])
def test_padding_through_the_node(comfy, kind):
    import comfy.samplers
    from tests.support import tiny_models

    model = tiny_models.build_tiny_model(kind)
    latent = tiny_models.tiny_conditioning(kind, frames=9, h=8, w=8)[2]["samples"]
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", 4).float()
    t_axis = 0 if latent.ndim == 4 else 2
    # zero except the last frame: what the wrap carries into frame 0 is then the ghost alone
    layout = torch.zeros_like(latent)
    layout.narrow(t_axis, latent.shape[t_axis] - 1, 1).normal_(generator=torch.Generator().manual_seed(1))
    zero = torch.zeros_like(latent)

    default, circular = _noise(model, layout, sigmas), _noise(model, layout, sigmas, "circular")
    assert default.temporal_padding == "mirror" and circular.temporal_padding == "circular"
    # the layout's own part of the start state: the state minus the state of an all-zero layout
    base = _noise(model, zero, sigmas, "circular").state(latent)
    torch.testing.assert_close(_noise(model, zero, sigmas).state(latent), base, atol=1e-6, rtol=0)
    part = {name: n.state(latent) - base for name, n in (("mirror", default), ("circular", circular))}
    last = part["circular"].narrow(t_axis, latent.shape[t_axis] - 1, 1).norm()
    ghost = {name: float(p.narrow(t_axis, 0, 1).norm() / last) for name, p in part.items()}
    assert ghost["circular"] > 0.1 and ghost["mirror"] < 1e-3, ghost


def test_unknown_padding_is_refused_with_the_choices(comfy):
    import comfy.samplers
    from tests.support import tiny_models

    model = tiny_models.build_tiny_model("svd")
    latent = tiny_models.tiny_conditioning("svd", frames=4, h=8, w=8)[2]["samples"]
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", 4).float()
    with pytest.raises(ValueError, match="temporal_padding 'wrap' is unknown: use one of circular, reflect, mirror"):
        _noise(model, latent, sigmas, "wrap")
