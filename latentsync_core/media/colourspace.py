"""A video's colour as a player shows it, and the exact conversions between its planes and RGB.

:class:`ColourSpace` is what :func:`~latentsync_core.media.video_io.probe` reads from a source: the
YUV matrix, the range, the primaries and the transfer (FFmpeg's ``AVCOL_*`` numbers, as PyAV's
``frame.colorspace``, ``color_range``, ``color_primaries``, ``color_trc`` give them) and the
pixel format the decoded planes are kept in. Untagged values are resolved as players resolve
them: HD (height >= 720 or width >= 1280) is BT.709, SD is BT.601, YUV is limited ("tv") range
unless the format says full (``yuvj*``), RGB is full range.

Decoding keeps each source frame twice (:class:`DecodedFrame`): its planes in the source's own
depth and chroma layout (:attr:`ColourSpace.pix_fmt`: the decoded format, or its planar twin), and
the 8-bit RGB the models see, converted with the source's matrix and range (for deeper sources:
the full-depth RGB rounded to 8 bits). Writing goes back through :func:`edited_planes`: pixels
whose 8-bit RGB the job did not change keep the decoded planes bit for bit; the changed ones are
pasted into the full-depth RGB of that region and converted back with the same matrix and range.

HDR (PQ or HLG transfer, BT.2020 primaries) is not tone mapped: the models see the 8-bit code
values of the source's own transfer and primaries (a flatter, less saturated picture than an SDR
video of the same scene), and the mouth they make is pasted back in the same code values, so the
frame keeps its transfer and the output its HDR tags.
"""
from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, ColorTrc, Colorspace, VideoReformatter

#: ``AVColorSpace`` numbers (``frame.colorspace``).
RGB, BT709, FCC, BT470BG, SMPTE170M, SMPTE240M, BT2020_NCL, BT2020_CL = 0, 1, 4, 5, 6, 7, 9, 10

#: ``AVColorSpace`` -> the swscale matrix that converts it (constant-luminance BT.2020 as non-constant).
_SWS_MATRIX = {
    BT709: Colorspace.ITU709, FCC: Colorspace.FCC, BT470BG: Colorspace.ITU601, SMPTE170M: Colorspace.ITU601,
    SMPTE240M: Colorspace.SMPTE240M, BT2020_NCL: Colorspace.BT2020, BT2020_CL: Colorspace.BT2020,
}

#: Transfers of HDR video: PQ (HDR10, Dolby Vision base layer) and HLG (phones, broadcast).
HDR_TRANSFERS = (ColorTrc.SMPTE2084, ColorTrc.ARIB_STD_B67)

def is_hd(width: int, height: int) -> bool:
    """Whether players treat an untagged ``width x height`` video as HD (BT.709) rather than SD (BT.601)."""
    return height >= 720 or width >= 1280


def working_format(fmt: av.VideoFormat) -> str:
    """The pixel format decoded planes of ``fmt`` are kept in: ``yuv4{20,22,44}p`` at 8, 10 or 12 bits
    (little-endian), ``gray`` at 8, 10 or 12 bits, ``rgb24`` or ``rgb48le``; ``fmt`` itself when it is one.

    Semi-planar (``nv12``, ``p010``), big-endian, alpha and ``yuvj`` variants map to their planar
    little-endian YUV twin (an exact repacking); RGB to ``rgb24`` or ``rgb48le``; a YUV layout with
    no twin (4:1:1, 4:4:0, 9/14/16 bits) to the nearest one, upsampled.
    """
    bits = max(c.bits for c in fmt.components)
    if fmt.is_rgb or fmt.has_palette or fmt.is_bayer:
        return "rgb24" if bits <= 8 else "rgb48le"
    depth = "" if bits <= 8 else "10le" if bits <= 10 else "12le"
    if len(fmt.components) < 3:
        return f"gray{depth}"
    w, h = fmt.chroma_width(16), fmt.chroma_height(16)
    layout = {(8, 8): "420", (8, 16): "422"}.get((w, h), "444")
    return f"yuv{layout}p{depth}"


