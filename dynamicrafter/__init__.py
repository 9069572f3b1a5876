"""DynamiCrafter and VideoCrafter1 image-to-video models (VideoCrafter-lineage 3-D UNets) in ComfyUI style."""
