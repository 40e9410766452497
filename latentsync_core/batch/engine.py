"""Where the planned rows run: the one seam between ``batch`` and its engines.

``local`` (default) runs the rows one after another in this process on one :class:`ModelPool`; ``ray`` runs
them on a Ray actor pool (:mod:`latentsync_core.batch.ray_engine`, which imports Ray, optional, only when it
runs). Both take the model files found before any row ran and give one :class:`RowReport` per row.
"""
from __future__ import annotations

from typing import Literal

from ..files.run_files import RunFiles
from . import ray_engine
from .plan import PlannedRow
from .progress import BatchProgress
from .report import RowReport
from .runner import FileKey, ModelPool, RunSettings, run_row

Engine = Literal["local", "ray"]
ENGINES: tuple[Engine, ...] = ("local", "ray")


def run_local(planned: list[PlannedRow], settings: RunSettings, files: dict[FileKey, RunFiles],
              progress: BatchProgress) -> list[RowReport]:
    """The rows one after another on one model pool, the frames bar following each."""
    reports = []
    with ModelPool(settings, files) as pool:
        for plan in planned:
            report = run_row(plan, pool, progress.frames)
            progress.row_done(report)
            reports.append(report)
    return reports


def run_batch(planned: list[PlannedRow], settings: RunSettings, files: dict[FileKey, RunFiles],
              engine: Engine = "local", ray_address: str | None = None,
              cpus_per_job: int = ray_engine.DEFAULT_CPUS_PER_JOB) -> list[RowReport]:
    """Run ``planned`` on ``engine`` with a bar over the rows (and, locally, one over the current row's frames),
    quiet when ``settings.quiet``. Never raises for a row's failure; KeyboardInterrupt goes through.

    Raises:
        MissingDependencyError: ``ray`` without Ray installed.
        BadInputError: ``ray``: see :func:`ray_engine.run_rows`.
    """
    with BatchProgress(len(planned), settings.quiet) as progress:
        if engine == "local":
            return run_local(planned, settings, files, progress)
        return ray_engine.run_rows(planned, settings, files, progress, address=ray_address, cpus_per_job=cpus_per_job)
