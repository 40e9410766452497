"""Make the bundled speech ``example_workflows/sample/speech.wav`` for the example workflows.

English speech synthesised by espeak-ng (voice en-us, 165 words/min, the settings of
``make_sample_clip.py``), a different sentence from the sample clip's own sound so that
the lip-sync visibly changes the mouth. 4 s (one second longer than the clip, so the
workflows show the ``pingpong`` length mode), mono 16-bit PCM at espeak-ng's 22.05 kHz.

Run from the repository root (needs the ``espeak-ng`` program)::

    python bench/make_sample_speech.py [--output PATH]
"""
from __future__ import annotations

import argparse
import os
import wave

import numpy as np

from make_sample_clip import ROOT, speech

OUTPUT = os.path.join(ROOT, "example_workflows", "sample", "speech.wav")
TEXT = "Greetings from orbit. The view of the Earth is wonderful today."
SECONDS = 4.0


def write_wav(path: str, audio: np.ndarray, rate: int) -> None:
    """``(1, samples)`` float32 in -1..1 as a mono 16-bit PCM WAV."""
    with wave.open(path, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(np.clip(np.round(audio[0] * 32768.0), -32768, 32767).astype("<i2").tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=OUTPUT)
    args = parser.parse_args()
    audio, rate = speech(SECONDS, TEXT)
    write_wav(args.output, audio, rate)
    print(f"wrote {args.output}: {os.path.getsize(args.output) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
