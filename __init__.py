"""Consistent & dynamic image-to-video for ComfyUI: ConsistI2V and Conditional Image Leakage.

V3 registration only: a module-level V1 node mapping dict would make ComfyUI ignore comfy_entrypoint.
"""


async def comfy_entrypoint():
    from comfy_api.latest import ComfyExtension

    from .nodes import NODES

    class ConsistentDynamicI2V(ComfyExtension):
        async def get_node_list(self):
            return list(NODES)

    return ConsistentDynamicI2V()
