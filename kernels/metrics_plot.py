"""Small plots and tables for the metrics nodes, drawn with numpy only (no matplotlib, no font files).

Text uses a built-in 3x5 pixel font (upper case, digits and a few signs), scaled up by an integer factor.
Every function returns or fills an RGB float array [H, W, 3] in 0..1.
"""
from __future__ import annotations

import math
import textwrap

import numpy as np

_GLYPHS = {
    "0": "### #.# #.# #.# ###", "1": ".#. ##. .#. .#. ###", "2": "### ..# ### #.. ###", "3": "### ..# .## ..# ###",
    "4": "#.# #.# ### ..# ..#", "5": "### #.. ### ..# ###", "6": "### #.. ### #.# ###", "7": "### ..# ..# .#. .#.",
    "8": "### #.# ### #.# ###", "9": "### #.# ### ..# ###", ".": "... ... ... ... .#.", ",": "... ... ... .#. #..",
    "-": "... ... ### ... ...", "+": "... .#. ### .#. ...", ":": "... .#. ... .#. ...", "/": "..# ..# .#. #.. #..",
    "%": "#.# ..# .#. #.. #.#", "=": "... ### ... ### ...", "(": ".#. #.. #.. #.. .#.", ")": ".#. ..# ..# ..# .#.",
    "_": "... ... ... ... ###", "'": ".#. .#. ... ... ...", ">": "#.. .#. ..# .#. #..", "<": "..# .#. #.. .#. ..#",
    "A": ".#. #.# ### #.# #.#", "B": "##. #.# ##. #.# ##.", "C": ".## #.. #.. #.. .##", "D": "##. #.# #.# #.# ##.",
    "E": "### #.. ##. #.. ###", "F": "### #.. ##. #.. #..", "G": ".## #.. #.# #.# .##", "H": "#.# #.# ### #.# #.#",
    "I": "### .#. .#. .#. ###", "J": "..# ..# ..# #.# .#.", "K": "#.# #.# ##. #.# #.#", "L": "#.. #.. #.. #.. ###",
    "M": "#.# ### ### #.# #.#", "N": "##. #.# #.# #.# #.#", "O": ".#. #.# #.# #.# .#.", "P": "##. #.# ##. #.. #..",
    "Q": ".#. #.# #.# ##. .##", "R": "##. #.# ##. #.# #.#", "S": ".## #.. .#. ..# ##.", "T": "### .#. .#. .#. .#.",
    "U": "#.# #.# #.# #.# ###", "V": "#.# #.# #.# #.# .#.", "W": "#.# #.# ### ### #.#", "X": "#.# #.# .#. #.# #.#",
    "Y": "#.# #.# .#. .#. .#.", "Z": "### ..# .#. #.. ###", " ": "... ... ... ... ...",
}
_UNKNOWN = "### #.# #.# #.# ###"
LABEL_COLUMN, LABEL_LINES = 20, 5  # a label's table column: 20 characters a line, at most 5 lines
LEGEND_CHARS = 24  # a label in a curve legend
GLYPH_W, GLYPH_H = 3, 5
WHITE = (1.0, 1.0, 1.0)
BACKGROUND = (0.09, 0.09, 0.11)
GRID = (0.25, 0.25, 0.28)
TEXT = (0.88, 0.88, 0.9)
DIM = (0.55, 0.55, 0.6)
COLOURS = {"blue": (0.35, 0.65, 1.0), "orange": (1.0, 0.6, 0.2), "green": (0.4, 0.85, 0.45),
           "red": (1.0, 0.35, 0.35), "violet": (0.75, 0.5, 1.0), "yellow": (0.95, 0.85, 0.3),
           "grey": (0.6, 0.6, 0.6)}


def _glyph(ch: str) -> np.ndarray:
    rows = _GLYPHS.get(ch.upper(), _UNKNOWN).split()
    return np.array([[c == "#" for c in row] for row in rows], dtype=bool)


def text_width(text: str, scale: int = 2) -> int:
    return len(text) * (GLYPH_W + 1) * scale


def draw_text(canvas: np.ndarray, x: int, y: int, text: str, colour=TEXT, scale: int = 2) -> None:
    """Write ``text`` with its top-left corner at (x, y); clipped at the canvas edges."""
    h, w = canvas.shape[:2]
    for i, ch in enumerate(text):
        mask = np.kron(_glyph(ch), np.ones((scale, scale), dtype=bool))
        x0 = x + i * (GLYPH_W + 1) * scale
        ys, xs = np.nonzero(mask)
        ys, xs = ys + y, xs + x0
        ok = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        canvas[ys[ok], xs[ok]] = colour


