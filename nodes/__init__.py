"""ComfyUI V3 nodes: argument plumbing around ``kernels``."""
from .camera import ConsistI2VCameraLayout, ConsistI2VCameraMove, ConsistI2VCameraPathPreview
from .frameinit import ConsistI2VFrameInitNoise, ConsistI2VStaticLayout
from .longvideo import ConsistI2VLongVideo
from .pyoco import ConsistI2VPYoCoNoise

NODES = [ConsistI2VFrameInitNoise, ConsistI2VStaticLayout, ConsistI2VPYoCoNoise, ConsistI2VLongVideo,
         ConsistI2VCameraMove, ConsistI2VCameraLayout, ConsistI2VCameraPathPreview]
