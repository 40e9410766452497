"""The restore and paste stages of a job: restore the mouths that need it, paste the faces back into their frames."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from ..errors import BadInputError
from ..face.alignment import Alignment
from ..face.mouth_roi import MouthROI, crop_mouth
from ..face.paste import paste_back
from .hooks import Background, InterruptCheck
from .options import DEFAULT_FIDELITY, DEFAULT_SR_RATIO, JobOptions, restorer_batch_size

if TYPE_CHECKING:
    from ..restorers import FaceRestorer

class MouthRestorer:
    """The restore step: GFPGAN and/or CodeFormer over the mouth crops that need it.

    A crop is restored when its mouth box spans fewer than ``target / sr_ratio``
    source pixels (see :func:`restorers.frames_needing_restore`); the others,
    and frames without a face, are left as they are (and so are not pasted).
    With several networks ("both": GFPGAN, then CodeFormer) each restores the
    previous one's output.

    Args:
        nets: loaded :class:`restorers.FaceRestorer` networks, applied in order.
        sr_ratio: upscale factor above which a crop is restored.
        fidelity: CodeFormer's ``w``, 0 (most restoration) .. 1 (closest to input).
        batch_size: crops per network call.
        check_interrupt: called before every network call.
    """

    def __init__(
        self, nets: Sequence[FaceRestorer], sr_ratio: float = DEFAULT_SR_RATIO, fidelity: float = DEFAULT_FIDELITY,
        batch_size: int = 4, check_interrupt: InterruptCheck | None = None,
    ) -> None:
        self.nets = nets
        self.sr_ratio = sr_ratio
        self.fidelity = fidelity
        self.batch_size = batch_size
        self.check_interrupt = check_interrupt
        self.restored = 0

    @classmethod
    def from_options(
        cls, nets: Sequence[FaceRestorer], options: JobOptions, check_interrupt: InterruptCheck | None = None
    ) -> MouthRestorer | None:
        """The restore step of ``options`` for ``nets`` (None when there are none)."""
        if not nets:
            return None
        batch = restorer_batch_size(options.batch_size, nets[0].device)
        return cls(nets, options.sr_ratio, options.fidelity, batch, check_interrupt)

    def __call__(self, roi: MouthROI) -> MouthROI:
        from ..restorers import frames_needing_restore, restore_selected

        mask = frames_needing_restore(roi.source_size, roi.target_size, self.sr_ratio, roi.valid)
        if not mask.any():
            return roi
        crops = roi.crops
        for net in self.nets:
            crops = restore_selected(
                crops, mask, functools.partial(net.restore, fidelity=self.fidelity), self.batch_size,
                before_batch=self.check_interrupt,
            )
        self.restored += int(mask.sum())
        return roi.replace_crops(crops)


def restore_and_paste(
    frames: torch.Tensor,
    faces: torch.Tensor,
    alignment: Alignment,
    restorer: Callable[[MouthROI], MouthROI] | None,
    options: JobOptions,
    inplace: bool = False,
    reference: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mouth ROI -> restore -> paste of (lip-synced) aligned faces into their frames.

    Args:
        frames: ``[N, H, W, 3]`` float 0..1 source frames (see :func:`paste_back` for a selected alignment),
            or those frames enlarged (a background upscaler; the faces are pasted at that size).
        faces: ``[M, R, R, 3]`` float 0..1 aligned faces, one per alignment row.
        alignment: the rows of those faces (made on the source frames: ``sr_ratio`` counts source pixels).
        restorer: the restore step, or None.
        options: ``roi_size``, ``mask_smooth``, ``colour_match``, ``paste_region``.
        inplace: paste into ``frames`` (see :func:`paste_back`).
        reference: the source frames when ``frames`` are enlarged (see :func:`paste_back`).

    Returns:
        ``[M, H, W, 3]`` float32; frames where nothing changed are equal to their source.
    """
    roi = None
    if restorer is not None and alignment.has_face.any():
        roi = restorer(crop_mouth(faces, alignment, options.roi_size))
    return paste_back(
        frames, faces, alignment, roi=roi, mask_smooth=options.mask_smooth, colour_match=options.colour_match,
        region=options.paste_region, inplace=inplace, reference=reference,
    )


def finish_window(
    frames: np.ndarray,
    faces: torch.Tensor | None,
    rows: Alignment,
    restorer: MouthRestorer | None,
    options: JobOptions,
    background: Background | None,
) -> np.ndarray:
    """One window's frames out: background hook, then restore + paste; ``(n, H', W', 3)`` uint8.

    With a background step the faces are pasted into its (enlarged) frames; what changed in a face
    is still decided against the source frames, so only the lip-synced region replaces the
    background's pixels.
    """
    return paste_faces(frames, [] if faces is None else [(faces, rows)], restorer, options, background)


def paste_faces(
    frames: np.ndarray,
    pastes: Sequence[tuple[torch.Tensor, Alignment]],
    restorer: MouthRestorer | None,
    options: JobOptions,
    background: Background | None,
) -> np.ndarray:
    """:func:`finish_window` with several faces per frame (one ``(faces, rows)`` pair per speaker).

    Each pair is restored and pasted in turn; what changed in each face is decided against the
    source frames (never against a mouth pasted before it), so the order does not matter where
    faces do not overlap.
    """
    reference = None
    if background is not None:
        n = frames.shape[0]
        reference = torch.from_numpy(frames).float().div_(255.0)
        frames = np.asarray(background(frames))
        if frames.ndim != 4 or frames.shape[0] != n or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise BadInputError(f"The background step must return ({n}, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}.")
    pastes = [(faces, rows) for faces, rows in pastes if rows.has_face.any()]
    if not pastes:
        return frames
    source = torch.from_numpy(frames).float().div_(255.0)
    if reference is None and len(pastes) > 1:
        reference = source.clone()
    for faces, rows in pastes:
        source = restore_and_paste(source, faces, rows, restorer, options, inplace=True, reference=reference)
    return source.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).numpy()


def follow_frame_map(
    faces: torch.Tensor, alignment: Alignment, frame_map: torch.Tensor | np.ndarray | None
) -> tuple[torch.Tensor, Alignment]:
    """Aligned faces and their alignment per output frame, following the audio plan's frame map.

    Args:
        faces: ``[N, R, R, 3]`` aligned faces, one per alignment row (``R``: the alignment's resolution).
        alignment: the alignment of the ``N`` source frames.
        frame_map: ``(M,)`` ints, the source frame of each output frame (the video looped or played
            back and forth to the audio); None: the frames as they are.

    Returns:
        ``[M, R, R, 3]`` faces and the alignment of the ``M`` output frames (:meth:`Alignment.select`).
    """
    n_video = len(alignment)
    if faces.shape[0] != n_video:
        raise BadInputError(
            f"{faces.shape[0]} aligned faces but the alignment has {n_video} frames; connect the faces and the "
            "alignment from the same face-alignment node."
        )
    if faces.shape[1] != alignment.resolution:
        raise BadInputError(
            f"The faces are {faces.shape[1]} px but the alignment is for {alignment.resolution} px; "
            "connect the faces and the alignment from the same face-alignment node."
        )
    if frame_map is None:
        return faces, alignment
    index = torch.as_tensor(frame_map, dtype=torch.long).cpu()
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n_video):
        raise BadInputError(
            f"The audio embeddings map to video frames up to {int(index.max())} but the video has {n_video}; "
            "encode the audio for this video."
        )
    return faces[index], alignment.select(index.numpy())
