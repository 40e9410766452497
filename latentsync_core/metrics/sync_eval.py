"""LSE-C / LSE-D / AV offset: the standard SyncNet evaluation (joonson/syncnet_python).

Given one face track at 25 fps and its 16 kHz speech:

* each frame is cut around the face box: the track's box centres and half
  sizes are median-filtered over 13 frames (zeros beyond the track ends, like
  ``scipy.signal.medfilt``), the frame is padded by ``int(1.8 * half)`` pixels
  of value 110 and the region from ``half`` above to ``1.8 * half`` below the
  centre, ``1.4 * half`` to either side, is resized (bilinear) to 224x224;
* every 5-frame window ``i`` gives a lip embedding, and MFCC columns
  ``4 i .. 4 i + 19`` an audio embedding, for ``i < min(frames, samples // 640) - 5``;
* for each shift ``-15..15`` the mean distance between lip ``i`` and audio
  ``i + shift`` (zero vectors past the ends) is taken over ``i``; the smallest
  mean is LSE-D, ``median - min`` over the 31 shifts is LSE-C, and the AV
  offset is ``15 - argmin``: ``k > 0`` when lip window ``i`` matches audio
  window ``i - k``, i.e. the audio runs ``k`` frames ahead of the video.

The reference writes the crops through XVID and JPEG files; here they stay in
memory, so the only differences to a run of the reference on the same boxes
are those codecs' losses.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .mfcc import mfcc
from .syncnet import EMBEDDING_SIZE, SyncNet

FPS = 25
VSHIFT = 15
BATCH_SIZE = 20
CROP_SIZE = 224
CROP_SCALE = 0.4
SMOOTH_KERNEL = 13
PAD_VALUE = 110
WINDOW = 5
SAMPLES_PER_FRAME = 640
MFCC_PER_FRAME = 4
MFCC_WINDOW = 20


@dataclass(frozen=True)
class SyncScores:
    """Result of the offset search over one face track.

    Attributes:
        offset: AV offset in frames at 25 fps, as the reference reports it (0 = in sync).
        confidence: LSE-C, median minus minimum of the mean distances over the shifts.
        distance: LSE-D, the minimum mean distance.
        windows: number of 5-frame windows scored.
        mean_distances: ``(2 * vshift + 1,)`` mean distance per shift, shift ``-vshift`` first.
    """

    offset: int
    confidence: float
    distance: float
    windows: int
    mean_distances: np.ndarray


def median_filter(x: np.ndarray, kernel: int = SMOOTH_KERNEL) -> np.ndarray:
    """Sliding median of odd ``kernel`` over ``(N,)`` values, zeros beyond both ends (``scipy.signal.medfilt``)."""
    half = kernel // 2
    padded = np.concatenate([np.zeros(half), np.asarray(x, dtype=np.float64), np.zeros(half)])
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, kernel), axis=1)


def smooth_track(boxes: np.ndarray) -> np.ndarray:
    """``(N, 4)`` face boxes ``x0, y0, x1, y1`` -> ``(N, 3)`` smoothed centre x, centre y, half size."""
    boxes = np.asarray(boxes, dtype=np.float64)
    half = np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    return np.stack([median_filter(cx), median_filter(cy), median_filter(half)], axis=1)


def face_crop(frame: np.ndarray, cx: float, cy: float, half: float, scale: float = CROP_SCALE) -> np.ndarray:
    """The 224x224 SyncNet crop of ``(H, W, C)`` uint8 ``frame`` around one smoothed box (see module doc)."""
    pad = int(half * (1 + 2 * scale))
    height, width = frame.shape[0] + 2 * pad, frame.shape[1] + 2 * pad
    my, mx = cy + pad, cx + pad
    # Slice bounds in the padded frame, clipped to it as numpy slicing would.
    top, bottom = (min(max(int(v), 0), height) for v in (my - half, my + half * (1 + 2 * scale)))
    left, right = (min(max(int(v), 0), width) for v in (mx - half * (1 + scale), mx + half * (1 + scale)))
    region = np.full((max(bottom - top, 0), max(right - left, 0), frame.shape[2]), PAD_VALUE, dtype=frame.dtype)
    src_top, src_bottom = max(top - pad, 0), min(bottom - pad, frame.shape[0])
    src_left, src_right = max(left - pad, 0), min(right - pad, frame.shape[1])
    if src_bottom > src_top and src_right > src_left:
        region[src_top + pad - top:src_bottom + pad - top, src_left + pad - left:src_right + pad - left] = \
            frame[src_top:src_bottom, src_left:src_right]
    return cv2.resize(region, (CROP_SIZE, CROP_SIZE))


def window_count(n_frames: int, n_samples: int) -> int:
    """Number of 5-frame windows the reference scores: ``min(frames, samples // 640) - 5`` (at least 0)."""
    return max(min(n_frames, n_samples // SAMPLES_PER_FRAME) - WINDOW, 0)


class LipEmbedder:
    """Lip embeddings of windows ``0 .. n_windows - 1`` from crops fed in order, a few at a time.

    Only the crops of windows not yet embedded are kept, so memory does not
    grow with the track length.

    Args:
        model: the SyncNet.
        n_windows: windows to embed (see :func:`window_count`).
        batch_size: windows per network call.
        device: where the network runs.
    """

    def __init__(self, model: SyncNet, n_windows: int, batch_size: int = BATCH_SIZE, device: torch.device | str = "cpu") -> None:
        self.model = model
        self.n_windows = n_windows
        self.batch_size = batch_size
        self.device = torch.device(device)
        self._pending: list[np.ndarray] = []
        self._next = 0
        self._out: list[torch.Tensor] = []

    def add(self, crops: np.ndarray) -> None:
        """Feed ``(n, 224, 224, 3)`` uint8 RGB crops, the next frames of the track."""
        self._pending.extend(crops)
        self._run(final=False)

    def _run(self, final: bool) -> None:
        while self._next < self.n_windows:
            ready = min(len(self._pending) - WINDOW + 1, self.n_windows - self._next)
            if ready <= 0 or (ready < self.batch_size and not final):
                return
            take = min(ready, self.batch_size)
            clip = np.stack(self._pending[:take + WINDOW - 1])[..., ::-1]  # RGB -> BGR, as cv2 reads it
            video = torch.from_numpy(np.ascontiguousarray(clip)).to(self.device, torch.float32).permute(3, 0, 1, 2)
            batch = torch.stack([video[:, i:i + WINDOW] for i in range(take)])
            with torch.inference_mode():
                self._out.append(self.model.embed_lips(batch).float().cpu())
            del self._pending[:take]
            self._next += take

    def finish(self) -> torch.Tensor:
        """``(n_windows, 1024)`` float32 embeddings (all crops must have been fed)."""
        self._run(final=True)
        if self._next < self.n_windows:
            raise ValueError(f"lip embedding: {self._next} of {self.n_windows} windows had frames")
        return torch.cat(self._out) if self._out else torch.zeros(0, EMBEDDING_SIZE)


def embed_audio(
    model: SyncNet, samples: np.ndarray, n_windows: int, batch_size: int = BATCH_SIZE, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """``(n_windows, 1024)`` audio embeddings of 16 kHz 16-bit ``samples`` (MFCC windows of 0.2 s every 40 ms)."""
    features = torch.from_numpy(mfcc(samples)).float()
    out = []
    for start in range(0, n_windows, batch_size):
        idx = range(start, min(start + batch_size, n_windows))
        batch = torch.stack([features[:, i * MFCC_PER_FRAME:i * MFCC_PER_FRAME + MFCC_WINDOW] for i in idx])[:, None]
        with torch.inference_mode():
            out.append(model.embed_audio(batch.to(device)).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, EMBEDDING_SIZE)


def frame_distances(lips: torch.Tensor, audio: torch.Tensor, vshift: int = VSHIFT) -> torch.Tensor:
    """``(N, 2 * vshift + 1)`` distance of lip window ``i`` to audio window ``i + shift`` (zeros past the ends)."""
    padded = F.pad(audio, (0, 0, vshift, vshift))
    shifted = padded.unfold(0, 2 * vshift + 1, 1).permute(0, 2, 1)  # (N, shifts, 1024)
    return F.pairwise_distance(lips[:, None, :], shifted)


def offset_scores(lips: torch.Tensor, audio: torch.Tensor, vshift: int = VSHIFT) -> SyncScores:
    """AV offset, LSE-C and LSE-D of matching ``(N, 1024)`` lip and audio embeddings."""
    if len(lips) == 0:
        raise ValueError("sync scores need at least one 5-frame window")
    mean = frame_distances(lips, audio, vshift).mean(dim=0)
    low, at = torch.min(mean, dim=0)
    return SyncScores(
        offset=int(vshift - at),
        confidence=float(torch.median(mean) - low),
        distance=float(low),
        windows=int(len(lips)),
        mean_distances=mean.numpy().astype(np.float64),
    )
