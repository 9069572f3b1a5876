"""In-graph motion and consistency metrics of decoded videos (weight-free): one video, or two side by side."""
from __future__ import annotations

import comfy.model_management
import comfy.utils
import torch
from comfy_api.latest import io, ui

from ..kernels import camera, metrics, metrics_plot

CATEGORY = "image/video/metrics"
CameraPath = io.Custom("CI2V_CAMERA_PATH")
PRESETS = ("medium", "fast", "ultrafast")
LABEL_MAX = 100  # characters; the table wraps a label at 20 a line (5 lines), the legends show 24


class _Progress:
    """A ProgressBar over ``total`` steps; ``at(offset)`` is a kernel progress callback that also stops on
    ComfyUI's interrupt (the kernels call it after every optical-flow pair, SSIM chunk or frame)."""

    def __init__(self, total: int):
        self.bar = comfy.utils.ProgressBar(max(total, 1))

    def at(self, offset: int):
        def progress(done: int, _total: int) -> None:
            comfy.model_management.throw_exception_if_processing_interrupted()
            self.bar.update_absolute(offset + done)
        return progress


def _label(text: str, name: str) -> str:
    if len(text) > LABEL_MAX:
        raise ValueError(f"{name} is {len(text):,} characters long ('{metrics.shorten(text, 40)}'); labels are at "
                         f"most {LABEL_MAX} characters: shorten it (the full text can go in a Note node)")
    return text.strip()


def _fps_input():
    return io.Float.Input("fps", default=6.0, min=0.1, max=240.0, step=0.5, tooltip=(
        "The video's frame rate (SVD: the conditioning's fps). The dynamic degree looks at frames ~8 fps apart, "
        "as VBench does; motion and flicker use every frame."))


def _preset_input():
    return io.Combo.Input("flow_preset", options=list(PRESETS), default="medium", optional=True, tooltip=(
        "OpenCV DIS optical-flow preset: medium is exact on synthetic pans; fast / ultrafast trade accuracy "
        "for speed on long or large videos."))


def _reference_input(what: str):
    return io.Image.Input("reference", optional=True, tooltip=(
        f"The image the video was conditioned on (e.g. the scaled input image), for SSIM / PSNR of {what} to it. "
        "Unconnected: frame 0 of the video is the reference."))


def _image(array) -> torch.Tensor:
    return torch.from_numpy(array).float().clamp(0, 1)[None]


def _preview(image: torch.Tensor, text: str, cls) -> dict:
    out = dict(ui.PreviewImage(image, cls=cls).as_dict())
    out["text"] = (text,)
    return out


class ConsistI2VVideoMetrics(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ConsistI2VVideoMetrics",
            display_name="Video Metrics (ConsistI2V)",
            category=CATEGORY,
            description=(
                "Weight-free numbers for a decoded video: motion (mean DIS optical flow, px/frame), a VBench-style "
                "dynamic degree, VBench flicker, SSIM/PSNR of every frame to the conditioning image, and the "
                "camera fitted from the flow (pan, zoom, roll), checked against a requested camera path if one is "
                "connected. Shows a plot over the frames; needs OpenCV (opencv-python-headless)."),
            inputs=[
                io.Image.Input("video", tooltip="The decoded frames (IMAGE batch, at least 2 frames), e.g. from "
                                                "VAE Decode."),
                _fps_input(),
                _reference_input("every frame"),
                CameraPath.Input("camera_path", optional=True, tooltip=(
                    "The camera path the video was asked to follow (Camera Move): its motion is compared with the "
                    "fitted camera, giving camera_error.")),
                io.Int.Input("path_offset", default=0, min=0, max=4096, optional=True, tooltip=(
                    "Camera-path frames before the video's first frame: 1 when FrameInit's drop_first_frame was on "
                    "(the layout then has one frame more than the video), else 0.")),
                _preset_input(),
            ],
            outputs=[
                io.Image.Output(display_name="plot"),
                io.String.Output(display_name="report"),
                io.Float.Output(display_name="motion"),
                io.Float.Output(display_name="dynamic_degree"),
                io.Float.Output(display_name="flicker"),
                io.Float.Output(display_name="ssim"),
                io.Float.Output(display_name="psnr"),
                io.Float.Output(display_name="pan_x"),
                io.Float.Output(display_name="pan_y"),
                io.Float.Output(display_name="zoom"),
                io.Float.Output(display_name="roll"),
                io.Float.Output(display_name="camera_error"),
            ],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, video, fps, reference=None, camera_path=None, path_offset=0,
                flow_preset="medium") -> io.NodeOutput:
        metrics.check_video(video, "video")
        matrices = None
        if camera_path is not None:
            moves = list(camera_path)
            if not moves:
                raise ValueError("camera_path has no moves: connect a Camera Move node, or leave it unconnected")
            t, h, w = video.shape[:3]
            matrices = camera.path_matrices(moves, t + int(path_offset), aspect=w / h)[int(path_offset):]
        bar = _Progress(metrics.step_count(video.shape[0], fps))
        m = metrics.measure(video, reference, fps, matrices, preset=flow_preset, progress=bar.at(0))
        plot = _image(metrics_plot.metrics_figure(m))
        text = metrics.report(m)
        cam = m.camera.totals()
        error = -1.0 if m.camera_error is None else m.camera_error
        return io.NodeOutput(plot, text, m.motion, m.dynamic_degree, m.flicker, m.ssim, m.psnr, cam["pan_x"],
                             cam["pan_y"], cam["zoom"], cam["roll"], error, ui=_preview(plot, text, cls))


