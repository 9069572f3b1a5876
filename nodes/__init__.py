"""ComfyUI V3 nodes: argument plumbing around ``kernels``."""
from .frameinit import ConsistI2VFrameInitNoise, ConsistI2VStaticLayout
from .longvideo import ConsistI2VLongVideo
from .pyoco import ConsistI2VPYoCoNoise

NODES = [ConsistI2VFrameInitNoise, ConsistI2VStaticLayout, ConsistI2VPYoCoNoise, ConsistI2VLongVideo]
