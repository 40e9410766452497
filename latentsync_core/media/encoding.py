"""Which encoder, pixel format and tags an output video is written with.

The output keeps the source's colour (:class:`~latentsync_core.media.colourspace.ColourSpace`): its matrix,
range, primaries and transfer are written as tags and used for the conversion, and its depth and
chroma layout are kept:

- lossy, 8-bit: H.264 High (``libx264``, 4:2:0), which every player, browser and editor plays
  (ComfyUI's preview is the browser's); ``mpeg4`` when PyAV's FFmpeg has no x264.
- lossy, 10 or 12 bits (HEVC Main 10, ProRes, HDR phone video): HEVC Main 10 (``libx265``, 4:2:0,
  10 bits), tagged ``hvc1`` in .mp4/.mov. It is what phones and cameras record 10-bit and HDR video
  in: hardware decoded on GPUs since 2016, played by QuickTime, Safari, VLC, mpv, Chrome and Edge
  where the system decodes HEVC, and Windows' own player with the HEVC Video Extension, and decoded
  by the PyAV and FFmpeg that ComfyUI's and VideoHelperSuite's loaders use. H.264 High 10 is decoded
  almost nowhere in hardware (no browser, no Apple or Windows player), so it is only the fallback
  for an FFmpeg without x265. The same ``crf`` number is used (x265 at a given crf is at least as
  good as x264). 4:2:2 / 4:4:4 and 12-bit sources (ProRes, screen captures) come out 4:2:0 10-bit:
  a delivery format; their own layout is kept by lossless mode.
- lossless (``crf=0``): the source's own pixel format, so unchanged pixels come out plane for plane
  as decoded: FFV1 in .mkv, lossless H.264 (``qp=0``) in .mp4/.mov (12-bit: lossless HEVC); frames
  given as RGB only (an enlarged background, a ComfyUI IMAGE batch) are written as lossless RGB
  (FFV1 ``bgr0``, ``libx264rgb``), which decodes to the same RGB bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import av
from av.video.reformatter import ColorRange

from .colourspace import ColourSpace

_X264 = ("yuv420p", "yuv422p", "yuv444p", "yuv420p10le", "yuv422p10le", "yuv444p10le", "gray", "gray10le")
_X265 = ("yuv420p", "yuv422p", "yuv444p", "yuv420p10le", "yuv422p10le", "yuv444p10le",
         "yuv420p12le", "yuv422p12le", "yuv444p12le", "gray", "gray10le", "gray12le")


@dataclass(frozen=True)
class Encoding:
    """How to encode: ``codec`` with ``pix_fmt`` and ``options``; YUV written with ``matrix`` and ``range``.

    ``note``: one sentence for the log when the output cannot keep the source's depth, else None.
    """

    codec: str
    pix_fmt: str
    matrix: int
    range: int
    options: dict[str, str] = field(default_factory=dict)
    codec_tag: str | None = None
    note: str | None = None


def _has(codec: str, pix_fmt: str | None = None) -> bool:
    try:
        formats = av.codec.Codec(codec, "w").video_formats or ()
    except av.FFmpegError:
        return False
    return pix_fmt is None or pix_fmt in {f.name for f in formats}


def _hevc_tag(container: str) -> str | None:
    """``hvc1`` (parameter sets in the sample entry) in .mp4/.mov, which QuickTime and Safari require."""
    return None if container == "matroska" else "hvc1"


def choose_encoding(colour: ColourSpace, container: str, crf: int, preset: str, width: int, height: int) -> Encoding:
    """The encoding of frames of ``colour`` into ``container`` (``mp4``, ``mov``, ``matroska``) at ``crf``.

    ``colour.pix_fmt`` is what the writer is given: the source's planes, or ``rgb24`` for RGB frames.
    """
    matrix, colour_range = colour.yuv_matrix(width, height), colour.range
    if colour.pix_fmt.startswith("rgb") and colour.matrix == 0:
        colour_range = ColorRange.MPEG
    if crf == 0:
        if colour.pix_fmt == "rgb24":
            codec = "ffv1" if container == "matroska" else "libx264rgb"
            options = {} if codec == "ffv1" else {"qp": "0", "preset": preset}
            return Encoding(codec, "bgr0" if codec == "ffv1" else "rgb24", 0, ColorRange.JPEG, options)
        if container == "matroska":
            return Encoding("ffv1", colour.pix_fmt, colour.matrix, colour.range)
        if colour.pix_fmt in _X264 and _has("libx264", colour.pix_fmt):
            return Encoding("libx264", colour.pix_fmt, colour.matrix, colour.range, {"qp": "0", "preset": preset})
        pix_fmt = colour.pix_fmt if colour.pix_fmt in _X265 else "gbrp12le"
        return Encoding("libx265", pix_fmt, matrix, colour_range,
                        {"preset": preset, "x265-params": "lossless=1:log-level=error"}, _hevc_tag(container))
    deep = colour.depth > 8
    pix_fmt = "yuv420p10le" if deep else "yuv420p"
    if not deep:
        if _has("libx264", pix_fmt):
            return Encoding("libx264", pix_fmt, matrix, colour_range, {"crf": str(crf), "preset": preset})
        return Encoding("mpeg4", "yuv420p", matrix, colour_range)
    if _has("libx265", pix_fmt):
        return Encoding("libx265", pix_fmt, matrix, colour_range,
                        {"crf": str(crf), "preset": preset, "x265-params": "log-level=error"}, _hevc_tag(container))
    if _has("libx264", pix_fmt):
        return Encoding("libx264", pix_fmt, matrix, colour_range, {"crf": str(crf), "preset": preset})
    eight = pix_fmt.replace("10le", "").replace("12le", "")
    codec = "libx264" if _has("libx264", eight) else "mpeg4"
    return Encoding(codec, eight if codec == "libx264" else "yuv420p", matrix, colour_range,
                    {"crf": str(crf), "preset": preset} if codec == "libx264" else {},
                    note=f"written with 8 bits per sample: this FFmpeg has no {colour.depth}-bit encoder for {pix_fmt}")
