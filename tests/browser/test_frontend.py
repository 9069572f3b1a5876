"""Browser tier: every shipped workflow loads in the REAL frontend and runs on a REAL ComfyUI server.

One ComfyUI server subprocess (``--cpu``) and one headless Chromium serve the whole module. For each
``workflows/*.json`` (discovered by glob, so new workflows are covered automatically):

a. the frontend served by the server boots (``window.app.graph``) and registers this pack's node ids;
b. no workflow node type is missing from ``LiteGraph.registered_node_types`` (UI-only and subgraph types allowed);
c. ``app.loadGraphData(wf)`` + ``app.graphToPrompt()`` gives an API prompt with no null ``class_type``;
d. that prompt is POSTed to ``/prompt`` and ``/history/<id>`` must reach ``success`` with output files on disk.

Model files a workflow names in a checkpoint loader are written as tiny random-weight checkpoints
(``tests.support.tiny_models.write_tiny_checkpoint``) and loaded by the test-only ``tiny_loader_pack``;
images named by ``LoadImage`` are written as small gradient PNGs.

Needs ComfyUI (see ``scripts/comfy_locate.py``), the ``playwright`` Python package and a Chromium
executable (``/usr/bin/chromium``, ``chromium`` on PATH, or ``$CHROMIUM_PATH``); otherwise the tier is skipped
loudly -- or fails when ``CI=true``.

Environment: ``CDI2V_SCREENSHOT_DIR`` saves a screenshot of each loaded workflow there (README pictures);
``CDI2V_BROWSER_WORKFLOWS`` points the tier at another folder of workflows.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

import pytest

from scripts.comfy_locate import PACK_ROOT, find_comfyui, in_ci

pytestmark = pytest.mark.browser

from scripts.workflow_api import defs_from_input_types, to_api_prompt  # noqa: E402
from tests.support.pack_server import all_nodes, queue, subgraph_ids, pack_server, wait_history  # noqa: E402
from tests.support.workflows import shrink_for_cpu, skip_if_missing_nodes  # noqa: E402

OUR_NODE_IDS = ("ConsistI2VFrameInitNoise", "ConsistI2VStaticLayout", "ConsistI2VPYoCoNoise")
UI_ONLY_TYPES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}

WORKFLOW_DIR = Path(os.environ.get("CDI2V_BROWSER_WORKFLOWS") or (PACK_ROOT / "workflows"))
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.json"))

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Written to the server's user settings: full-detail node rendering when a whole workflow is fitted on screen
# (README screenshots) and no minimap over the canvas.
FRONTEND_SETTINGS = {"LiteGraph.Canvas.LowQualityRenderingZoomThreshold": 0.1, "Comfy.Minimap.Visible": False}
VIEWPORT = {"width": 1920, "height": 1080}
BOOT_TIMEOUT_MS = 90_000
JS_STEP_TIMEOUT_MS = 60_000

# A pack-only workflow (no model files): the base for the doctored-workflow test, so that test never
# depends on which workflows exist.
BASELINE_WORKFLOW = {
    "last_node_id": 3, "last_link_id": 2,
    "nodes": [
        {"id": 1, "type": "LoadImage", "pos": [0, 0], "size": [315, 314], "flags": {}, "order": 0, "mode": 0,
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1], "slot_index": 0},
                     {"name": "MASK", "type": "MASK", "links": None}],
         "properties": {}, "widgets_values": ["cdi2v_browser_baseline.png", "image"]},
        {"id": 2, "type": "ConsistI2VStaticLayout", "pos": [400, 0], "size": [315, 80], "flags": {}, "order": 1,
         "mode": 0, "inputs": [{"name": "image", "type": "IMAGE", "link": 1}],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2], "slot_index": 0}],
         "properties": {}, "widgets_values": [2]},
        {"id": 3, "type": "SaveImage", "pos": [800, 0], "size": [315, 270], "flags": {}, "order": 2, "mode": 0,
         "inputs": [{"name": "images", "type": "IMAGE", "link": 2}],
         "properties": {}, "widgets_values": ["cdi2v_browser_baseline"]},
    ],
    "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]],
    "groups": [], "config": {}, "extra": {}, "version": 0.4,
}


# --------------------------------------------------------------------------------------------------------------
# environment checks: skip loudly, or fail under CI=true


def _not_available(reason: str):
    msg = f"BROWSER TIER NOT RUN: {reason}"
    if in_ci():
        pytest.fail(msg + " (CI=true, so this FAILS instead of skipping)", pytrace=False)
    print("\n" + "!" * 100 + "\n" + msg + "\n" + "!" * 100)
    pytest.skip(msg)


def _find_chromium() -> str | None:
    for cand in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium"):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return shutil.which("chromium") or shutil.which("chromium-browser")


# --------------------------------------------------------------------------------------------------------------
# workflow inspection (pure Python)


# --------------------------------------------------------------------------------------------------------------
# fixtures: one server + one browser page for the module


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    comfy_root = find_comfyui()
    if comfy_root is None:
        _not_available("ComfyUI not found (set COMFYUI_PATH, install this pack under <ComfyUI>/custom_nodes, "
                       "or put ComfyUI at ~/comfy/ComfyUI).")
    if _find_chromium() is None:
        _not_available("no Chromium executable (/usr/bin/chromium, `chromium` on PATH, or $CHROMIUM_PATH).")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _not_available("the `playwright` Python package is not installed (pip install playwright).")

    work = tmp_path_factory.mktemp("browser")
    with pack_server(comfy_root, work, WORKFLOWS, settings=FRONTEND_SETTINGS) as srv:
        yield srv


class _Page:
    """The live frontend page plus the console errors it logged (for failure messages)."""

    def __init__(self, page, console: list[str]):
        self.page = page
        self.console = console

    def diagnostics(self) -> str:
        return "--- browser console (errors/warnings, last 30) ---\n" + "\n".join(self.console[-30:])

    def boot(self, base_url: str) -> None:
        self.page.goto(base_url + "/", wait_until="domcontentloaded", timeout=BOOT_TIMEOUT_MS)
        self.page.wait_for_function(
            "(ids) => !!(window.app && window.app.graph && window.LiteGraph"
            " && window.LiteGraph.registered_node_types"
            " && ids.every((id) => id in window.LiteGraph.registered_node_types))",
            arg=list(OUR_NODE_IDS), timeout=BOOT_TIMEOUT_MS, polling=250)
        # Record every toast the frontend raises (its workflow validation reports through the toast store:
        # e.g. "Invalid workflow against zod schema"), so a workflow that loads "with a warning" fails here.
        self.page.evaluate(
            """() => {
                window.__cdi2vToasts = [];
                const store = app.extensionManager && app.extensionManager.toast;
                if (!store || store.__cdi2vWrapped) return;
                for (const key of ['add', 'addAlert']) {
                    const orig = store[key];
                    if (typeof orig !== 'function') continue;
                    store[key] = (msg, ...rest) => {
                        window.__cdi2vToasts.push(typeof msg === 'string' ? msg
                            : [msg && msg.severity, msg && msg.summary, msg && msg.detail].join(': '));
                        return orig(msg, ...rest);
                    };
                }
                store.__cdi2vWrapped = true;
            }""")

    def missing_types(self, wf: dict) -> list[str]:
        allowed = sorted(UI_ONLY_TYPES | subgraph_ids(wf))
        types = sorted({n.get("type") for n in all_nodes(wf)}, key=str)
        return self.page.evaluate(
            "([types, allowed]) => types.filter((t) => !(t in LiteGraph.registered_node_types)"
            " && !allowed.includes(t))",
            [types, allowed])

    def fit_view(self) -> None:
        """Fit the whole graph on screen (for screenshots); best effort."""
        self.page.evaluate(
            """async () => {
                try { await app.extensionManager.command.execute('Comfy.Canvas.FitView'); }
                catch (e) { console.warn('FitView failed', e); }
            }""")
        self.page.wait_for_timeout(300)

    def load_and_convert(self, wf: dict, name: str | None = None) -> dict:
        """``app.loadGraphData(wf)`` then ``app.graphToPrompt()`` -> ``{workflow, output}``; bounded in JS.

        Frontend 1.35 signature: ``loadGraphData(data, clean=true, restore_view=true, workflow=null,
        {showMissingNodesDialog, showMissingModelsDialog, ...})``; ``workflow`` (a name) titles the new tab.
        The missing-nodes/models dialogs are turned off: the checks here are explicit, and dialogs would
        cover the canvas in screenshots.
        """
        return self.page.evaluate(
            """async ([wf, name, ms]) => {
                window.__cdi2vToasts = [];
                const bounded = (p, what) => Promise.race([p, new Promise((_, rej) =>
                    setTimeout(() => rej(new Error(what + ' timed out after ' + ms + ' ms')), ms))]);
                await bounded(app.loadGraphData(wf, true, true, name,
                    {showMissingNodesDialog: false, showMissingModelsDialog: false}), 'app.loadGraphData');
                const p = await bounded(app.graphToPrompt(), 'app.graphToPrompt');
                await new Promise((r) => setTimeout(r, 50));
                return {workflow: p.workflow, output: p.output, toasts: window.__cdi2vToasts.slice()};
            }""",
            [wf, name, JS_STEP_TIMEOUT_MS])


@pytest.fixture(scope="module")
def frontend(server):
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_find_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(JS_STEP_TIMEOUT_MS)
            page.on("console", lambda m: console.append(f"[{m.type}] {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
            fe = _Page(page, console)
            try:
                fe.boot(server.url)
            except Exception as exc:  # noqa: BLE001 - re-raised with diagnostics
                pytest.fail(f"frontend did not boot at {server.url}: {exc}\n{fe.diagnostics()}\n"
                            f"--- server log tail ---\n{server.log_tail()}", pytrace=False)
            yield fe
        finally:
            browser.close()


# --------------------------------------------------------------------------------------------------------------
# helpers for running a prompt on the server

def _output_files(server, entry: dict) -> list[Path]:
    """Files the history entry reports under the output directory; asserts each exists and is non-empty."""
    files = []
    for node_id, out in (entry.get("outputs") or {}).items():
        for key, items in out.items():
            if not isinstance(items, list):
                continue
            for item in items:
                if isinstance(item, dict) and item.get("filename") and item.get("type", "output") == "output":
                    path = server.output_dir / (item.get("subfolder") or "") / item["filename"]
                    assert path.is_file() and path.stat().st_size > 0, (
                        f"node {node_id} reported {key} file {path} which is missing or empty")
                    files.append(path)
    return files


# --------------------------------------------------------------------------------------------------------------
# tests


def _ci_requires_workflows():
    if not WORKFLOWS and in_ci():
        pytest.fail(f"no workflows found in {WORKFLOW_DIR}", pytrace=False)


@pytest.mark.parametrize("wf_path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_loads_converts_and_runs(wf_path: Path, server, frontend):
    wf = json.loads(wf_path.read_text(encoding="utf-8"))
    skip_if_missing_nodes(wf, server.get_json("/object_info"), wf_path.stem)

    # b. every node type is known to the frontend
    missing = frontend.missing_types(wf)
    assert missing == [], f"{wf_path.name}: node types missing in the frontend: {missing}"

    # c. load in the real frontend and convert to an API prompt
    result = frontend.load_and_convert(wf, wf_path.stem)
    assert result["toasts"] == [], (
        f"{wf_path.name}: the frontend raised toasts while loading/converting it: {result['toasts']}")
    shot_dir = os.environ.get("CDI2V_SCREENSHOT_DIR")
    if shot_dir:
        Path(shot_dir).mkdir(parents=True, exist_ok=True)
        frontend.fit_view()
        frontend.page.screenshot(path=str(Path(shot_dir) / f"{wf_path.stem}.png"))
    output = result["output"]
    assert output, f"{wf_path.name}: graphToPrompt produced an empty API prompt\n{frontend.diagnostics()}"
    null_types = {nid: n for nid, n in output.items() if not n.get("class_type")}
    assert not null_types, f"{wf_path.name}: API prompt nodes with null class_type: {null_types}"

    # the headless converter (used by the in-process tier and `make demo`) agrees with the frontend
    info = server.get_json("/object_info")
    ours = to_api_prompt(wf, lambda kind: defs_from_input_types(info[kind]["input"]))
    assert {k: v["inputs"] for k, v in ours.items()} == {k: v["inputs"] for k, v in output.items()}

    # d. run it on the server
    before = {p for p in server.output_dir.rglob("*") if p.is_file()}
    prompt_id = queue(server, shrink_for_cpu(output, wf), result["workflow"])
    entry = wait_history(server, prompt_id)
    files = _output_files(server, entry)
    assert files, (f"{wf_path.name}: prompt succeeded but no output files were reported: "
                   f"{json.dumps(entry.get('outputs'), indent=1)[:3000]}")
    new = {p for p in server.output_dir.rglob("*") if p.is_file()} - before
    assert new, f"{wf_path.name}: no new files appeared in {server.output_dir}"


def test_workflows_present():
    """The repo ships workflows (guards against the glob silently matching nothing)."""
    _ci_requires_workflows()
    if not WORKFLOWS:
        pytest.skip(f"no workflows in {WORKFLOW_DIR} yet")


def test_baseline_pack_workflow_runs(server, frontend):
    """A pack-only workflow (no models) also round-trips; it is the base of the doctored test below."""
    assert frontend.missing_types(BASELINE_WORKFLOW) == []
    result = frontend.load_and_convert(copy.deepcopy(BASELINE_WORKFLOW), "cdi2v_baseline")
    assert result["toasts"] == []
    assert {n["class_type"] for n in result["output"].values()} == {
        "LoadImage", "ConsistI2VStaticLayout", "SaveImage"}
    entry = wait_history(server, queue(server, result["output"], result["workflow"]))
    assert _output_files(server, entry)


def test_doctored_workflow_reports_missing_node(server, frontend):
    """The missing-node check can fail: an unknown type is reported, and converts to a null class_type."""
    wf = copy.deepcopy(BASELINE_WORKFLOW)
    wf["nodes"].append({"id": 99, "type": "NotARealNode", "pos": [0, 500], "size": [200, 80], "flags": {},
                        "order": 3, "mode": 0, "properties": {}, "widgets_values": []})
    wf["last_node_id"] = 99
    assert frontend.missing_types(wf) == ["NotARealNode"]
    try:
        result = frontend.load_and_convert(wf, "cdi2v_doctored")
        assert result["output"].get("99", {}).get("class_type", "absent") is None, result["output"].get("99")
        status, body = server.post_json("/prompt", {"prompt": result["output"], "client_id": "cdi2v-doctored"})
        assert status == 400, f"server accepted a prompt with an unknown node: {status} {body}"
    finally:
        # the frontend may have opened its missing-nodes dialog: start clean for anything after this
        frontend.boot(server.url)


def test_workflows_are_served_as_templates(server):
    """ComfyUI serves workflows/ as this pack's templates (Workflow -> Browse Templates), thumbnails beside."""
    from tests.support.server import PACK_LINK_NAME

    listed = server.get_json("/api/workflow_templates")
    assert sorted(listed.get(PACK_LINK_NAME, [])) == sorted(p.stem for p in WORKFLOWS)
    for path in WORKFLOWS:
        assert path.with_suffix(".jpg").is_file(), f"{path.stem}.jpg thumbnail missing"
        served = server.get_json(f"/api/workflow_templates/{PACK_LINK_NAME}/{path.name}")
        assert served["nodes"] == json.loads(path.read_text())["nodes"]


def test_a_file_saved_before_a_widget_existed_converts_like_the_frontend(server, frontend):
    """An older saved FrameInit node lacks the later ``temporal_padding`` widget value: the frontend fills in the
    default, and so does the headless converter."""
    wf = json.loads((WORKFLOW_DIR / "svd_frameinit.json").read_text(encoding="utf-8"))
    node = next(n for n in wf["nodes"] if n["type"] == "ConsistI2VFrameInitNoise")
    assert node["widgets_values"][-1] == "mirror"
    node["widgets_values"] = node["widgets_values"][:-1]
    result = frontend.load_and_convert(copy.deepcopy(wf), "cdi2v_older_frameinit")
    assert result["toasts"] == []
    info = server.get_json("/object_info")
    ours = to_api_prompt(wf, lambda kind: defs_from_input_types(info[kind]["input"]))
    assert ours[str(node["id"])]["inputs"]["temporal_padding"] == "mirror"
    assert {k: v["inputs"] for k, v in ours.items()} == {k: v["inputs"] for k, v in result["output"].items()}
