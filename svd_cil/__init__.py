"""SVD-CIL (TimeNoise-finetuned SVD, cil.md §4) on ComfyUI's own SVD model."""
