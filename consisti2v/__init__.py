"""ConsistI2V model architecture for ComfyUI (the UNet, its config and loader)."""
