"""Which family adapter (kernels/families.py) a ComfyUI MODEL belongs to."""
from __future__ import annotations

from ..kernels.families import FAMILIES, Family

# model_base class name -> family key; the first match along the class's MRO wins (WAN22 before WAN21)
_BY_CLASS = {
    "SVD_img2vid": "svd", "WAN22": "wan22_5b", "WAN21": "wan21", "LTXAV": "ltx2", "LTXV": "ltxv",
    "HunyuanVideo15": "hunyuan15", "CosmosPredict2": "cosmos_predict2",
}


def family_of(model) -> Family:
    """The family of a MODEL (a ModelPatcher): by its model_base class, the pack's own models by a marker."""
    base = getattr(model, "model", model)
    marker = getattr(base, "cdi2v_family", None)  # the pack's loaders (ConsistI2V, DynamiCrafter) set it
    if marker in FAMILIES:
        return FAMILIES[marker]
    for cls in type(base).__mro__:
        key = _BY_CLASS.get(cls.__name__)
        if key is not None:
            return FAMILIES[key]
    return FAMILIES["generic"]
