"""Make the bundled two-person sample: ``example_workflows/sample/two_speakers.mp4`` and one speech track per person.

The people are the speakers of the tests' two-person clip (tests/support/speaker_clips.py): the NASA
portrait of astronaut Eileen Collins (tests/data/astronaut.png) and the US Navy photograph of Grace
Hopper (matplotlib's sample grace_hopper.jpg), both public domain, each cut to a tile around the face
and set on a plain background. Two shots: the astronaut on the left and Grace Hopper on the right, then
after a cut the two swapped, so a speaker picked by place in the first frame keeps her voice by
recognition. Each speaks one sentence, synthesised by espeak-ng in a voice of her own (``VOICES``),
the astronaut first, then Grace Hopper; each track is silent while the other speaks. The clip's own
sound is the two tracks mixed. 4 s at 25 fps, 640x360, H.264 (crf 20) + AAC mono 64 kb/s; the tracks
are mono 16-bit PCM at espeak-ng's 22.05 kHz, 4 s each.

Run from the repository root (needs the ``espeak-ng`` program)::

    python bench/make_two_speakers_sample.py [--output-dir DIR]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from make_sample_clip import FPS, ROOT, speech, write_clip
from make_sample_speech import write_wav

sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
from speaker_clips import shot  # noqa: E402 (tests/support holds the two-person scene of the tests)

OUTPUT_DIR = os.path.join(ROOT, "example_workflows", "sample")
VIDEO = "two_speakers.mp4"
SECONDS = 4
SWAP_FRAME = 50
"""The first frame of the second shot (the two swapped)."""
SHOTS = ((0, 70, {"astronaut": "left", "hopper": "right"}), (SWAP_FRAME, 150, {"hopper": "left", "astronaut": "right"}))
"""(first frame, background level, person -> place) of each shot."""
LINES = {
    "astronaut": ("speech_astronaut.wav", "en-us+f3", 0.1, "Hello from the space shuttle."),
    "hopper": ("speech_hopper.wav", "en-gb+f4", 2.0, "I wrote the first compiler."),
}
"""Per person: track file, espeak-ng voice, start (seconds) and sentence."""


def render_frames() -> np.ndarray:
    """``(100, 360, 640, 3)`` uint8 RGB frames: each shot held still."""
    starts = [start for start, _, _ in SHOTS] + [FPS * SECONDS]
    return np.concatenate([np.repeat(shot(places, level)[None], end - start, axis=0)
                           for (start, level, places), end in zip(SHOTS, starts[1:])])


def track(voice: str, start: float, text: str) -> tuple[np.ndarray, int]:
    """``(1, samples)`` float32: silence, then ``text`` at ``start`` seconds, silence to ``SECONDS``."""
    spoken, rate = speech(SECONDS - start, text, voice)
    if np.any(spoken[0, -rate // 20:]):
        raise SystemExit(f"'{text}' does not fit in {SECONDS - start} s: move its start in LINES")
    audio = np.zeros((1, SECONDS * rate), np.float32)
    at = round(start * rate)
    audio[:, at:] = spoken
    return audio, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=OUTPUT_DIR)
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)
    tracks = {}
    for person, (name, voice, start, text) in LINES.items():
        tracks[person], rate = track(voice, start, text)
        path = os.path.join(args.output_dir, name)
        write_wav(path, tracks[person], rate)
        print(f"wrote {path}: {os.path.getsize(path) / 1e6:.2f} MB")
    a, b = tracks.values()
    if np.any((a != 0) & (b != 0)):
        raise SystemExit("the two sentences overlap: move a start in LINES")
    path = os.path.join(args.output_dir, VIDEO)
    write_clip(path, render_frames(), a + b, rate)
    print(f"wrote {path}: {os.path.getsize(path) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
