"""One lip-sync of a video file to a speech file with loaded models, as ``lipsync`` and ``batch`` run it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..errors import BadInputError
from ..media.audio_io import Audio
from .hooks import Background, InterruptCheck, ProgressCallback
from .lipsync_job import LipSyncJob, LipSyncModels
from .options import JobOptions
from .sources import FrameSource
from .streamed import JobResult

if TYPE_CHECKING:
    from ..face.aligner import FaceAligner
    from ..restorers import FaceRestorer


def lip_sync_file(
    source: FrameSource, video: str, speech: Audio, output: str, models: LipSyncModels, aligner: FaceAligner,
    options: JobOptions, restorers: Sequence[FaceRestorer] = (), background: Background | None = None,
    on_progress: ProgressCallback | None = None, check_interrupt: InterruptCheck | None = None,
) -> JobResult:
    """Run :class:`LipSyncJob` on ``source`` (the file ``video``) and write ``output``.

    Raises:
        BadInputError: no face in any frame of ``video`` (nothing is written).
    """
    run = LipSyncJob(source, speech.waveform, speech.sample_rate, models, aligner, options, restorers, background,
                     on_progress, check_interrupt)
    try:
        run.prepare()
        if not run.alignment.has_face.any():
            raise BadInputError(
                f"No face was found in any frame of '{video}'. Use a video where a face is visible "
                "(front or three-quarter view), or try --backend insightface."
            )
    except BaseException:
        run.close()
        raise
    return run.write(output)
