"""One row of a batch on loaded models: :class:`ModelPool` keeps what rows share, :func:`run_row` runs a row."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..errors import LatentSyncError
from ..files.run_files import RunFiles, run_files
from ..media.audio_io import read_audio
from ..run.hooks import ProgressCallback
from ..run.host import FolderHost, landmark_backend, lipsync_dtypes
from ..run.lipsync_file import lip_sync_file
from ..run.lipsync_job import LipSyncModels
from ..run.loading import face_aligner, load_background, load_lipsync_models, load_restorers
from ..run.output_record import is_up_to_date, write_record
from ..run.sources import open_source
from .plan import PlannedRow
from .report import DONE, FAILED, SKIPPED, RowReport

if TYPE_CHECKING:
    from ..face.landmarks import LandmarkBackend
    from ..restorers import FaceRestorer
    from ..upscalers import FrameUpscaler

FileKey = tuple[str, str]
"""(version, superres): what decides the model files of a row."""


@dataclass(frozen=True)
class RunSettings:
    """What every row of a batch shares (the host's settings, not the job's); plain values, so an engine can send
    them to other processes.

    Attributes:
        models_dir: the models folder (None: ``./models``).
        download: whether missing official files may be downloaded (not ``--offline``).
        device: a checked torch device name.
        bg_upscale: the background upscaler (``--bg_upscale``), None for none.
        quiet: no notes on stderr.
    """

    models_dir: str | None = None
    download: bool = True
    device: str = "cpu"
    bg_upscale: str | None = None
    quiet: bool = False

    def host(self) -> FolderHost:
        return FolderHost(self.models_dir, self.download, torch.device(self.device), self.quiet)


def file_key(plan: PlannedRow) -> FileKey:
    return plan.values["version"], plan.values["superres"]


def find_model_files(planned: list[PlannedRow], settings: RunSettings) -> dict[FileKey, RunFiles]:
    """The model files of every row, found (missing official ones downloaded) before any row runs.

    Raises:
        MissingModelError: naming the files still missing (``--offline``).
    """
    host = settings.host()
    return {key: run_files(host, *key, settings.bg_upscale) for key in dict.fromkeys(map(file_key, planned))}


class ModelPool:
    """The loaded models rows share: LatentSync once per (version, precision), the restorers once per set, the
    background upscaler once, a landmark backend once per name. Loads on first use; :meth:`close` closes the
    landmark backends."""

    def __init__(self, settings: RunSettings, files: dict[FileKey, RunFiles]) -> None:
        self.settings = settings
        self.host = settings.host()
        self.files = files
        self._lipsync: dict[tuple[str, Any], tuple[LipSyncModels, int]] = {}
        self._restorers: dict[str, list[FaceRestorer]] = {}
        self._backends: dict[str, LandmarkBackend] = {}
        self._background: dict[str | None, FrameUpscaler | None] = {}

    def _files(self, version: str, superres: str) -> RunFiles:
        return self.files[(version, superres)]

    def lipsync(self, version: str, superres: str, dtype: str) -> tuple[LipSyncModels, int]:
        """The LatentSync models of ``version`` with the UNet in ``dtype`` and their face resolution."""
        dtypes = lipsync_dtypes(self.host, dtype)
        key = (version, dtypes)
        if key not in self._lipsync:
            self._lipsync[key] = load_lipsync_models(self._files(version, superres), version, self.host.device, dtypes)
        return self._lipsync[key]

    def restorers(self, version: str, superres: str) -> list[FaceRestorer]:
        """The restorers of the ``superres`` choice, in the order they are applied."""
        if superres not in self._restorers:
            self._restorers[superres] = load_restorers(self._files(version, superres), self.host)
        return self._restorers[superres]

    def background(self, version: str, superres: str) -> FrameUpscaler | None:
        """The background upscaler of the settings (None without one)."""
        files = self._files(version, superres)
        if files.upscaler not in self._background:
            self._background[files.upscaler] = load_background(files, self.host.device)
        return self._background[files.upscaler]

    def backend(self, name: str) -> LandmarkBackend:
        """The landmark backend ``name``, opened once, its tracking state forgotten (MediaPipe's ``reset``): a row's
        frames do not depend on the rows before it."""
        if name not in self._backends:
            self._backends[name] = landmark_backend(self.host, name)
        backend = self._backends[name]
        reset = getattr(backend, "reset", None)
        if reset is not None:
            reset()
        return backend

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()
        self._backends.clear()

    def __enter__(self) -> ModelPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def one_line(exc: BaseException) -> str:
    """The one-line message of a row's error (the type's name for one that is not the pack's own)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, LatentSyncError) else f"{type(exc).__name__}: {text}"


def recorded_values(plan: PlannedRow, settings: RunSettings) -> dict[str, Any]:
    """What the output record holds of a row's settings: its option values and the background upscaler."""
    return {**plan.values, "bg_upscale": settings.bg_upscale}


def is_done(plan: PlannedRow, settings: RunSettings) -> bool:
    """Whether the row's output is complete and made from its inputs, options and this pack version."""
    return is_up_to_date(plan.output, {"video": plan.video, "audio": plan.audio}, recorded_values(plan, settings))


def run_row(plan: PlannedRow, pool: ModelPool, on_progress: ProgressCallback | None = None) -> RowReport:
    """Run one row on ``pool``'s models: skipped when its output is up to date, else written with its record.

    A failure of the row is its report (``failed`` and the one-line message), never an exception;
    KeyboardInterrupt goes through.
    """
    start = time.perf_counter()
    number, values = plan.row.number, plan.values
    try:
        if is_done(plan, pool.settings):
            return RowReport(number, SKIPPED, time.perf_counter() - start, output=plan.output)
        version, superres = file_key(plan)
        models, resolution = pool.lipsync(version, superres, values["dtype"])
        restorers = pool.restorers(version, superres)
        background = pool.background(version, superres)
        aligner = face_aligner(pool.backend(values["backend"]), resolution, values["landmark_cache"],
                               values["landmark_cache_max"], values["allow_stylised"])
        result = lip_sync_file(open_source(plan.video), plan.video, read_audio(plan.audio), plan.output, models, aligner,
                               plan.options, restorers, background, on_progress)
        write_record(plan.output, {"video": plan.video, "audio": plan.audio}, recorded_values(plan, pool.settings))
    except Exception as exc:  # noqa: BLE001 - a row's failure is reported; the other rows go on
        return RowReport(number, FAILED, time.perf_counter() - start, output=plan.output, error=one_line(exc))
    return RowReport(number, DONE, time.perf_counter() - start, result.frames, plan.output)
