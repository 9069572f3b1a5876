"""Test-only node: an IMAGE with NaN or inf written into it, as a diverged sampler's VAE Decode gives."""
import torch
from comfy_api.latest import io


class CDI2VTestNaNImage(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="CDI2VTestNaNImage", display_name="NaN Image (CDI2V tests)", category="testing",
            description="Test only: replaces the first `count` values of every frame (0: all) with `value`.",
            inputs=[io.Image.Input("image", tooltip="Frames to spoil."),
                    io.Combo.Input("value", options=["nan", "inf", "-inf"], tooltip="The value written."),
                    io.Int.Input("count", default=1, min=0, max=2 ** 31 - 1, tooltip="Values per frame, 0 = all.")],
            outputs=[io.Image.Output()])

    @classmethod
    def execute(cls, image, value, count) -> io.NodeOutput:
        out = image.clone(memory_format=torch.contiguous_format)
        flat = out.view(out.shape[0], -1)
        flat[:, :count or flat.shape[1]] = float(value)
        return io.NodeOutput(out)
