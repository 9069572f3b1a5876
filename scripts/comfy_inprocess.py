"""Run prompts through a real, in-process ComfyUI (PromptExecutor) on CPU.

ComfyUI needs ``args.cpu`` set before ``comfy.model_management`` is imported, and loads custom
nodes from an extra-model-paths YAML whose ``custom_nodes`` folder holds symlinks to this pack and
to the test-only tiny-model loader pack (the weight-loading substitution).
"""
from __future__ import annotations

import asyncio
import inspect
import sys
import uuid
from pathlib import Path

from .comfy_locate import PACK_ROOT

PACK_NAME = "consistent_dynamic_i2v"
TINY_LOADER = PACK_ROOT / "tests" / "support" / "tiny_loader_pack"


class FakeServer:
    """The slice of PromptServer that PromptExecutor talks to."""

    def __init__(self):
        self.client_id = None
        self.last_node_id = None
        self.last_prompt_id = None
        self.sockets_metadata = {}
        self.messages = []

    def send_sync(self, event, data, sid=None):
        self.messages.append((event, data))


class PromptError(AssertionError):
    pass


class InProcessComfy:
    def __init__(self, comfy_root: Path, work: Path, own_folders: bool = False):
        """``own_folders``: keep ComfyUI's input/output folders (the demo); else private ones (tests)."""
        self.root = comfy_root
        self.work = work
        self.own_folders = own_folders
        self.checkpoints = work / "models" / "checkpoints"
        self.input_dir = comfy_root / "input" if own_folders else work / "input"
        self.output_dir = comfy_root / "output" if own_folders else work / "output"

    def boot(self) -> "InProcessComfy":
        sys.path.insert(0, str(self.root))
        # first: some ComfyUI modules later put comfy/ on sys.path, where comfy/utils.py shadows utils/
        from utils.extra_config import load_extra_path_config
        import comfy.cli_args

        comfy.cli_args.args.cpu = True
        import comfy.model_management  # noqa: F401  (after args.cpu)
        import folder_paths
        import nodes

        custom = self.work / "custom_nodes"
        for d in (custom, self.checkpoints, self.input_dir, self.output_dir):
            d.mkdir(parents=True, exist_ok=True)
        links = [("cdi2v_tiny_loader", TINY_LOADER)]
        if PACK_ROOT.parent.resolve() != (self.root / "custom_nodes").resolve():  # else ComfyUI loads it anyway
            links.append((PACK_NAME, PACK_ROOT))
        for name, target in links:
            link = custom / name
            if not link.exists():
                link.symlink_to(target, target_is_directory=True)
        yaml = self.work / "extra_model_paths.yaml"
        yaml.write_text(f"cdi2v_tests:\n  base_path: {self.work}\n  custom_nodes: custom_nodes\n"
                        f"  checkpoints: models/checkpoints\n  diffusion_models: models/diffusion_models\n"
                        f"  text_encoders: models/text_encoders\n  vae: models/vae\n"
                        f"  clip_vision: models/clip_vision\n  cil_statistics: models/cil_statistics\n")
        load_extra_path_config(str(yaml))
        if not self.own_folders:
            folder_paths.set_input_directory(str(self.input_dir))
            folder_paths.set_output_directory(str(self.output_dir))
        asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
        self.nodes = nodes
        return self

    def run(self, prompt: dict) -> dict:
        """Validate and execute an API prompt; return ``history_result["outputs"]``."""
        import execution

        prompt_id = str(uuid.uuid4())
        valid = asyncio.run(execution.validate_prompt(prompt_id, prompt, None))
        if not valid[0]:
            raise PromptError(f"prompt failed validation: {valid[1]} {valid[3]}")
        kwargs = {"cache_type": execution.CacheType.CLASSIC}
        params = inspect.signature(execution.PromptExecutor.__init__).parameters
        if "cache_args" in params:  # 0.8
            kwargs["cache_args"] = {"lru": 0, "ram": 0}
        else:  # 0.3.64
            kwargs["cache_size"] = 0
        server = FakeServer()
        executor = execution.PromptExecutor(server, **kwargs)
        executor.execute(prompt, prompt_id, {}, valid[2])
        if not executor.success:
            errors = [d for e, d in executor.status_messages if e == "execution_error"]
            raise PromptError(f"prompt failed: {errors or executor.status_messages}")
        return executor.history_result["outputs"]

    def error_of(self, prompt: dict) -> str:
        """Run a prompt that must fail; return the exception message ComfyUI reports."""
        try:
            self.run(prompt)
        except PromptError as exc:
            return str(exc)
        raise AssertionError("the prompt was expected to fail but succeeded")
