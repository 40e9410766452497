"""Human faces only: a gate that tells a real human face from a cartoon, animated or animal face.

The landmark backends find "faces" in cartoons too (MediaPipe's detector and its Face
Mesh fit a human mesh to whatever looks enough like a face: a cartoon rabbit, an emoji,
a drawn boy). The gate looks again at each face a backend located, on an upright crop of
it (rolled level by the brow anchors, the face 100 px wide, the frame's edge repeated
where a close-up overflows it), with three signals that must all agree:

- dlib's HOG frontal-face detector (built into dlib, Boost Software License, no model
  file), trained on photographs of real faces: it finds real faces, frontal to about
  three-quarter view, and not animals or the things a backend mistakes for a face;
- flatness, the share of the inner face's pixels where the grey image's Laplacian is
  exactly zero: skin, pores, hair, sensor and compression noise leave few such pixels
  in a photograph even at 100 px (at most 15.6 % on the set), while emoji and flat-shaded
  drawings are flatter (emoji a third to two thirds; the most photo-like clip-art
  portraits, which HOG scores up to 1.7 like real faces, 18 % and more);
- colour spread, the larger standard deviation of the inner face's Cr and Cb: skin is one
  hue (at most 12 on the set, colour casts included; 0 in black and white), drawings put
  several saturated colours side by side (a detailed red ogre emoji, 31, is textured and
  HOG scores it 0.6).

``bench/bench_face_gate.py`` measures it on ``bench/face_gate_set.py``'s set (3 photographs
of real people in 11 variants at 7 sizes; 914 cat, emoji, clip-art and Tux Paint images
at 4 sizes): every real face that detection found was kept (178/178) and every non-human
face that detection found was rejected (683/683). The margins are thin where the set is
thin: the worst real face is a small black-and-white photograph at HOG -0.31 (limit
-0.4) and flatness 15.6 % (limit 17 %), the most photo-like clip art 18.3 %. A check
costs about 5 ms of CPU, so it runs once per face track, not per frame:
:class:`TrackGate` remembers each track's verdict (by box overlap from frame to frame, as
the aligner follows a face) and asks the gate again only for a new track, after a cut
(:meth:`TrackGate.reset`) or every ``recheck_every`` frames of a long track.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..errors import MissingDependencyError
from .frames import to_uint8
from .landmarks.base import FaceLandmarks

GATE_CROP = 160
"""Side in pixels of the upright crop the gate looks at."""
FACE_IN_CROP = 0.62
"""Located face width / crop side."""


def _import_dlib():
    try:
        import dlib
    except ImportError as exc:
        raise MissingDependencyError("dlib", "The human-face gate", "pip install dlib-bin") from exc
    return dlib


def upright_crop(frame: np.ndarray | torch.Tensor, face: FaceLandmarks, size: int = GATE_CROP) -> np.ndarray:
    """``(size, size, 3)`` uint8 crop of ``face``, rotated so that its brows are level.

    The located face (the longer side of its box) spans ``FACE_IN_CROP`` of the crop.
    Only the frame's pixels near the face are read (shrunk first, with area averaging,
    when the face is larger than in the crop); parts outside the frame repeat its edge.
    """
    x1, y1, x2, y2 = face.bbox
    extent = max(x2 - x1, y2 - y1, 1.0)
    scale = size * FACE_IN_CROP / extent
    reach = 0.75 * size / scale  # half the crop's diagonal, in frame pixels
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    height, width = frame.shape[:2]
    fx1, fy1 = max(int(cx - reach), 0), max(int(cy - reach), 0)
    fx2, fy2 = min(int(np.ceil(cx + reach)) + 1, width), min(int(np.ceil(cy + reach)) + 1, height)
    if fx2 <= fx1 or fy2 <= fy1:
        return np.zeros((size, size, 3), dtype=np.uint8)
    window = frame[fy1:fy2, fx1:fx2]
    window = to_uint8(window) if isinstance(window, torch.Tensor) else np.ascontiguousarray(window)
    shrink = min(scale, 1.0)
    if shrink < 1.0:
        window = cv2.resize(window, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    sx = window.shape[1] / (fx2 - fx1)
    sy = window.shape[0] / (fy2 - fy1)
    centre = ((cx - fx1) * sx, (cy - fy1) * sy)
    left, right = face.anchors[0], face.anchors[1]
    angle = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
    m = cv2.getRotationMatrix2D(centre, angle, scale / shrink)
    m[:, 2] += (size / 2 - centre[0], size / 2 - centre[1])
    return cv2.warpAffine(window, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class GateSignals:
    """What the gate measured on one face.

    Attributes:
        hog: dlib's best HOG frontal-face score near the crop's centre (``-2`` when none).
        flat: share of the inner face's pixels (the crop's middle 36 %) with a zero
            Laplacian: high in flat-shaded drawings, low in photographs.
        spread: the larger standard deviation of the inner face's chroma (Cr, Cb, in
            8-bit levels): low for skin, high where a drawing puts colours side by side.
    """

    hog: float
    flat: float
    spread: float


class HumanFaceGate:
    """Decides whether a located face is a real human face.

    A face is human when both signals say so: dlib's HOG detector, trained on real faces
    only, finds it (``hog >= min_hog``; rejects animals and things that are no face) and
    it is not flat-shaded (``flat <= max_flat``; rejects drawn and emoji faces, some of
    which HOG scores as high as a real face) and its colour is one hue
    (``spread <= max_spread``; rejects textured, many-coloured drawings). The thresholds
    are set from ``bench/bench_face_gate.py``'s measurements.

    Args:
        allow_stylised: accept every face the backend found (stylised, animated and 3D
            characters, animals too): the gate is off.
    """

    min_hog = -0.4
    max_flat = 0.17
    max_spread = 16.0

    def __init__(self, allow_stylised: bool = False) -> None:
        self.allow_stylised = allow_stylised
        self.calls = 0
        self._detector = None

    @property
    def signature(self) -> str:
        """The gate's settings, for cache keys (a cached face track was gated with them)."""
        return f"dlib-hog {self.min_hog} flat {self.max_flat} spread {self.max_spread} stylised {self.allow_stylised}"

    def measure(self, frame: np.ndarray | torch.Tensor, face: FaceLandmarks) -> GateSignals:
        """The gate's signals for ``face`` in ``frame`` (``(H, W, 3)`` uint8 or ``[H, W, 3]`` float 0..1)."""
        if self._detector is None:
            self._detector = _import_dlib().get_frontal_face_detector()
        self.calls += 1
        crop = upright_crop(frame, face)
        rects, scores, _ = self._detector.run(crop, 0, -2.0)
        near = [s for r, s in zip(rects, scores) if _centred(r, GATE_CROP)]
        lo, hi = int(GATE_CROP * 0.32), int(GATE_CROP * 0.68)
        lap = cv2.Laplacian(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), cv2.CV_16S, ksize=1)[lo:hi, lo:hi]
        chroma = cv2.cvtColor(crop[lo:hi, lo:hi], cv2.COLOR_RGB2YCrCb)[..., 1:].reshape(-1, 2).astype(np.float32)
        return GateSignals(
            hog=max(near, default=-2.0), flat=float(np.count_nonzero(lap == 0) / lap.size), spread=float(chroma.std(axis=0).max())
        )

    def check(self, frame: np.ndarray | torch.Tensor, face: FaceLandmarks) -> bool:
        """Whether ``face`` (found in ``frame``) is a real human face."""
        return self.allow_stylised or self.accepts(self.measure(frame, face))

    def accepts(self, signals: GateSignals) -> bool:
        """The rule: whether ``signals`` are a real human face's."""
        return signals.hog >= self.min_hog and signals.flat <= self.max_flat and signals.spread <= self.max_spread


