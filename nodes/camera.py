"""Training-free camera moves: a camera path, the layout video it renders, and a path preview."""
from __future__ import annotations

import math

import comfy.model_management
import comfy.utils
import torch
from comfy_api.latest import io

from ..kernels import camera
from .common import quoted
from .memory import free_memory

CameraPath = io.Custom("CI2V_CAMERA_PATH")
CATEGORY = "image/video/camera"
MOVES = ("pan", "zoom", "roll", "perspective")


def _check_finite(**values) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{name} is {value}, not a number: set {name} to a finite value")


def _first_image(image: torch.Tensor) -> torch.Tensor:
    """The first image of an IMAGE batch; refuses an empty batch and NaN / inf pixels."""
    if image.ndim != 4:
        raise ValueError(f"image must be an IMAGE batch [B, H, W, C]; got shape {tuple(image.shape)}")
    if 0 in image.shape:
        raise ValueError(f"image is an empty IMAGE batch (shape {tuple(image.shape)}): connect at least one image, "
                         "e.g. from Load Image")
    if not torch.isfinite(image[0]).all():
        raise ValueError("image has NaN or inf pixels: connect an image with finite values (a diverged sampler's "
                         "VAE Decode gives NaN)")
    return image[0]


def _frames_input(default=25):
    return io.Int.Input("frames", default=default, min=2, max=4096, tooltip=(
        "Frames of the layout video: the sampled video's frame count (+1 with FrameInit's drop_first_frame)."))


