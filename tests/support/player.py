"""Reading a video file the way a player does: the yardsticks the media tests judge the pack's output by.

All on the ffmpeg command line, never the pack's own decoding. It honours the file's tags; where a
file has none it is decoded as players do: HD as BT.709, SD as BT.601, tv range (:func:`scale_matrix`);
rotation applied.

- :func:`ffmpeg_installed`: whether the ffmpeg and ffprobe commands are there;
- :func:`tags`: matrix, range, primaries, transfer, pixel format, depth and the size and rotation a viewer sees;
- :func:`player_rgb`: frames as RGB in 8-bit levels (float, 10-bit kept as fractions of a level);
- :func:`planes`: the decoded planes, in the file's own pixel format (lossless: must be equal) or another;
- :func:`reencode`: a plain re-encode of a file at given settings, tags kept: the yardstick for
  "within codec noise".
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

#: ffprobe's matrix names -> the scale filter's.
_SCALE_MATRIX = {"bt709": "bt709", "smpte170m": "smpte170m", "bt470bg": "bt470", "bt2020nc": "bt2020",
                 "bt2020c": "bt2020", "fcc": "fcc", "smpte240m": "smpte240m"}
#: The tags a viewer's picture depends on (the stored rotation may differ when the frames are stored upright).
VIEWED = ("matrix", "range", "primaries", "transfer", "pix_fmt", "bits", "shown")


def ffmpeg_installed() -> bool:
    """Whether the ffmpeg and ffprobe command lines are installed."""
    return bool(shutil.which("ffmpeg") and shutil.which("ffprobe"))


def run_tool(args: list[str], stdin: bytes | None = None) -> bytes:
    """Run ffmpeg or ffprobe (``args[0]``); its stdout, or a RuntimeError with the end of its stderr."""
    done = subprocess.run(args, input=stdin, capture_output=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args[:12])} ... failed: {done.stderr.decode(errors='replace')[-800:]}")
    return done.stdout


def scale_matrix(matrix: str | None, width: int, height: int) -> str:
    """The scale filter's name for ffprobe's ``matrix``; untagged (None, "unknown"): what players assume,
    BT.709 for HD (1280 wide or 720 high and up), BT.601 for SD."""
    return _SCALE_MATRIX.get(matrix or "") or ("bt709" if width >= 1280 or height >= 720 else "smpte170m")


def probe(path: str | os.PathLike) -> dict:
    """ffprobe's streams (with side data) and format of ``path``."""
    return json.loads(run_tool(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", os.fspath(path)]))


def video_stream(info: dict) -> dict:
    """The first video stream of a :func:`probe` result."""
    return next(s for s in info["streams"] if s["codec_type"] == "video")


def _rotation(stream: dict) -> int:
    """Counter-clockwise display rotation in 0..270 (ffprobe reports the display matrix's angle)."""
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return round(float(side["rotation"])) % 360
    return round(float(stream.get("tags", {}).get("rotate", 0))) % 360


def tags(path: str | os.PathLike) -> dict[str, object]:
    """What a viewer's colour and orientation depend on: ``matrix``, ``range``, ``primaries``, ``transfer``
    (ffprobe's names; "unknown" when untagged), ``pix_fmt`` (``yuvj*`` named ``yuv*``: the range says it),
    ``bits``, ``shown`` (WxH as displayed) and ``rotation`` (of the stored frames)."""
    stream = video_stream(probe(path))
    rotation = _rotation(stream)
    w, h = int(stream["width"]), int(stream["height"])
    pix_fmt = stream.get("pix_fmt", "unknown")
    colour_range = stream.get("color_range", "unknown")
    if pix_fmt.startswith("yuvj"):
        pix_fmt, colour_range = pix_fmt.replace("yuvj", "yuv"), "pc"
    return {
        "matrix": stream.get("color_space", "unknown"), "range": colour_range,
        "primaries": stream.get("color_primaries", "unknown"), "transfer": stream.get("color_transfer", "unknown"),
        "pix_fmt": pix_fmt, "bits": int(stream.get("bits_per_raw_sample") or (10 if "10" in pix_fmt else 8)),
        "shown": f"{h}x{w}" if rotation in (90, 270) else f"{w}x{h}", "rotation": rotation,
    }


def _shown(t: dict[str, object]) -> tuple[int, int]:
    """``(width, height)`` as displayed, from :func:`tags`."""
    w, h = map(int, str(t["shown"]).split("x"))
    return w, h


def stored_pix_fmt(path: str | os.PathLike) -> str:
    """The pixel format ``path``'s video decodes to (``yuvj*`` as such)."""
    return video_stream(probe(path))["pix_fmt"]


def player_rgb(path: str | os.PathLike) -> np.ndarray:
    """``(N, H, W, 3)`` float32 RGB in 8-bit levels (0..255), as a player shows ``path``: upright, with its
    tagged matrix and range (untagged: BT.709 for HD, BT.601 for SD, tv range)."""
    t = tags(path)
    w, h = _shown(t)
    matrix = scale_matrix(str(t["matrix"]), w, h)
    colour_range = t["range"] if t["range"] in ("tv", "pc") else "tv"
    raw = run_tool(["ffmpeg", "-v", "error", "-i", os.fspath(path), "-fps_mode", "passthrough", "-vf",
                    f"scale=in_color_matrix={matrix}:in_range={colour_range}:flags=accurate_rnd+full_chroma_int,"
                    "format=rgb48le", "-f", "rawvideo", "-"])
    return (np.frombuffer(raw, "<u2").reshape(-1, h, w, 3) / 257.0).astype(np.float32)


def planes(path: str | os.PathLike, pix_fmt: str | None = None) -> list[bytes]:
    """Each frame's decoded planes of ``path`` in ``pix_fmt`` (None: ``path``'s own, :func:`stored_pix_fmt`,
    unconverted: for a plane-by-plane comparison), upright, as bytes."""
    decode = ["ffmpeg", "-v", "error", "-i", os.fspath(path), "-fps_mode", "passthrough",
              "-f", "rawvideo", "-pix_fmt", pix_fmt or stored_pix_fmt(path)]
    raw = run_tool([*decode, "-"])
    one = len(run_tool([*decode, "-frames:v", "1", "-"]))
    return [raw[i:i + one] for i in range(0, len(raw), one)]


def reencode(src: str | os.PathLike, dst: str | os.PathLike, settings: tuple[str, ...] | list[str],
             pix_fmt: str | None = None) -> Path:
    """A plain re-encode of ``src``'s video by the ffmpeg command line: ``settings`` (the encoder and its
    options), every frame at its timestamp, tags and rotation kept, in ``pix_fmt`` (None, or ``src``'s own
    but for ``yuvj``: its own; another chroma layout or depth by FFmpeg's scaler, bilinear as PyAV's)."""
    t = tags(src)
    stored = stored_pix_fmt(src)
    if pix_fmt is None or pix_fmt == t["pix_fmt"]:
        pix_fmt = stored
    colour = [x for flag, key in (("-colorspace", "matrix"), ("-color_range", "range"), ("-color_primaries", "primaries"),
                                  ("-color_trc", "transfer")) if t[key] != "unknown" for x in (flag, str(t[key]))]
    run_tool(["ffmpeg", "-v", "error", "-y", "-i", os.fspath(src), "-an", "-fps_mode", "passthrough", "-enc_time_base", "-1",
              "-sws_flags", "bilinear", *settings, "-pix_fmt", pix_fmt, *colour, os.fspath(dst)])
    return Path(dst)
