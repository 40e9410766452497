"""The per-video alignment record passed between nodes.

It holds, per frame, the similarity transform that maps source-frame pixels
to the LatentSync crop (210x280 at 256, 420x560 at 512), which frames have a
face, and the landmarks the transform came from, so later stages (mouth ROI,
paste-back) need no detector.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import BadInputError


@dataclass
class Alignment:
    """Alignment of ``N`` frames of one video to the LatentSync face template.

    Attributes:
        resolution: side of the aligned face image, 256 (LatentSync 1.5) or 512 (1.6).
        crop_size: ``(width, height)`` of the template crop before it is resized
            to ``resolution x resolution``: ``(210, 280)`` at 256, ``(420, 560)`` at 512.
        source_size: ``(height, width)`` of the source frames.
        affines: ``(N, 2, 3)`` float64, source pixel -> crop pixel; identity where no face.
        has_face: ``(N,)`` bool; False frames pass through every stage unchanged.
        interpolated: ``(N,)`` bool, True where a short detection dropout was bridged.
        landmarks: ``(N, K, 2)`` float32 source-pixel landmarks, NaN where unknown (``K`` = 0 where a
            stage keeps only what the paste needs, see :meth:`for_paste`).
        mouth: ``(N, M, 2)`` float64 source-pixel outer-lip points, NaN where unknown.
        backend: name of the landmark backend that produced the landmarks.
        source_index: ``(N,)`` int64 index of each row's frame in the original
            video, or None when row ``i`` is frame ``i`` (see :meth:`select`).
        source_frames: number of frames of the original video when
            ``source_index`` is set, else None.
        cut_before: ``(N,)`` bool, a shot cut between the previous frame of the video and
            this one (as the aligner saw it; what :func:`.aligner.bridge_gaps` needs to
            bridge dropouts across windows), or None (not known, and after :meth:`select`).
    """

    resolution: int
    crop_size: tuple[int, int]
    source_size: tuple[int, int]
    affines: np.ndarray
    has_face: np.ndarray
    interpolated: np.ndarray
    landmarks: np.ndarray
    mouth: np.ndarray
    backend: str
    source_index: np.ndarray | None = None
    source_frames: int | None = None
    cut_before: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.has_face.shape[0])

    def select(self, indices: np.ndarray) -> "Alignment":
        """The alignment of the frames ``indices`` (e.g. the video looped to a longer audio).

        Args:
            indices: ``(M,)`` ints in ``[0, N)``, rows of this alignment, in output order.

        Returns:
            An alignment of ``M`` rows whose ``source_index`` points into the original
            video; selecting from a selection composes the two.
        """
        index = np.asarray(indices, dtype=np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise BadInputError(
                f"Frame indices {int(index.min())}..{int(index.max())} are outside this alignment of {len(self)} frames; "
                "use the alignment made for this video."
            )
        source = index if self.source_index is None else self.source_index[index]
        return replace(
            self,
            affines=self.affines[index],
            has_face=self.has_face[index],
            interpolated=self.interpolated[index],
            landmarks=self.landmarks[index],
            mouth=self.mouth[index],
            source_index=source,
            source_frames=len(self) if self.source_frames is None else self.source_frames,
            cut_before=None,
        )

    @classmethod
    def concatenate(cls, parts: "list[Alignment]") -> "Alignment":
        """The alignments of consecutive windows of one video as one (``N`` = the sum of theirs)."""
        first = parts[0]
        if any(p.source_index is not None for p in parts):
            raise BadInputError("Only alignments of whole windows (not selections) can be concatenated.")
        k = max(p.landmarks.shape[1] for p in parts)
        km = max(p.mouth.shape[1] for p in parts)

        def points(arrays: list[np.ndarray], size: int) -> np.ndarray:
            return np.concatenate(
                [a if a.shape[1] == size else np.full((a.shape[0], size, 2), np.nan, dtype=a.dtype) for a in arrays]
            )

        return replace(
            first,
            affines=np.concatenate([p.affines for p in parts]),
            has_face=np.concatenate([p.has_face for p in parts]),
            interpolated=np.concatenate([p.interpolated for p in parts]),
            landmarks=points([p.landmarks for p in parts], k),
            mouth=points([p.mouth for p in parts], km),
            cut_before=None if any(p.cut_before is None for p in parts) else np.concatenate([p.cut_before for p in parts]),
        )

    def for_paste(self) -> "Alignment":
        """This alignment without the full landmark sets (``K`` = 0): what the mouth crop and the paste need.

        Per frame that is a 2x3 transform, the outer-lip points and three flags, a few hundred bytes
        where a 478-point mesh adds 3.8 kB: what a streamed job keeps for every frame of a long video.
        """
        return replace(self, landmarks=np.zeros((len(self), 0, 2), np.float32))

    def rows(self, indices: np.ndarray) -> "Alignment":
        """Rows ``indices`` as an alignment of their own: row ``i`` pastes into the ``i``-th frame given.

        What a streamed job pastes with: it holds only the frames of the rows it works on.
        """
        return replace(self.select(indices), source_index=None, source_frames=None)

    def resized(self, height: int, width: int) -> "Alignment":
        """This alignment for the frames resized to ``height x width`` (e.g. by a background upscaler).

        Pixel centres map as ``x' = s * (x + 0.5) - 0.5``; the affines, landmarks
        and mouth points are moved accordingly.
        """
        sy, sx = height / self.source_size[0], width / self.source_size[1]
        if (sy, sx) == (1.0, 1.0):
            return self
        scale = np.array([sx, sy])
        shift = 0.5 / scale - 0.5  # source position of resized pixel 0
        affines = self.affines.copy()
        affines[:, :, 2] += self.affines[:, :, :2] @ shift
        affines[:, :, :2] /= scale[None, None, :]
        return replace(
            self,
            source_size=(int(height), int(width)),
            affines=affines,
            landmarks=scale * (self.landmarks + 0.5) - 0.5,
            mouth=scale * (self.mouth + 0.5) - 0.5,
        )

    def aligned_affines(self) -> np.ndarray:
        """``(N, 2, 3)`` float64 maps from source pixels to aligned-face pixels.

        The crop is resized anisotropically from ``crop_size`` to
        ``resolution x resolution`` (pixel centres: ``x' = s * (x + 0.5) - 0.5``);
        this folds that resize into each affine.
        """
        scale = np.array([self.resolution / self.crop_size[0], self.resolution / self.crop_size[1]])
        out = self.affines * scale[None, :, None]
        out[:, :, 2] += 0.5 * (scale - 1.0)
        return out
