"""Convert a UI workflow (what the ComfyUI frontend saves) into an API prompt, without a browser.

Follows the frontend's ``graphToPrompt``: widget values are matched to widget inputs in definition
order (a seed's ``control_after_generate`` value and an image upload button take one extra slot),
widgets missing from an older saved file take their defaults, links become ``[source_id, slot]``, notes and reroutes vanish, muted nodes are left out.
The browser tier checks this against the real frontend's own conversion.
"""
from __future__ import annotations

from typing import Callable, Iterable

VIRTUAL = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
MUTED, BYPASSED = 2, 4

InputDefs = Callable[[str], Iterable[tuple[str, object, dict]]]


def defs_from_input_types(input_types: dict) -> list[tuple[str, object, dict]]:
    """``INPUT_TYPES()`` / ``/object_info[...]["input"]`` -> ordered (name, type, options)."""
    out = []
    for section in ("required", "optional"):
        for name, spec in (input_types.get(section) or {}).items():
            spec = list(spec) if isinstance(spec, (list, tuple)) else [spec]
            opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            out.append((name, spec[0], opts))
    return out


def _is_widget(kind, opts) -> bool:
    if opts.get("forceInput"):
        return False
    return isinstance(kind, list) or kind in WIDGET_TYPES


def _extra_slots(name, kind, opts) -> int:
    control = opts.get("control_after_generate") or (kind == "INT" and name in ("seed", "noise_seed"))
    upload = opts.get("image_upload") or opts.get("video_upload") or opts.get("audio_upload")
    return int(bool(control)) + int(bool(upload))


def to_api_prompt(workflow: dict, input_defs: InputDefs) -> dict:
    nodes = {n["id"]: n for n in workflow["nodes"]}
    links = {link[0]: link for link in workflow.get("links", [])}

    def source(link_id):
        _, origin, slot, *_ = links[link_id]
        node = nodes[origin]
        if node["type"] == "Reroute":
            upstream = node["inputs"][0].get("link")
            return None if upstream is None else source(upstream)
        if node.get("mode") == MUTED:
            return None
        return [str(origin), slot]

    prompt = {}
    for node in workflow["nodes"]:
        kind = node["type"]
        if kind in VIRTUAL or node.get("mode") == MUTED:
            continue
        if node.get("mode") == BYPASSED:
            raise ValueError(f"node {node['id']} ({kind}) is bypassed: this converter does not route bypasses")
        inputs = {}
        values = list(node.get("widgets_values") or [])
        pos = 0
        for name, itype, opts in input_defs(kind):
            if _is_widget(itype, opts):
                if pos < len(values):
                    inputs[name] = values[pos]
                elif "default" in opts:  # saved before the widget existed: the frontend fills in the default
                    inputs[name] = opts["default"]
                elif isinstance(itype, list) and itype:
                    inputs[name] = itype[0]
                pos += 1 + _extra_slots(name, itype, opts)
        for inp in node.get("inputs", []):
            if inp.get("link") is not None:
                src = source(inp["link"])
                if src is not None:
                    inputs[inp["name"]] = src
        prompt[str(node["id"])] = {"class_type": kind, "inputs": inputs, "_meta": {"title": node.get("title", kind)}}
    return prompt


def model_files(workflow: dict) -> list[dict]:
    """The model files a workflow declares (name, url, directory), from the workflow and its nodes, and the files
    it asks the user to fetch by hand (``extra.cdi2v_manual_files``: pickles the frontend will not download)."""
    found = {}
    for entry in workflow.get("models", []) + workflow.get("extra", {}).get("cdi2v_manual_files", []):
        found[entry["name"]] = entry
    for node in workflow["nodes"]:
        for entry in node.get("properties", {}).get("models", []):
            found.setdefault(entry["name"], entry)
    return list(found.values())