class ConsistI2VCameraMove(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ConsistI2VCameraMove",
            display_name="Camera Move (ConsistI2V)",
            category=CATEGORY,
            description=(
                "One camera move (pan, zoom, roll or 4-point perspective) over a span of the clip, with easing. "
                "Chain moves through 'previous' to compose them in order; render them with 'Camera Layout'."),
            inputs=[
                io.Combo.Input("move", options=list(MOVES), default="pan", tooltip=(
                    "pan: slide the camera; zoom: move in (scale > 1) or out (< 1); roll: rotate about the centre; "
                    "perspective: move the 4 frame corners to the keypoints below.")),
                io.Float.Input("pan_angle", default=0.0, min=-360.0, max=360.0, step=1.0, tooltip=(
                    "Pan direction in degrees: 0 camera right (content slides left), 90 up, 180 left, 270 down.")),
                io.Float.Input("pan_distance", default=0.25, min=0.0, max=2.0, step=0.01, tooltip=(
                    "Pan length as a fraction of the frame (width for horizontal, height for vertical moves).")),
                io.Float.Input("zoom_scale", default=1.5, min=0.125, max=8.0, step=0.05, tooltip=(
                    "Zoom factor over the move: 1.5 zooms in, 0.67 zooms out (with avoid_borders a zoom-out "
                    "starts zoomed in by 1/scale and ends on the full image).")),
                io.Float.Input("roll_degrees", default=15.0, min=-180.0, max=180.0, step=1.0,
                               tooltip="Rotation at the end of the move, counter-clockwise in degrees."),
                io.String.Input("perspective_corners", default="-0.9,-0.9  0.9,-1.0  1.0,1.0  -1.0,0.9", tooltip=(
                    "Where the view's corners go (top-left, top-right, bottom-right, bottom-left) as 'x,y' pairs "
                    "in -1..1 frame units, separated by spaces.")),
                io.Float.Input("start", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Where in the clip the move begins (fraction of the frames)."),
                io.Float.Input("end", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Where in the clip the move ends (fraction of the frames)."),
                io.Combo.Input("easing", options=list(camera.EASINGS), default="ease_in_out",
                               tooltip="Speed curve: linear, or starting/stopping gently."),
                CameraPath.Input("previous", optional=True,
                                 tooltip="Moves to run before this one (chain several Camera Move nodes)."),
                io.Boolean.Input("avoid_borders", default=True, optional=True, tooltip=(
                    "Keep every view inside the image so no mirrored edges appear: pans are pre-scaled by "
                    "1 + distance and run centred, zoom-outs start zoomed in, rolls zoom in just enough. Off: "
                    "frame 0 is the plain image and views beyond it use the layout's border.")),
                io.Float.Input("zoom_center_x", default=0.0, min=-1.0, max=1.0, step=0.01, optional=True, tooltip=(
                    "Zoom centre, horizontal: -1 left edge, 0 middle, 1 right edge.")),
                io.Float.Input("zoom_center_y", default=0.0, min=-1.0, max=1.0, step=0.01, optional=True, tooltip=(
                    "Zoom centre, vertical: -1 top edge, 0 middle, 1 bottom edge.")),
            ],
            outputs=[CameraPath.Output(display_name="CAMERA_PATH")],
        )

    @classmethod
    def execute(cls, move, pan_angle, pan_distance, zoom_scale, roll_degrees, perspective_corners, start, end,
                easing, previous=None, avoid_borders=True, zoom_center_x=0.0, zoom_center_y=0.0) -> io.NodeOutput:
        _check_finite(pan_angle=pan_angle, pan_distance=pan_distance, zoom_scale=zoom_scale,
                      roll_degrees=roll_degrees, start=start, end=end, zoom_center_x=zoom_center_x,
                      zoom_center_y=zoom_center_y)
        corners = ()
        if move == "perspective":
            example = "e.g. '-0.9,-0.9  0.9,-1  1,1  -1,0.9'"
            try:
                corners = tuple(tuple(float(v) for v in pair.split(",")) for pair in perspective_corners.split())
            except ValueError:
                corners = ()
            if len(corners) != 4 or any(len(c) != 2 for c in corners):
                raise ValueError(f"perspective_corners {quoted(perspective_corners)} must be 4 'x,y' pairs "
                                 f"separated by spaces, {example}")
            if not all(math.isfinite(v) for c in corners for v in c):
                raise ValueError(f"perspective_corners {quoted(perspective_corners)} has a value that is not a "
                                 f"finite number (nan or inf): give 4 'x,y' pairs of numbers, {example}")
        step = camera.Move(move, angle=roll_degrees if move == "roll" else pan_angle, distance=pan_distance,
                           scale=zoom_scale, corners=corners, start=start, end=end, easing=easing,
                           avoid_borders=bool(avoid_borders), center=(float(zoom_center_x), float(zoom_center_y)))
        step.check()
        return io.NodeOutput(tuple(previous or ()) + (step,))


class ConsistI2VCameraLayout(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ConsistI2VCameraLayout",
            display_name="Camera Layout (ConsistI2V)",
            category=CATEGORY,
            description=(
                "Renders the first image along a camera path into a layout video (anti-aliased, mirrored edges). "
                "VAE Encode it into FrameInit Noise's layout to steer the camera without training; feed its first "
                "frame to the model's image conditioning."),
            inputs=[
                io.Image.Input("image", tooltip="The first frame (the first image of a batch is used)."),
                CameraPath.Input("camera_path", tooltip="Moves from 'Camera Move' nodes."),
                _frames_input(),
                io.Int.Input("width", default=1024, min=16, max=8192, step=8, tooltip="Layout width in pixels."),
                io.Int.Input("height", default=576, min=16, max=8192, step=8, tooltip="Layout height in pixels."),
                io.Combo.Input("border", options=list(camera.BORDERS), default="reflect",
                               tooltip="How views beyond the image are filled: mirrored (reflect) or edge pixels."),
                io.Combo.Input("official_motion", options=["off", "pan_left", "pan_right", "zoom_in"], default="off",
                               tooltip=("Reproduce the official ConsistI2V crops instead of the path (parity only; "
                                        "zoom_in needs square frames).")),
            ],
            outputs=[io.Image.Output(display_name="IMAGE")],
        )

    @classmethod
    def execute(cls, image, camera_path, frames, width, height, border, official_motion) -> io.NodeOutput:
        first = _first_image(image)
        limit = free_memory()
        progress = comfy.utils.ProgressBar(frames)

        def on_frame(_i):
            comfy.model_management.throw_exception_if_processing_interrupted()
            progress.update(1)

        if official_motion != "off":
            return io.NodeOutput(camera.official_crops(first, frames, official_motion, height, width, on_frame,
                                                       limit))
        h, w = first.shape[:2]
        matrices = camera.framing(h, w, height, width) @ camera.path_matrices(
            list(camera_path), frames, aspect=width / height)
        f = camera.source_scale(matrices, h, w, height, width)
        if f < 1:  # prefilter a large source down to what the most magnified view needs
            first = torch.nn.functional.interpolate(
                first.permute(2, 0, 1)[None], size=(max(1, round(h * f)), max(1, round(w * f))), mode="bilinear",
                antialias=True, align_corners=False)[0].permute(1, 2, 0)
            limit -= first.numel() * first.element_size()
        out = camera.render(first, matrices, height, width, border, on_frame=on_frame, memory_limit=limit,
                            on_band=comfy.model_management.throw_exception_if_processing_interrupted)
        return io.NodeOutput(out.clamp_(0, 1))


def _size_inputs() -> list:
    return [
        io.Int.Input("width", default=0, min=0, max=8192, step=8, optional=True, tooltip=(
            "The Camera Layout's width, so the outlines match its framing (0: the image's own size).")),
        io.Int.Input("height", default=0, min=0, max=8192, step=8, optional=True, tooltip=(
            "The Camera Layout's height (0: the image's own size).")),
    ]


class ConsistI2VCameraPathPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ConsistI2VCameraPathPreview",
            display_name="Camera Path Preview (ConsistI2V)",
            category=CATEGORY,
            description="Draws each frame's view outline of a camera path on the first image, to check a move "
                        "before sampling (green: first frame, red: last).",
            inputs=[
                io.Image.Input("image", tooltip="The first frame."),
                CameraPath.Input("camera_path", tooltip="Moves from 'Camera Move' nodes."),
                _frames_input(),
                *_size_inputs(),
            ],
            outputs=[io.Image.Output(display_name="IMAGE")],
        )

    @classmethod
    def execute(cls, image, camera_path, frames, width=0, height=0) -> io.NodeOutput:
        canvas = _first_image(image).clone()
        h, w = canvas.shape[:2]
        if (width == 0) != (height == 0):
            raise ValueError(f"width={width}, height={height}: set both to the Camera Layout's size, or both to 0")
        width, height = (width, height) if width else (w, h)
        quads = camera.view_quads(camera.framing(h, w, height, width) @ camera.path_matrices(
            list(camera_path), frames, aspect=width / height))
        for i, quad in enumerate(quads):
            t = i / max(1, len(quads) - 1)
            colour = torch.tensor([t, 1 - t, 0.0])[: canvas.shape[2]]
            pts = torch.stack([(quad[:, 0] + 1) / 2 * w, (quad[:, 1] + 1) / 2 * h], dim=1)
            for k in range(4):
                a, b = pts[k], pts[(k + 1) % 4]
                n = int(max(abs(b - a).max().item(), 1)) * 2
                s = torch.linspace(0, 1, n, dtype=torch.float64)[:, None]
                line = (a + (b - a) * s).round().long()
                ok = (line[:, 0] >= 0) & (line[:, 0] < w) & (line[:, 1] >= 0) & (line[:, 1] < h)
                canvas[line[ok, 1], line[ok, 0]] = colour
        return io.NodeOutput(canvas[None])