@dataclass(frozen=True)
class ColourSpace:
    """How a video's pixels are to be read and written.

    Attributes:
        matrix: ``AVColorSpace`` of the YUV matrix (``RGB`` for RGB formats).
        range: ``AVColorRange``: 1 limited (tv), 2 full (pc).
        primaries: ``AVColorPrimaries``.
        transfer: ``AVColorTransferCharacteristic``.
        pix_fmt: the pixel format the decoded planes are kept in (:func:`working_format`).
    """

    matrix: int
    range: int
    primaries: int
    transfer: int
    pix_fmt: str

    @classmethod
    def of_frame(
        cls, frame: av.VideoFrame, width: int, height: int, pix_fmt: str | None = None,
        stream: av.video.codeccontext.VideoCodecContext | None = None,
    ) -> ColourSpace:
        """The colour of a decoded ``frame`` of a ``width x height`` video.

        A tag the frame lacks is taken from ``stream`` (the container's, e.g. a .mov ``colr``
        atom), else resolved as players do.
        """
        def tag(name: str, known: set[int]) -> int | None:
            for value in (getattr(frame, name), getattr(stream, name, None)):
                if value in known:
                    return int(value)
            return None

        pix_fmt = pix_fmt or working_format(frame.format)
        hd = is_hd(width, height)
        rgb = av.VideoFormat(pix_fmt).is_rgb
        matrix = RGB if rgb else tag("colorspace", set(_SWS_MATRIX)) or (BT709 if hd else SMPTE170M)
        full = rgb or frame.format.name.startswith("yuvj")
        colour_range = tag("color_range", {ColorRange.MPEG, ColorRange.JPEG}) or (
            ColorRange.JPEG if full else ColorRange.MPEG)
        primaries = tag("color_primaries", {int(v) for v in ColorPrimaries} - {ColorPrimaries.UNSPECIFIED}) or (
            ColorPrimaries.BT709 if hd else ColorPrimaries.SMPTE170M)
        transfer = tag("color_trc", {int(v) for v in ColorTrc} - {ColorTrc.UNSPECIFIED}) or (
            ColorTrc.BT709 if hd else ColorTrc.SMPTE170M)
        return cls(int(matrix), int(colour_range), int(primaries), int(transfer), pix_fmt)

    @classmethod
    def for_rgb(cls, width: int, height: int) -> ColourSpace:
        """The colour space of RGB frames of unknown origin (e.g. a ComfyUI IMAGE batch): as players show untagged video."""
        if is_hd(width, height):
            return cls(RGB, ColorRange.JPEG, ColorPrimaries.BT709, ColorTrc.BT709, "rgb24")
        return cls(RGB, ColorRange.JPEG, ColorPrimaries.SMPTE170M, ColorTrc.SMPTE170M, "rgb24")

    @property
    def depth(self) -> int:
        """Bits per sample of the planes (8, 10, 12 or 16)."""
        return max(c.bits for c in av.VideoFormat(self.pix_fmt).components)

    @property
    def is_rgb(self) -> bool:
        return self.matrix == RGB

    @property
    def hdr(self) -> bool:
        return self.transfer in HDR_TRANSFERS

    def yuv_matrix(self, width: int, height: int) -> int:
        """The matrix YUV output uses: the source's, or for RGB sources the one players assume for the size."""
        if not self.is_rgb:
            return self.matrix
        return BT709 if is_hd(width, height) else SMPTE170M

    def tag(self, frame: av.VideoFrame, matrix: int | None = None, colour_range: int | None = None) -> av.VideoFrame:
        """Set ``frame``'s colour tags to this colour (``matrix``, ``colour_range``: those of a YUV encoding of RGB)."""
        frame.colorspace = self.matrix if matrix is None else matrix
        frame.color_range = self.range if colour_range is None else colour_range
        frame.color_primaries = self.primaries
        frame.color_trc = self.transfer
        return frame

    def convert(self, frame: av.VideoFrame, pix_fmt: str, matrix: int | None = None, colour_range: int | None = None,
                width: int | None = None, height: int | None = None,
                reformatter: VideoReformatter | None = None) -> av.VideoFrame:
        """``frame`` (in this colour) as ``pix_fmt``, YUV written with ``matrix`` and ``colour_range`` (default: ours).

        A YUV ``frame`` is read with this colour's matrix and range whatever its own tags say
        (an RGB one as full range); the transfer and primaries are left as they are (no gamut
        or tone mapping). ``reformatter``: one kept for a stream of frames converted alike
        (FFmpeg's scaler is set up once, not per frame).
        """
        shift = _SEMI_PLANAR_SHIFT.get((frame.format.name, pix_fmt))
        same_size = width in (None, frame.width) and height in (None, frame.height)
        if shift is not None and matrix is None and colour_range is None and same_size:
            return self.frame(_unpack_semi_planar(frame, shift))  # the same samples, repacked by hand: exact
        default = self.yuv_matrix(frame.width, frame.height)
        src_matrix = _SWS_MATRIX.get(default, Colorspace.ITU601)
        src_range = ColorRange.JPEG if frame.format.is_rgb else self.range
        rgb_out = av.VideoFormat(pix_fmt).is_rgb
        dst = RGB if rgb_out else self.matrix if matrix is None else matrix
        dst_matrix = _SWS_MATRIX.get(default if dst == RGB else dst, Colorspace.ITU601)
        dst_range = ColorRange.JPEG if rgb_out else self.range if colour_range is None else colour_range
        options = dict(width=width, height=height, format=pix_fmt, src_colorspace=src_matrix, dst_colorspace=dst_matrix,
                       src_color_range=src_range, dst_color_range=dst_range)
        out = frame.reformat(**options) if reformatter is None else reformatter.reformat(frame, **options)
        return self.tag(out, dst, dst_range)

    def rgb(self, frame: av.VideoFrame, reformatter: VideoReformatter | None = None) -> np.ndarray:
        """``(H, W, 3)`` RGB of ``frame``: uint8, or uint16 (0..65535) for sources deeper than 8 bits."""
        return self.convert(frame, "rgb24" if self.depth <= 8 else "rgb48le", reformatter=reformatter).to_ndarray()

    def planes(self, frame: av.VideoFrame) -> tuple[np.ndarray, ...]:
        """Copies of the planes of ``frame`` (in :attr:`pix_fmt`): ``(h, w)`` each, ``(H, W, 3)`` for RGB."""
        return tuple(_read_plane(p, self.pix_fmt) for p in frame.planes)

    def frame(self, planes: tuple[np.ndarray, ...], width: int | None = None, height: int | None = None) -> av.VideoFrame:
        """A tagged :class:`av.VideoFrame` in :attr:`pix_fmt` holding ``planes``, padded by its edge pixels
        to ``width x height`` when that is larger."""
        frame = av.VideoFrame(width or planes[0].shape[1], height or planes[0].shape[0], self.pix_fmt)
        for plane, data in zip(frame.planes, planes):
            if data.shape[:2] != (plane.height, plane.width):
                pad = ((0, plane.height - data.shape[0]), (0, plane.width - data.shape[1])) + ((0, 0),) * (data.ndim - 2)
                data = np.pad(data, pad, mode="edge")
            _write_plane(plane, data, self.pix_fmt)
        return self.tag(frame)


