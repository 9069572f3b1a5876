"""Test-only ComfyUI custom node pack: loads tiny random-weight checkpoints through core's loaders.

On import it wraps ``comfy.sd.load_checkpoint_guess_config`` (core's CheckpointLoaderSimple,
unCLIPCheckpointLoader and ImageOnlyCheckpointLoader call it as a module attribute at run time), so a
safetensors file whose metadata has ``cdi2v_tiny`` is built by ``tiny_models.load_tiny_checkpoint`` from
ComfyUI's own classes. Likewise ``comfy.sd.load_clip`` (CLIPLoader) for tiny text encoder files and
``comfy.sd.VAE`` (VAELoader) for state dicts with the tiny-VAE marker key, and ``comfy.clip_vision.load``
(CLIPVisionLoader) for tiny clip-vision files. Every other file goes to the real
loader unchanged. Registers test-only nodes (V3 entry point, no NODE_CLASS_MAPPINGS): CDI2VTestNaNImage.
"""

import functools
import json
import importlib.util
import os
import sys

import comfy.clip_vision
import comfy.sd


def _load_tiny_models():
    """Import ../tiny_models.py by file path (the pack is usually symlinked into a custom_nodes dir, so the
    link is resolved first). tests/support is deliberately NOT put on sys.path: its server.py would shadow
    ComfyUI's ``server`` module (core's ``from server import PromptServer``)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "tiny_models.py")
    path = os.path.realpath(path)
    for name in ("tests.support.tiny_models", "cdi2v_tests_tiny_models"):  # reuse the tests' copy if loaded
        module = sys.modules.get(name)
        if module is not None and os.path.realpath(getattr(module, "__file__", "")) == path:
            return module
    name = "cdi2v_tests_tiny_models"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


tiny_models = _load_tiny_models()


def _install():
    real = comfy.sd.load_checkpoint_guess_config
    if getattr(real, "_cdi2v_tiny_wrapped", False):  # imported twice: keep a single wrapper
        return

    @functools.wraps(real)
    def load_checkpoint_guess_config(ckpt_path, *args, **kwargs):
        if tiny_models.tiny_checkpoint_metadata(ckpt_path) is not None:
            return tiny_models.load_tiny_checkpoint(ckpt_path, *args, **kwargs)
        return real(ckpt_path, *args, **kwargs)

    load_checkpoint_guess_config._cdi2v_tiny_wrapped = True
    load_checkpoint_guess_config._cdi2v_tiny_real = real
    comfy.sd.load_checkpoint_guess_config = load_checkpoint_guess_config

    real_clip = comfy.sd.load_clip

    @functools.wraps(real_clip)
    def load_clip(ckpt_paths, embedding_directory=None, *args, **kwargs):
        if len(ckpt_paths) == 1 and tiny_models.tiny_checkpoint_metadata(ckpt_paths[0]) is not None:
            return tiny_models.load_tiny_text_encoder(ckpt_paths[0], embedding_directory)
        return real_clip(ckpt_paths, embedding_directory, *args, **kwargs)

    comfy.sd.load_clip = load_clip

    class VAE(comfy.sd.VAE):
        def __init__(self, sd=None, device=None, config=None, dtype=None, **kwargs):
            if sd is not None and config is None and tiny_models.TINY_VAE_KEY in sd:
                sd = {k: v for k, v in sd.items() if k != tiny_models.TINY_VAE_KEY}
                config = {"params": json.loads(json.dumps(tiny_models.VAE_CONFIG))}
            super().__init__(sd=sd, device=device, config=config, dtype=dtype, **kwargs)

    comfy.sd.VAE = VAE

    real_clip_vision = comfy.clip_vision.load

    @functools.wraps(real_clip_vision)
    def load_clip_vision(ckpt_path):
        if tiny_models.tiny_checkpoint_metadata(ckpt_path) is not None:
            return tiny_models.load_tiny_clip_vision(ckpt_path)
        return real_clip_vision(ckpt_path)

    comfy.clip_vision.load = load_clip_vision


_install()
for _family in tiny_models.family_modules():  # tests/support/tiny_family_*.py: Wan, LTX, HunyuanVideo, Cosmos
    if hasattr(_family, "install_loaders"):
        _family.install_loaders()


async def comfy_entrypoint():
    from comfy_api.latest import ComfyExtension

    class TinyLoaderPack(ComfyExtension):
        async def get_node_list(self):
            from .nan_image import CDI2VTestNaNImage

            return [CDI2VTestNaNImage]

    return TinyLoaderPack()