def draw_line(canvas: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour, width: int = 2,
              dash: int = 0) -> None:
    """A straight segment; ``dash`` > 0 draws dashes of that many pixels."""
    h, w = canvas.shape[:2]
    n = int(max(abs(x1 - x0), abs(y1 - y0), 1)) * 2 + 1
    s = np.linspace(0.0, 1.0, n)
    xs, ys = x0 + (x1 - x0) * s, y0 + (y1 - y0) * s
    if dash:
        along = np.hypot(xs - x0, ys - y0)
        keep = (along // dash) % 2 == 0
        xs, ys = xs[keep], ys[keep]
    for dy in range(-(width // 2), width - width // 2):
        for dx in range(-(width // 2), width - width // 2):
            px, py = np.round(xs).astype(int) + dx, np.round(ys).astype(int) + dy
            ok = (px >= 0) & (px < w) & (py >= 0) & (py < h)
            canvas[py[ok], px[ok]] = colour


def fmt(value: float | None, digits: int = 3, sign: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if abs(value) >= 10 ** 5:
        return f"{value:{'+' if sign else ''}.{max(1, digits - 1)}e}"
    return f"{value:{'+' if sign else ''}.{digits}f}"


def _nice_range(lo: float, hi: float) -> tuple[float, float]:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if hi - lo < 1e-9:
        pad = max(abs(hi) * 0.1, 1e-3)
        return lo - pad, hi + pad
    pad = 0.08 * (hi - lo)
    return lo - pad, hi + pad


def panel(width: int, height: int, title: str, series: list[dict], x_count: int, y_range=None,
          x_offset: float = 0.0, scale: int = 2) -> np.ndarray:
    """One line chart. ``series``: dicts with ``values`` (y per x), ``colour`` (name), optional ``label``,
    ``dash`` (px), ``x0`` (x of the first value, default ``x_offset``; values are one frame apart) or ``xs``
    (explicit x of every value); x runs over frames 0..x_count-1."""
    canvas = np.empty((height, width, 3), dtype=np.float32)
    canvas[:] = BACKGROUND
    line_h = (GLYPH_H + 3) * scale
    draw_text(canvas, 8, 6, title, TEXT, scale)
    left, right, top, bottom = 8 + text_width("-0000.0", scale), width - 10, 6 + line_h + 4, height - line_h - 4
    values = [np.asarray(s["values"], dtype=np.float64) for s in series if len(s["values"])]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(1)
    if finite.size == 0:
        finite = np.zeros(1)
    lo, hi = y_range if y_range is not None else _nice_range(float(finite.min()), float(finite.max()))
    span_x = max(x_count - 1, 1)

    def px(x):
        return left + (right - left) * x / span_x

    def py(y):
        return bottom - (bottom - top) * (y - lo) / (hi - lo)

    for frac in (0.0, 0.5, 1.0):  # horizontal grid and y labels
        yv = lo + (hi - lo) * frac
        draw_line(canvas, left, py(yv), right, py(yv), GRID, 1)
        label = fmt(yv, 2)
        draw_text(canvas, left - 4 - text_width(label, scale), int(py(yv)) - GLYPH_H * scale // 2, label, DIM, scale)
    draw_line(canvas, left, top, left, bottom, GRID, 1)
    if lo < 0 < hi:
        draw_line(canvas, left, py(0.0), right, py(0.0), DIM, 1)
    for label_x in sorted({0, x_count - 1}):  # first and last frame index
        label = str(label_x)
        draw_text(canvas, int(px(label_x)) - text_width(label, scale) // 2, bottom + 4, label, DIM, scale)
    legend_x = left + text_width("000", scale) + 8
    for s in series:
        v = np.asarray(s["values"], dtype=np.float64)
        colour = COLOURS.get(s.get("colour", "blue"), COLOURS["blue"])
        x0 = s.get("x0", x_offset)
        xs = [px(x) for x in s["xs"]] if "xs" in s else [px(x0 + i) for i in range(len(v))]
        ys = [py(float(np.clip(val, lo, hi))) if np.isfinite(val) else None for val in v]
        for i in range(len(v) - 1):
            if ys[i] is not None and ys[i + 1] is not None:
                draw_line(canvas, xs[i], ys[i], xs[i + 1], ys[i + 1], colour, 2, s.get("dash", 0))
        if len(v) == 1 and ys[0] is not None:
            draw_line(canvas, xs[0] - 2, ys[0], xs[0] + 2, ys[0], colour, 3)
        if s.get("label"):
            label = s["label"]
            mid = bottom + 4 + GLYPH_H * scale // 2
            draw_line(canvas, legend_x, mid, legend_x + 14, mid, colour, 2, s.get("dash", 0))
            draw_text(canvas, legend_x + 18, bottom + 4, label, colour, scale)
            legend_x += 18 + text_width(label, scale) + 14
    return canvas


def wrap_label(text: str, width: int = LABEL_COLUMN, lines: int = LABEL_LINES) -> list[str]:
    """``text`` in at most ``lines`` lines of at most ``width`` characters (greedy word wrap, long words broken;
    the last line ends in '...' when the text does not fit), so a table never grows with its labels."""
    flat = " ".join(text[:width * (lines + 1)].split())
    parts = textwrap.wrap(flat, width, break_on_hyphens=False) or [""]
    if len(parts) > lines or len(text) > width * (lines + 1):
        parts = parts[:lines]
        parts[-1] = parts[-1][:width - 3].rstrip() + "..."
    return parts


def legend_label(text: str, limit: int = LEGEND_CHARS) -> str:
    """One line of at most ``limit`` characters for a curve's legend."""
    return wrap_label(text, limit, 1)[0]


def table(rows: list[list[str]], header_colours: list | None = None, scale: int = 2, min_width: int = 0,
          header_rows: int = 1) -> np.ndarray:
    """A text table; the first ``header_rows`` rows are the header. Columns are left-aligned and padded."""
    cols = max(len(r) for r in rows)
    widths = [max(len(r[c]) if c < len(r) else 0 for r in rows) for c in range(cols)]
    cell = (GLYPH_W + 1) * scale
    line_h = (GLYPH_H + 4) * scale
    pad = 3 * cell
    width = max(min_width, 16 + sum(w * cell for w in widths) + pad * (cols - 1))
    height = 12 + line_h * len(rows)
    canvas = np.empty((height, width, 3), dtype=np.float32)
    canvas[:] = BACKGROUND
    for r, row in enumerate(rows):
        y = 6 + r * line_h
        if r == header_rows:
            draw_line(canvas, 8, y - scale * 2, width - 8, y - scale * 2, GRID, 1)
        head = r < header_rows
        x = 8
        for c, text in enumerate(row):
            colour = TEXT if not head else (header_colours[c] if header_colours and c < len(header_colours) and
                                            header_colours[c] is not None else WHITE)
            draw_text(canvas, x, y, text, colour if head or c > 0 else DIM, scale)
            x += widths[c] * cell + pad
    return canvas


def stack(parts: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Stack images vertically (left-aligned, background-padded to the widest)."""
    width = max(p.shape[1] for p in parts)
    out = []
    for i, p in enumerate(parts):
        if p.shape[1] < width:
            fill = np.empty((p.shape[0], width - p.shape[1], 3), dtype=np.float32)
            fill[:] = BACKGROUND
            p = np.concatenate([p, fill], axis=1)
        out.append(p)
        if gap and i < len(parts) - 1:
            sep = np.empty((gap, width, 3), dtype=np.float32)
            sep[:] = (0.0, 0.0, 0.0)
            out.append(sep)
    return np.concatenate(out, axis=0)


# ------------------------------------------------------------------------------------- metric figures
def _pct(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64) * 100.0


def camera_series(track, dash: int = 0, labels: bool = True) -> list[dict]:
    """Cumulative camera of a ``kernels.metrics.CameraTrack``: pan in % of the frame, zoom in %, roll in deg."""
    return [
        {"values": _pct(track.pan_x), "colour": "blue", "label": "PAN X %" if labels else None, "dash": dash},
        {"values": _pct(track.pan_y), "colour": "green", "label": "PAN Y %" if labels else None, "dash": dash},
        {"values": _pct(np.asarray(track.zoom) - 1), "colour": "orange", "label": "ZOOM %" if labels else None,
         "dash": dash},
        {"values": np.asarray(track.roll), "colour": "violet", "label": "ROLL DEG" if labels else None,
         "dash": dash},
    ]


def metrics_figure(m, width: int = 720, panel_height: int = 150) -> np.ndarray:
    """Four panels over the frames of a ``kernels.metrics.VideoMetrics``: motion, SSIM, flicker, camera."""
    t = m.frames
    top_x0 = m.dynamic_stride / 2.0
    motion = panel(width, panel_height, f"MOTION {fmt(m.motion, 2)} PX/FRAME  DYNAMIC {fmt(m.dynamic_degree, 2)}", [
        {"values": m.motion_pairs, "colour": "blue", "label": "MEAN", "x0": 0.5},
        {"values": m.top_pairs, "colour": "orange", "label": "TOP 5%", "x0": top_x0},
        {"values": [m.dynamic_threshold] * 2, "xs": [0, t - 1], "colour": "grey", "label": "THRESHOLD", "dash": 6},
    ], t)
    ref = "REFERENCE" if m.reference_given else "FRAME 0"
    ssim_lo = min(0.0, float(np.min(m.ssim_frames)))
    fidelity = panel(width, panel_height, f"SSIM TO {ref} {fmt(m.ssim, 3)}  PSNR {fmt(m.psnr, 1)} DB",
                     [{"values": m.ssim_frames, "colour": "green", "label": "SSIM"}], t, y_range=(ssim_lo, 1.05))
    flicker = panel(width, panel_height, f"FLICKER {fmt(m.flicker, 4)}  MEAN DIFF {fmt(m.flicker_mae, 2)}/255", [
        {"values": m.flicker_pairs, "colour": "orange", "label": "FRAME DIFF", "x0": 0.5}], t)
    series = camera_series(m.camera)
    title = "CAMERA FIT"
    if m.requested is not None:
        series += camera_series(m.requested, dash=5, labels=False)
        title += f" (DASHED: REQUESTED)  ERROR {fmt(m.camera_error, 3)} PX/FRAME"
    cam = panel(width, panel_height, title, series, t)
    return stack([motion, fidelity, flicker, cam])


def compare_figure(a, b, labels: tuple[str, str], ab_ssim: float | None, width: int = 720) -> np.ndarray:
    """Table of both videos' metrics (with B - A) over curves of motion and SSIM for A (blue), B (orange)."""
    la, lb = (s.upper() for s in labels)
    heads = [wrap_label(la), wrap_label(lb)]
    rows = [["METRIC" if i == 0 else "", *(h[i] if i < len(h) else "" for h in heads), "B - A" if i == 0 else ""]
            for i in range(max(map(len, heads)))]
    header_rows = len(rows)

    def row(name, va, vb, digits=3, diff=True):
        rows.append([name, fmt(va, digits), fmt(vb, digits), fmt(vb - va, digits, sign=True) if diff else ""])

    row("MOTION PX/FRAME", a.motion, b.motion, 2)
    row("DYNAMIC DEGREE", a.dynamic_degree, b.dynamic_degree, 2)
    rows.append(["DYNAMIC (VBENCH RULE)", "YES" if a.dynamic else "NO", "YES" if b.dynamic else "NO", ""])
    row("FLICKER (1 = STEADY)", a.flicker, b.flicker, 4)
    row("FLICKER 2ND ORDER", a.flicker_2nd, b.flicker_2nd, 2)
    row("SSIM TO REFERENCE", a.ssim, b.ssim, 3)
    row("SSIM FIRST FRAME", float(a.ssim_frames[0]), float(b.ssim_frames[0]), 3)
    row("SSIM LAST FRAME", float(a.ssim_frames[-1]), float(b.ssim_frames[-1]), 3)
    row("PSNR DB", a.psnr, b.psnr, 1)
    ca, cb = a.camera.totals(), b.camera.totals()
    row("CAMERA PAN X %", ca["pan_x"] * 100, cb["pan_x"] * 100, 1)
    row("CAMERA PAN Y %", ca["pan_y"] * 100, cb["pan_y"] * 100, 1)
    row("CAMERA ZOOM X", ca["zoom"], cb["zoom"], 3)
    row("CAMERA ROLL DEG", ca["roll"], cb["roll"], 1)
    if ab_ssim is not None:
        rows.append(["SSIM A TO B", "", "", fmt(ab_ssim, 3)])
    tab = table(rows, [WHITE, COLOURS["blue"], COLOURS["orange"], WHITE], min_width=width, header_rows=header_rows)
    t = max(a.frames, b.frames)
    la, lb = legend_label(la), legend_label(lb)
    motion = panel(tab.shape[1], 150, "MOTION PX/FRAME", [
        {"values": a.motion_pairs, "colour": "blue", "label": la, "x0": 0.5},
        {"values": b.motion_pairs, "colour": "orange", "label": lb, "x0": 0.5}], t)
    lo = min(0.0, float(np.min(a.ssim_frames)), float(np.min(b.ssim_frames)))
    ssim = panel(tab.shape[1], 150, "SSIM TO REFERENCE", [
        {"values": a.ssim_frames, "colour": "blue", "label": la},
        {"values": b.ssim_frames, "colour": "orange", "label": lb}], t, y_range=(lo, 1.05))
    return stack([tab, motion, ssim])
