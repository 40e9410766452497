"""InsightFace-compatible landmarks (SCRFD ``det_10g`` + ``2d106det``) via onnxruntime.

This reproduces the face detection LatentSync uses (InsightFace ``FaceAnalysis``
with the detection and 106-point landmark models of the ``buffalo_l`` pack, det
size 512) without the ``insightface`` package.

Model files (from ``buffalo_l.zip``, InsightFace release v0.7,
https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip),
in a folder the caller passes (ComfyUI: ``models/insightface/models/buffalo_l``):

==================  ===========================================================
``det_10g.onnx``    SCRFD-10G detector: input ``input.1`` ``(1, 3, ?, ?)``; 9 outputs
``2d106det.onnx``   landmark regressor: input ``data`` ``(1, 3, 192, 192)``; output ``fc1`` ``(1, 212)``
==================  ===========================================================

LICENSE: InsightFace's pretrained models (including ``buffalo_l``) are released for
non-commercial research purposes only. Using this backend is subject to that licence.

Anchors, with InsightFace's 106-point indices as LatentSync picks them
(image-left = the subject's right side in an upright, unmirrored face):

===============  =======================  =======================================
anchor           106-point indices        meaning
===============  =======================  =======================================
left brow        43, 48, 49, 51, 50       image-left brow (upper contour)
right brow       101, 102, 103, 104, 105  image-right brow (upper contour)
nose             74, 77, 83, 86           lower bridge, nostril wings, tip
mouth            52..71                   all 20 lip points (outer and inner)
===============  =======================  =======================================

The meanings are read from LatentSync's own use: its 106 -> 68-style re-ordering
puts the brow picks in the 68-point brow slots (17-21, 22-26) and 73, 74, 86 in the
bridge-to-tip slots; 77 and 83 are a left/right pair on the lower nose.

The order of the 20 lip points within 52..71 is not published in a form this
project could check, so ``mouth`` is 20 points evenly spaced along the convex
hull of the lip points (the outer lip outline, the Cupid's-bow dip filled in),
starting at the image-left mouth corner, clockwise on screen.

Colour order: InsightFace expects BGR frames and swaps them to RGB for the
networks. LatentSync hands it RGB frames, so its networks see BGR. With
``match_reference_colors=True`` (default) this backend feeds the networks the
same channel order LatentSync does; ``False`` feeds them RGB as they were trained.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import zipfile

import numpy as np

from ...files.downloads import ensure_model_file
from ...errors import MissingModelError
from .anchors import AnchorIndices
from .base import FaceLandmarks, check_frame
from .landmark106 import Landmark106
from .onnx_session import create_session
from .scrfd import ScrfdDetector
from .selection import FaceFilter

BUFFALO_L_URL = "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip"
DETECTOR_FILE = "det_10g.onnx"
LANDMARK_FILE = "2d106det.onnx"
MODEL_FILES = (DETECTOR_FILE, LANDMARK_FILE)

INSIGHTFACE_106 = AnchorIndices(
    left_brow=(43, 48, 49, 51, 50),
    right_brow=(101, 102, 103, 104, 105),
    nose=(74, 77, 83, 86),
    mouth=tuple(range(52, 72)),
    mouth_is_ring=False,
)


def download_buffalo_l(folder: str, url: str = BUFFALO_L_URL) -> None:
    """Download ``buffalo_l.zip`` (progress bar) and extract the detector and landmark models into ``folder``.

    Only ``det_10g.onnx`` and ``2d106det.onnx`` are extracted; existing files are kept.

    Raises:
        MissingModelError: the download or the archive failed.
    """
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        archive = ensure_model_file("buffalo_l.zip", tmp, url, download=True)
        try:
            with zipfile.ZipFile(archive) as zf:
                members = {os.path.basename(n): n for n in zf.namelist() if not n.endswith("/")}
                for name in MODEL_FILES:
                    if name not in members:
                        raise MissingModelError(name, folder, url, reason="not in the downloaded archive")
                    if not os.path.isfile(os.path.join(folder, name)):
                        with zf.open(members[name]) as src, open(os.path.join(tmp, name), "wb") as dst:
                            shutil.copyfileobj(src, dst)
                        os.replace(os.path.join(tmp, name), os.path.join(folder, name))
        except (OSError, zipfile.BadZipFile) as exc:
            raise MissingModelError(MODEL_FILES[0], folder, url, reason=f"bad archive: {exc}") from exc


class InsightFaceOnnxBackend:
    """106-point landmarks from InsightFace's SCRFD + 2d106det ONNX models.

    Args:
        model_dir: folder holding ``det_10g.onnx`` and ``2d106det.onnx``.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (CUDA needs onnxruntime-gpu).
        det_size: side of the square detector input (LatentSync: 512).
        det_threshold: minimum detector score in ``[0, 1]``.
        nms_threshold: IoU above which overlapping detections are merged.
        round_like_reference: round landmarks and anchor means to whole pixels as LatentSync does.
        match_reference_colors: feed the networks the channel order LatentSync does (see module doc).
        face_filter: drop faces it rejects (e.g. ``FaceFilter()`` for LatentSync's size rule);
            ``None`` keeps every face.
        download: fetch ``buffalo_l.zip`` when a model file is missing (needs internet).

    Raises:
        MissingModelError: a model file is missing (and ``download`` is False or failed).
    """

    name = "insightface"

    def __init__(
        self,
        model_dir: str,
        device: str = "cpu",
        det_size: int = 512,
        det_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        round_like_reference: bool = True,
        match_reference_colors: bool = True,
        face_filter: FaceFilter | None = None,
        download: bool = False,
    ) -> None:
        self.model_dir = model_dir
        self.device = device
        self.det_size = det_size
        self.det_threshold = det_threshold
        self.nms_threshold = nms_threshold
        self.round_like_reference = round_like_reference
        self.match_reference_colors = match_reference_colors
        self.face_filter = face_filter
        missing = [name for name in MODEL_FILES if not os.path.isfile(os.path.join(model_dir, name))]
        if missing and download:
            download_buffalo_l(model_dir)
            missing = [name for name in MODEL_FILES if not os.path.isfile(os.path.join(model_dir, name))]
        if missing:
            raise MissingModelError(missing[0], model_dir, BUFFALO_L_URL, reason="unzip buffalo_l.zip there")
        self._detector: ScrfdDetector | None = None
        self._landmarker: Landmark106 | None = None
        self._lock = threading.Lock()

    def _models(self) -> tuple[ScrfdDetector, Landmark106]:
        """Open the two onnxruntime sessions on first use."""
        with self._lock:
            if self._detector is None or self._landmarker is None:
                self._detector = ScrfdDetector(
                    create_session(os.path.join(self.model_dir, DETECTOR_FILE), self.device),
                    input_size=(self.det_size, self.det_size),
                    score_threshold=self.det_threshold,
                    nms_threshold=self.nms_threshold,
                )
                self._landmarker = Landmark106(create_session(os.path.join(self.model_dir, LANDMARK_FILE), self.device))
            return self._detector, self._landmarker

    def close(self) -> None:
        """Drop the onnxruntime sessions (and their GPU memory); :meth:`detect` reopens them."""
        with self._lock:
            self._detector = self._landmarker = None

    def detect(self, frame: np.ndarray) -> list[FaceLandmarks]:
        """Faces in ``frame`` (``(H, W, 3)`` uint8 RGB), best detector score first.

        ``bbox`` and ``score`` are the detector's; ``points`` are the 106 landmarks.
        """
        check_frame(frame)
        detector, landmarker = self._models()
        image = np.ascontiguousarray(frame[..., ::-1] if self.match_reference_colors else frame)
        found = detector.detect(image)
        faces = []
        for box, score in zip(found.boxes, found.scores):
            points = landmarker.predict(image, box)
            faces.append(
                FaceLandmarks(
                    points=points,
                    anchors=INSIGHTFACE_106.anchors(points, self.round_like_reference),
                    mouth=INSIGHTFACE_106.mouth_contour(points),
                    bbox=box.astype(np.float64),
                    score=float(score),
                )
            )
        return self.face_filter(faces) if self.face_filter is not None else faces