class ConsistI2VVideoCompare(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ConsistI2VVideoCompare",
            display_name="Video A/B Compare (ConsistI2V)",
            category=CATEGORY,
            description=(
                "Measures two decoded videos of the same size (e.g. the same seed without and with FrameInit or "
                "Analytic-Init) with the Video Metrics and shows them side by side: a table with B - A, curves of "
                "motion and SSIM, and the differences as numbers."),
            inputs=[
                io.Image.Input("video_a", tooltip="The first video (e.g. the baseline run), an IMAGE batch."),
                io.Image.Input("video_b", tooltip="The second video (e.g. the FrameInit run), same width and height."),
                _fps_input(),
                io.String.Input("label_a", default="baseline", tooltip=(
                    "Name of video A in the table and report (at most 100 characters; the table wraps it at 20 "
                    "a line and the curve legends shorten it to 24).")),
                io.String.Input("label_b", default="FrameInit", tooltip=(
                    "Name of video B in the table and report (at most 100 characters; the table wraps it at 20 "
                    "a line and the curve legends shorten it to 24).")),
                _reference_input("both videos' frames"),
                _preset_input(),
            ],
            outputs=[
                io.Image.Output(display_name="table"),
                io.String.Output(display_name="report"),
                io.Float.Output(display_name="motion_change"),
                io.Float.Output(display_name="dynamic_change"),
                io.Float.Output(display_name="flicker_change"),
                io.Float.Output(display_name="ssim_change"),
                io.Float.Output(display_name="psnr_change"),
                io.Float.Output(display_name="ssim_a_to_b"),
            ],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, video_a, video_b, fps, label_a, label_b, reference=None,
                flow_preset="medium") -> io.NodeOutput:
        metrics.check_video(video_a, "video_a")
        metrics.check_video(video_b, "video_b")
        (ha, wa), (hb, wb) = video_a.shape[1:3], video_b.shape[1:3]
        if (ha, wa) != (hb, wb):
            raise ValueError(f"video_a is {wa}x{ha} but video_b is {wb}x{hb}: compare videos of the same size "
                             "(generate both at one width/height, or ImageScale one to the other)")
        labels = (_label(label_a, "label_a") or "A", _label(label_b, "label_b") or "B")
        pa, pb = (metrics.step_count(v.shape[0], fps) for v in (video_a, video_b))
        bar = _Progress(pa + pb + min(video_a.shape[0], video_b.shape[0]))
        a = metrics.measure(video_a, reference, fps, preset=flow_preset, name="video_a", progress=bar.at(0))
        b = metrics.measure(video_b, reference, fps, preset=flow_preset, name="video_b", progress=bar.at(pa))
        ssim_ab, psnr_ab = metrics.frame_similarity(video_a.float().cpu(), video_b.float().cpu(),
                                                    progress=bar.at(pa + pb))
        ab_ssim, ab_psnr = float(ssim_ab.mean()), float(psnr_ab.mean())
        table = _image(metrics_plot.compare_figure(a, b, labels, ab_ssim))
        text = metrics.compare_report(a, b, labels, ab_ssim, ab_psnr)
        return io.NodeOutput(table, text, b.motion - a.motion, b.dynamic_degree - a.dynamic_degree,
                             b.flicker - a.flicker, b.ssim - a.ssim, b.psnr - a.psnr, ab_ssim,
                             ui=_preview(table, text, cls))
