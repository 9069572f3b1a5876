"""Call registered ComfyUI node classes directly (core nodes are V1 in 0.3.64 and V3 in 0.8)."""


def node_class(name):
    import nodes

    return nodes.NODE_CLASS_MAPPINGS[name]


def call_node(name, **kwargs) -> tuple:
    """Run a node class's own code: V3 ``execute`` or V1 ``FUNCTION``; returns the output tuple."""
    cls = node_class(name)
    if hasattr(cls, "define_schema"):
        return cls.execute(**kwargs).args
    return getattr(cls(), cls.FUNCTION)(**kwargs)


def pack_module(name: str):
    """A submodule of this pack as ComfyUI loaded it (e.g. ``consisti2v.model``; relative imports need the pack)."""
    from .tiny_models import pack_module as find

    return find(name)


def capturing(model, pick):
    """A clone of ``model`` whose every UNet call records ``pick(args)`` first; returns (clone, records)."""
    seen = []

    def capture(apply_model, args):
        seen.append(pick(args))
        return apply_model(args["input"], args["timestep"], **args["c"])

    patched = model.clone()
    patched.set_model_unet_function_wrapper(capture)
    return patched, seen


def sample_advanced(model, noise, sigmas, positive, negative, latent, cfg):
    """Core SamplerCustomAdvanced with a CFGGuider and the euler sampler; returns its output LATENT."""
    import comfy.samplers

    guider = comfy.samplers.CFGGuider(model)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)
    return call_node("SamplerCustomAdvanced", noise=noise, guider=guider,
                     sampler=comfy.samplers.sampler_object("euler"), sigmas=sigmas, latent_image=latent)[0]
