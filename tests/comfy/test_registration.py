"""The pack registers through comfy_entrypoint in a real ComfyUI, with documented nodes."""
import ast
import inspect
from pathlib import Path

import pytest

pytestmark = pytest.mark.comfy

ROOT = Path(__file__).resolve().parents[2]
OUR_IDS = {"ConsistI2VFrameInitNoise", "ConsistI2VStaticLayout", "ConsistI2VPYoCoNoise", "ConsistI2VLongVideo",
           "ConsistI2VCameraMove", "ConsistI2VCameraLayout", "ConsistI2VCameraPathPreview",
           "ConsistI2VModelLoader", "ConsistI2VConditioning", "ConsistI2VPrependFirstFrame",
           "ConsistI2VFirstFrameAttention", "ConsistI2VVideoMetrics", "ConsistI2VVideoCompare"}
OUR_IDS |= {"CILAnalyticInit", "CILStatisticsLoader", "CILStatistics", "CILTimeNoiseConditioning"}
OUR_IDS |= {"CILConvertCheckpoint", "CILLoadSVDCIL"}
OUR_IDS |= {"ConsistI2VGuider"}


def test_pack_registers_its_nodes(comfy):
    import nodes

    assert OUR_IDS <= set(nodes.NODE_CLASS_MAPPINGS)
    for node_id in OUR_IDS:
        source = Path(inspect.getfile(nodes.NODE_CLASS_MAPPINGS[node_id])).resolve()
        assert source.is_relative_to(ROOT / "nodes"), source


def test_entry_module_is_v3_only():
    tree = ast.parse((ROOT / "__init__.py").read_text())
    names = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) for t in node.targets
             if isinstance(t, ast.Name)}
    assert "NODE_CLASS_MAPPINGS" not in names
    assert any(isinstance(n, ast.AsyncFunctionDef) and n.name == "comfy_entrypoint" for n in tree.body)


def test_kernels_never_import_comfyui():
    for path in (ROOT / "kernels").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for mod in mods:
                assert not mod.split(".")[0] in {"comfy", "comfy_api", "nodes", "folder_paths", "comfy_extras"}, path


@pytest.mark.parametrize("node_id", sorted(OUR_IDS))
def test_every_node_and_input_is_documented(comfy, node_id):
    import nodes

    schema = nodes.NODE_CLASS_MAPPINGS[node_id].define_schema()
    assert schema.node_id == node_id and schema.display_name and len(schema.description) > 40
    for inp in schema.inputs:
        assert inp.tooltip and len(inp.tooltip) > 15, f"{node_id}.{inp.id} has no tooltip"
