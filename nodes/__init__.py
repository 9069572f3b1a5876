"""ComfyUI V3 nodes: argument plumbing around ``kernels``."""
from .camera import ConsistI2VCameraLayout, ConsistI2VCameraMove, ConsistI2VCameraPathPreview
from .consisti2v_model import (ConsistI2VConditioning, ConsistI2VFirstFrameAttention, ConsistI2VModelLoader,
                               ConsistI2VPrependFirstFrame)
from .frameinit import ConsistI2VFrameInitNoise, ConsistI2VStaticLayout
from .longvideo import ConsistI2VLongVideo
from .pyoco import ConsistI2VPYoCoNoise

NODES = [ConsistI2VFrameInitNoise, ConsistI2VStaticLayout, ConsistI2VPYoCoNoise, ConsistI2VLongVideo,
         ConsistI2VCameraMove, ConsistI2VCameraLayout, ConsistI2VCameraPathPreview,
         ConsistI2VModelLoader, ConsistI2VConditioning, ConsistI2VPrependFirstFrame, ConsistI2VFirstFrameAttention]
