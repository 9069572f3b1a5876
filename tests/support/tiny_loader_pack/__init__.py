"""Test-only ComfyUI custom node pack: loads tiny random-weight checkpoints through core's loaders.

On import it wraps ``comfy.sd.load_checkpoint_guess_config`` (core's CheckpointLoaderSimple,
unCLIPCheckpointLoader and ImageOnlyCheckpointLoader call it as a module attribute at run time), so a
safetensors file whose metadata has ``cdi2v_tiny`` is built by ``tiny_models.load_tiny_checkpoint`` from
ComfyUI's own classes. Every other file goes to the real loader unchanged. Registers no nodes (V3 entry point,
no NODE_CLASS_MAPPINGS).
"""

import functools
import os
import sys

import comfy.sd

# The pack is usually symlinked into a custom_nodes dir: resolve the link to find tests/support.
_SUPPORT_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
if _SUPPORT_DIR not in sys.path:
    sys.path.insert(0, _SUPPORT_DIR)

import tiny_models  # noqa: E402


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


_install()


async def comfy_entrypoint():
    from comfy_api.latest import ComfyExtension

    class TinyLoaderPack(ComfyExtension):
        async def get_node_list(self):
            return []

    return TinyLoaderPack()
