"""Lip sync per speaker: each speaker's face in a video scored against their own speech track (SyncNet).

:func:`locate_speakers` finds each speaker's face in every frame as the several-speaker job finds it
(:func:`~latentsync_core.face.face_tracks.speaker_tracker`: every face in tracks within shots,
:func:`~latentsync_core.face.face_tracks.assign_speakers`: a position reference names its track, dlib's
face descriptor matches the rest shot by shot); :func:`speakers_sync` scores each speaker's boxes
with :func:`~.evaluate.track_sync` (LSE-C / LSE-D / offset of the longest run of frames their face is in)
against that speaker's own speech. ``eval --speaker``, the quality node's ``speakers`` input and
``lipsync --speaker ... --eval`` all report through here.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..face.face_tracks import Recognition, assign_speakers, speaker_boxes, speaker_tracker
from ..face.human_gate import HumanFaceGate
from ..face.identity import FaceDescriber, Reference
from ..face.landmarks.base import LandmarkBackend
from .evaluate import FrameSource, track_sync
from .pcm import waveform_to_pcm16k
from .report import SpeakerSync
from .syncnet import SyncNet


@dataclass(frozen=True)
class SpeakerSpeech:
    """One speaker to score: their face (an image of it or a position in the video) and their 16 kHz speech.

    Attributes:
        face: as :class:`~latentsync_core.face.identity.Reference` (e.g. from ``parse_reference``).
        pcm16k: ``(T,)`` int16 mono 16 kHz samples (:func:`~.pcm.read_pcm16k`, :func:`~.pcm.waveform_to_pcm16k`).
    """

    face: Reference
    pcm16k: np.ndarray

    @classmethod
    def of(cls, face: Reference, waveform: torch.Tensor | np.ndarray, sample_rate: int) -> SpeakerSpeech:
        """From a ``[T]`` or ``[C, T]`` float waveform at ``sample_rate`` (e.g. a ``Speaker``'s)."""
        return cls(face, waveform_to_pcm16k(torch.as_tensor(waveform).float().cpu().numpy(), int(sample_rate)))


def locate_speakers(
    backend: LandmarkBackend, references: Sequence[Reference], frames: FrameSource,
    recognition: Recognition | None = None, human_gate: HumanFaceGate | None = None,
) -> list[np.ndarray]:
    """Each speaker's ``(N, 4)`` face box in every frame of ``frames`` (NaN where not seen), found as the job finds them.

    ``recognition`` defaults to dlib's face descriptor, ``human_gate`` to the job's default gate.

    Raises:
        BadInputError: a reference matches no face in the video (or names a frame or face that is not there).
    """
    recognition = recognition or Recognition(FaceDescriber())
    tracker = speaker_tracker(backend, references, recognition, human_gate=human_gate or HumanFaceGate())
    for window in frames():
        tracker.add(torch.from_numpy(window).float().div_(255.0))
    tracker.finish()
    return speaker_boxes(tracker, assign_speakers(tracker, references, recognition), len(references))


def speakers_sync(
    model: SyncNet, pcms: Sequence[np.ndarray], fps: float, boxes: Sequence[np.ndarray], frames: FrameSource,
    device: torch.device | str = "cpu",
) -> list[SpeakerSync]:
    """Each speaker's lip-sync scores: their ``boxes`` (per frame of ``frames``) against their own speech ``pcms``."""
    return [
        SpeakerSync(*track_sync(model, pcm, fps, np.all(np.isfinite(b), axis=1), b, frames, device))
        for pcm, b in zip(pcms, boxes)
    ]


def score_speakers(
    model: SyncNet | None, speakers: Sequence[SpeakerSpeech], fps: float, frames: FrameSource, backend: LandmarkBackend,
    device: torch.device | str = "cpu", note: str | None = None,
) -> list[SpeakerSync]:
    """Find each speaker's face in ``frames`` (:func:`locate_speakers`) and score it against their speech.

    Without a ``model`` nothing is measured: each entry says ``note`` (why not).
    """
    if model is None:
        return [SpeakerSync(None, note) for _ in speakers]
    boxes = locate_speakers(backend, [s.face for s in speakers], frames)
    return speakers_sync(model, [s.pcm16k for s in speakers], fps, boxes, frames, device)
