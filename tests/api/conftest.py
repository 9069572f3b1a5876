"""The API tier: prompts sent to a real ComfyUI server through ``POST /prompt``, as a user's graph reaches it.

One server (``--cpu``) serves the whole session, with the tiny stand-ins of every model file and input image the
shipped workflows name. ``api.prompt(stem)`` gives a shipped workflow as an API prompt shrunk for CPU;
``api.run`` / ``api.error_of`` send a prompt and return its history entry / the error ComfyUI reports
(validation errors included); ``api.queue`` + ``api.wait`` + ``api.interrupt`` drive it by hand.
"""
from __future__ import annotations

import copy
import json
import time
import urllib.error

import pytest

from scripts.comfy_locate import find_comfyui, in_ci
from scripts.workflow_api import defs_from_input_types, to_api_prompt
from tests.support.pack_server import queue, wait_history, pack_server
from tests.support.workflows import WORKFLOWS, load, shrink_for_cpu

pytestmark = pytest.mark.api


class Api:
    def __init__(self, server):
        self.server = server
        self._info = None

    @property
    def object_info(self) -> dict:
        if self._info is None:
            self._info = self.server.get_json("/object_info")
        return self._info

    def prompt(self, stem: str) -> dict:
        """The shipped workflow ``workflows/<stem>.json`` as an API prompt, shrunk for CPU."""
        path = next(p for p in WORKFLOWS if p.stem == stem)
        info = self.object_info
        wf = load(path)
        return shrink_for_cpu(to_api_prompt(wf, lambda k: defs_from_input_types(info[k]["input"])), wf)

    def post(self, prompt: dict):
        """POST /prompt -> (HTTP status, body)."""
        return self.server.post_json("/prompt", {"prompt": prompt, "client_id": "cdi2v-api"})

    def queue(self, prompt: dict) -> str:
        return queue(self.server, prompt)

    def wait(self, prompt_id: str, timeout_s: float = 180.0) -> dict:
        """The history entry once the prompt ended (success, error or interrupted); fails on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                entry = self.server.get_json(f"/history/{prompt_id}").get(prompt_id)
            except (urllib.error.URLError, OSError, ValueError):
                entry = None
            if entry and (entry.get("status") or {}).get("completed") is not None \
                    and (entry.get("status") or {}).get("status_str"):
                return entry
            if self.server.proc.poll() is not None:
                pytest.fail(f"server died (rc {self.server.proc.poll()})\n{self.server.log_tail()}", pytrace=False)
            time.sleep(0.2)
        self.interrupt()
        pytest.fail(f"prompt {prompt_id} did not end in {timeout_s:.0f}s\n{self.server.log_tail()}", pytrace=False)

    def run(self, prompt: dict, timeout_s: float = 180.0) -> dict:
        """Send a prompt that must succeed; its history entry."""
        return wait_history(self.server, self.queue(prompt), timeout_s)

    def error_of(self, prompt: dict, timeout_s: float = 180.0) -> str:
        """Send a prompt that must fail; the text the user would see: the validation errors of a refused prompt,
        or the node type, exception type and message of an execution error."""
        status, body = self.post(prompt)
        if status != 200:
            return json.dumps(body) if not isinstance(body, str) else body
        entry = self.wait(body["prompt_id"], timeout_s)
        status = entry["status"]
        assert status["status_str"] == "error", f"the prompt was expected to fail but succeeded: {status}"
        for event, data in status.get("messages", []):
            if event == "execution_error":
                return f"{data.get('node_type')}: {data.get('exception_type')}: {data.get('exception_message')}"
        return json.dumps(status)

    def interrupt(self) -> None:
        self.server.post_json("/interrupt", {})
        self.server.post_json("/queue", {"clear": True})

    def started(self, prompt_id: str, timeout_s: float = 60.0) -> None:
        """Wait until the server is running the prompt."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if prompt_id in [item[1] for item in self.server.get_json("/queue").get("queue_running", [])]:
                return
            time.sleep(0.05)
        pytest.fail(f"prompt {prompt_id} did not start in {timeout_s:.0f}s\n{self.server.log_tail()}",
                    pytrace=False)


@pytest.fixture(scope="session")
def api(tmp_path_factory):
    root = find_comfyui()
    if root is None:
        msg = "API TIER NOT RUN: ComfyUI not found (set COMFYUI_PATH or export it into ~/comfy/ComfyUI)"
        if in_ci():
            pytest.fail(msg + " (CI=true, so this FAILS instead of skipping)", pytrace=False)
        print("\n" + "!" * 100 + "\n" + msg + "\n" + "!" * 100)
        pytest.skip(msg)
    with pack_server(root, tmp_path_factory.mktemp("api"), WORKFLOWS) as srv:
        yield Api(srv)


def node_of(prompt: dict, class_type: str) -> dict:
    """The (first) node of that type in an API prompt."""
    return next(n for n in prompt.values() if n["class_type"] == class_type)


def edited(prompt: dict, class_type: str, **inputs) -> dict:
    """A copy of the prompt with inputs of its first ``class_type`` node replaced."""
    out = copy.deepcopy(prompt)
    node_of(out, class_type)["inputs"].update(inputs)
    return out
