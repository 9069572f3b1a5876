"""Pure torch/numpy math for the pack. Nothing here imports ComfyUI."""