def _plane_view(plane: av.video.plane.VideoPlane, pix_fmt: str) -> np.ndarray:
    deep = max(c.bits for c in av.VideoFormat(pix_fmt).components) > 8
    dtype = np.uint16 if deep else np.uint8
    channels = 3 if pix_fmt in ("rgb24", "rgb48le") else 1
    rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)
    view = rows[:, : plane.width * channels]
    return view.reshape(plane.height, plane.width, 3) if channels == 3 else view


#: Semi-planar formats (hardware decoders' NV12 / P010) and their planar twins: the bits the samples sit above.
_SEMI_PLANAR_SHIFT = {("nv12", "yuv420p"): 0, ("p010le", "yuv420p10le"): 6}


def _unpack_semi_planar(frame: av.VideoFrame, shift: int) -> tuple[np.ndarray, ...]:
    """The Y, U and V planes of an NV12 / P010 ``frame`` (interleaved UV split; P010's samples shifted down)."""
    dtype = np.uint16 if shift else np.uint8
    luma, chroma = frame.planes[0], frame.planes[1]
    y = np.frombuffer(luma, np.uint8).view(dtype).reshape(luma.height, -1)[:, : luma.width]
    uv = np.frombuffer(chroma, np.uint8).view(dtype).reshape(chroma.height, -1)[:, : 2 * chroma.width]
    return tuple(np.right_shift(p, shift).astype(dtype) for p in (y, uv[:, 0::2], uv[:, 1::2]))


def _read_plane(plane: av.video.plane.VideoPlane, pix_fmt: str) -> np.ndarray:
    return _plane_view(plane, pix_fmt).copy()