def _centred(rect, size: int) -> bool:
    """Whether a dlib rectangle's centre lies in the middle third of a ``size`` crop (over the located face)."""
    cx, cy = (rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2
    return abs(cx - size / 2) < size / 6 and abs(cy - size / 2) < size / 6


@dataclass
class _Track:
    box: np.ndarray
    human: bool
    checked: int
    seen: int


class TrackGate:
    """A :class:`HumanFaceGate` asked once per face track; the verdict is remembered.

    A face continues a known track when its box overlaps the track's last box by
    ``min_iou`` within ``max_gap + 1`` frames; it then gets the track's verdict, unless that
    is old: a human verdict is checked again after ``recheck_every`` frames (a cut the
    aligner missed), a non-human one after ``recheck_rejected`` frames (a real face first
    seen in profile or blurred, which HOG misses, is taken once it turns to the camera).

    Args:
        gate: the gate to ask.
        overlap: overlap of two ``x1, y1, x2, y2`` boxes (the aligner's intersection over union).
        min_iou: ``overlap`` that continues a track (the aligner's own tracking threshold).
        max_gap: frames a track may go unseen and still be continued.
        recheck_every: frames after which a human track is checked again.
        recheck_rejected: frames after which a non-human track is checked again.
    """

    def __init__(
        self,
        gate: HumanFaceGate,
        overlap: Callable[[np.ndarray, np.ndarray], float],
        min_iou: float,
        max_gap: int,
        recheck_every: int = 50,
        recheck_rejected: int = 10,
    ) -> None:
        self.gate = gate
        self.overlap = overlap
        self.min_iou = min_iou
        self.max_gap = max_gap
        self.recheck_every = recheck_every
        self.recheck_rejected = recheck_rejected
        self._tracks: list[_Track] = []

    def reset(self) -> None:
        """Forget every track (a shot cut)."""
        self._tracks.clear()

    def human(self, frame: np.ndarray | torch.Tensor, face: FaceLandmarks, index: int) -> bool:
        """Whether ``face`` in frame ``index`` (a video-wide frame counter) is a real human face."""
        if self.gate.allow_stylised:
            return True
        self._tracks = [t for t in self._tracks if index - t.seen <= self.max_gap + 1]
        track = max(self._tracks, key=lambda t: self.overlap(t.box, face.bbox), default=None)
        if track is not None and self.overlap(track.box, face.bbox) < self.min_iou:
            track = None
        if track is None or index - track.checked >= (self.recheck_every if track.human else self.recheck_rejected):
            if track is not None:
                self._tracks.remove(track)
            track = _Track(face.bbox, self.gate.check(frame, face), index, index)
            self._tracks.append(track)
        track.box, track.seen = face.bbox, index
        return track.human
