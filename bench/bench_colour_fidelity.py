"""How far a read -> write through the media layer moves a 1280x720 BT.709 clip, as a player shows it.

Two 25-frame 1280x720 H.264 clips tagged BT.709 (tv range), made with the ffmpeg command line: a
saturated test card (``testsrc2``) and a photograph panning (``tests/data/astronaut.png``, as a
real talking-head clip's untouched frames are). Each is read with ``read_windows`` and written
with ``VideoWriter`` unchanged (crf 18 and lossless), and re-encoded plainly (the decoded planes
straight into the same encoder and settings). All files are decoded as a player does: the ffmpeg
command line with each file's tagged matrix and range, or BT.709 where an HD file is untagged.
Printed: mean and max absolute difference from the source in 8-bit levels, and the output's tags.

    python bench/bench_colour_fidelity.py                   # this checkout
    python bench/bench_colour_fidelity.py --code OTHER_DIR  # another checkout's latentsync_core (e.g. main)

Needs the ffmpeg command line (Debian: apt-get install ffmpeg).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from player import player_rgb, reencode, tags  # noqa: E402

TAGS = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]
X264 = ["-c:v", "libx264", "-crf", "10", "-preset", "veryfast"]


def make_sources(folder: str) -> dict[str, str]:
    card, photo = os.path.join(folder, "card709.mp4"), os.path.join(folder, "photo709.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-frames:v", "25",
                    "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p", *X264, *TAGS, card], check=True)
    image = os.path.join(ROOT, "tests", "data", "astronaut.png")
    pan = "scale=1600:1600,crop=1280:720:x='10*n':y='300+4*n',scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", "25", "-i", image, "-frames:v", "25",
                    "-vf", pan, *X264, *TAGS, photo], check=True)
    return {"test card": card, "photo pan": photo}


def copy(src: str, dst: str, crf: int):
    from latentsync_core.media.video_io import VideoWriter, probe, read_windows

    info = probe(src)
    with VideoWriter(dst, info, crf=crf) as writer:
        for window in read_windows(info, 8):
            decoded = getattr(window, "decoded", None)  # None before the colour change
            writer.write(window.frames, window.pts, *([decoded] if decoded is not None else []))
    return getattr(writer, "encoding", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", default=ROOT, help="checkout whose latentsync_core is measured")
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.code))
    with tempfile.TemporaryDirectory() as folder:
        for name, src in make_sources(folder).items():
            source = player_rgb(src)
            print(f"{name} ({src and os.path.basename(src)}), source tags {tuple(tags(src).values())[:5]}")
            for crf in (18, 0):
                out = os.path.join(folder, f"out{crf}.mp4")
                encoding = copy(src, out, crf)
                diff = np.abs(player_rgb(out) - source)
                print(f"  read -> write crf {crf:2d}: mean {diff.mean():.2f}, max {diff.max():.1f} levels; "
                      f"tags {tuple(tags(out).values())[:5]}")
                if crf:
                    plain = os.path.join(folder, "plain.mp4")
                    codec, pix_fmt = (encoding.codec, encoding.pix_fmt) if encoding else ("libx264", "yuv420p")
                    options = encoding.options if encoding else {"crf": "18", "preset": "medium"}
                    reencode(src, plain, ("-c:v", codec, *(x for k, v in options.items() for x in (f"-{k}", v))), pix_fmt)
                    diff = np.abs(player_rgb(plain) - source)
                    print(f"  plain re-encode crf {crf:2d}: mean {diff.mean():.2f}, max {diff.max():.1f} levels")


if __name__ == "__main__":
    main()