def _write_plane(plane: av.video.plane.VideoPlane, data: np.ndarray, pix_fmt: str) -> None:
    deep = max(c.bits for c in av.VideoFormat(pix_fmt).components) > 8
    dtype = np.uint16 if deep else np.uint8
    rows = np.frombuffer(plane, np.uint8).view(dtype).reshape(plane.height, -1)
    channels = 3 if data.ndim == 3 else 1
    rows[:, : plane.width * channels] = data.reshape(plane.height, -1)
    # the line padding too: a new frame's buffer is uninitialised, and FFmpeg's SIMD code may read past the width
    rows[:, plane.width * channels :] = 0


@dataclass
class DecodedFrame:
    """One source frame as decoded, upright.

    Attributes:
        planes: the planes in the source's :attr:`ColourSpace.pix_fmt` (its own depth and chroma layout).
        rgb: ``(H, W, 3)`` uint8, the RGB the job was given for this frame (not to be written into).
    """

    planes: tuple[np.ndarray, ...]
    rgb: np.ndarray


#: Pixels around a changed region converted with it, so its chroma is filtered from real neighbours.
_MARGIN = 8


def edited_planes(colour: ColourSpace, decoded: DecodedFrame, edited: np.ndarray) -> tuple[np.ndarray, ...]:
    """The planes of ``decoded`` with the pixels where ``edited`` differs from ``decoded.rgb`` replaced.

    ``edited``: ``(H, W, 3)`` uint8, the job's output for this frame. Where it equals the decoded
    8-bit RGB the planes are kept bit for bit (a frame without a face comes back as decoded). The
    changed region (with a margin) is converted to RGB at the source's depth, the changed pixels
    are replaced by ``edited`` (8-bit values scaled to that depth), and the region is converted
    back with the source's matrix and range; luma is taken where a pixel changed, chroma where any
    pixel of its subsampled block changed.
    """
    if np.array_equal(edited, decoded.rgb):
        return decoded.planes
    diff = edited != decoded.rgb
    rows = np.flatnonzero(diff.reshape(diff.shape[0], -1).any(axis=1))
    band = diff[rows[0]: rows[-1] + 1]
    changed = np.zeros(diff.shape[:2], bool)
    changed[rows[0]: rows[-1] + 1] = band[..., 0] | band[..., 1] | band[..., 2]
    if colour.is_rgb:
        plane = decoded.planes[0].copy()
        plane[changed] = edited[changed].astype(plane.dtype) * (257 if plane.dtype == np.uint16 else 1)
        return (plane,)
    fmt = av.VideoFormat(colour.pix_fmt)
    sx = 16 // fmt.chroma_width(16) if len(decoded.planes) > 1 else 1
    sy = 16 // fmt.chroma_height(16) if len(decoded.planes) > 1 else 1
    height, width = changed.shape
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    top = max(0, rows[0] - _MARGIN) // sy * sy
    left = max(0, cols[0] - _MARGIN) // sx * sx
    bottom = min(height, -(-(rows[-1] + 1 + _MARGIN) // sy) * sy)
    right = min(width, -(-(cols[-1] + 1 + _MARGIN) // sx) * sx)
    crop = tuple(
        p[top // (sy if i else 1): -(-bottom // (sy if i else 1)), left // (sx if i else 1): -(-right // (sx if i else 1))]
        for i, p in enumerate(decoded.planes)
    )
    region = colour.frame(tuple(np.ascontiguousarray(p) for p in crop))
    box = changed[top:bottom, left:right]
    new = edited[top:bottom, left:right]
    if colour.depth > 8:
        full = colour.rgb(region)
        full[box] = new[box].astype(np.uint16) * 257
        rgb = av.VideoFrame.from_ndarray(full, format="rgb48le")
    else:
        rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(new), format="rgb24")
    converted = colour.planes(colour.convert(rgb, colour.pix_fmt))
    out = tuple(p.copy() for p in decoded.planes)
    out[0][top:bottom, left:right][box] = converted[0][box]
    if len(out) > 1:
        h, w = converted[1].shape
        pad = np.zeros((h * sy, w * sx), bool)
        pad[: box.shape[0], : box.shape[1]] = box
        block = pad.reshape(h, sy, w, sx).any(axis=(1, 3))
        for plane, new_plane in zip(out[1:], converted[1:]):
            plane[top // sy: top // sy + h, left // sx: left // sx + w][block] = new_plane[block]
    return out
