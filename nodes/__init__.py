"""ComfyUI V3 nodes: argument plumbing around ``kernels``."""
from .camera import ConsistI2VCameraLayout, ConsistI2VCameraMove, ConsistI2VCameraPathPreview
from .checkpoints import CILConvertCheckpoint, CILLoadSVDCIL
from .cil import CILAnalyticInit, CILStatistics, CILStatisticsLoader, CILTimeNoiseConditioning
from .cil_estimate import CILEstimateStatistics
from .consisti2v_guidance import ConsistI2VGuider
from .consisti2v_model import (ConsistI2VConditioning, ConsistI2VFirstFrameAttention, ConsistI2VModelLoader,
                               ConsistI2VPrependFirstFrame)
from .dynamicrafter import CILDynamiCrafterConditioning, CILGuidanceRescale, CILLoadDynamiCrafter
from .frameinit import ConsistI2VFrameInitNoise, ConsistI2VStaticLayout
from .longvideo import ConsistI2VLongVideo
from .metrics import ConsistI2VVideoCompare, ConsistI2VVideoMetrics
from .pyoco import ConsistI2VPYoCoNoise

NODES = [ConsistI2VFrameInitNoise, ConsistI2VStaticLayout, ConsistI2VPYoCoNoise, ConsistI2VLongVideo,
         ConsistI2VCameraMove, ConsistI2VCameraLayout, ConsistI2VCameraPathPreview,
         ConsistI2VModelLoader, ConsistI2VConditioning, ConsistI2VPrependFirstFrame, ConsistI2VFirstFrameAttention,
         ConsistI2VVideoMetrics, ConsistI2VVideoCompare, ConsistI2VGuider]
NODES += [CILAnalyticInit, CILStatisticsLoader, CILStatistics, CILTimeNoiseConditioning, CILEstimateStatistics]
NODES += [CILConvertCheckpoint, CILLoadSVDCIL, CILLoadDynamiCrafter, CILDynamiCrafterConditioning,
          CILGuidanceRescale]
