"""``batch --engine ray``: the planned rows as tasks on a Ray actor pool.

One actor per GPU of the cluster (``num_gpus=1``), or, on a cluster without GPUs, one per ``--cpus-per-job`` CPUs
of each node; each actor keeps its :class:`ModelPool` (models loaded once per version and precision, restorers
once) from row to row. A worker or node that dies mid-row: Ray restarts the actor (``max_restarts``) and runs the
row again (``max_task_retries``), the same job on the same output path, where the job goes on after its last
finished segment; a row whose worker died :data:`RETRIES` + 1 times is reported failed and a fresh actor takes
the next row. Every actor's math libraries run on ``--cpus-per-job`` threads (``torch.set_num_threads`` and the
OpenMP / MKL / OpenBLAS variables of its ``runtime_env``), so a row gives the same frames on any worker.

Ray's own log lines stay out of a run: no dashboard, no usage statistics, the workers' output not forwarded to
this process, Ray's loggers at ERROR. The pack itself travels to the workers (``py_modules``); its
requirements must be installed on every machine.

Every worker opens the rows' videos, speech and model files and writes the outputs at the paths this process
sees: they must be on a folder shared by every machine, at the same path on each. Each actor checks that before
any row runs (:class:`BadInputError` naming the first file it cannot see, its machine and the requirement).

Ray is optional: it is imported here only, and a missing Ray is a :class:`MissingDependencyError` naming
``pip install ray``.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import torch

from ..errors import BadInputError, MissingDependencyError
from ..files.run_files import RunFiles
from .plan import PlannedRow
from .progress import BatchProgress
from .report import FAILED, RowReport
from .runner import FileKey, ModelPool, RunSettings, one_line, run_row

if TYPE_CHECKING:
    from types import ModuleType

DEFAULT_CPUS_PER_JOB = 4
"""CPUs (and math threads) of one actor on a cluster without GPUs; math threads of a GPU actor."""
RETRIES = 3
"""How many times a row whose worker died runs again (and its actor restarts)."""
QUIET_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}
"""Set for a run unless already set: Ray asks nothing and reports nothing (no usage statistics)."""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""The math libraries' thread counts, pinned in every actor's environment."""
LOCAL = "local"
"""Ray's address for a new local cluster."""
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""``latentsync_core``, sent to the workers."""
SHARED_FOLDER = (
    "with --engine ray every video, speech, output folder and model file must be on a folder shared by all machines "
    "(an NFS or SMB mount), at the same path on each"
)


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    """``--cpus-per-job``, the option of ``batch`` that only ``--engine ray`` reads."""
    parser.add_argument(
        "--cpus-per-job", "--cpus_per_job", dest="cpus_per_job", type=_positive, default=DEFAULT_CPUS_PER_JOB, metavar="N",
        help="with --engine ray: the math threads of each Ray actor, and on a cluster without GPUs the CPUs each one "
             "takes (one actor per N CPUs of a machine; with GPUs: one actor per GPU) (default %(default)s)",
    )


def _positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of CPUs (1 or more)")
    return int(text)


def import_ray() -> ModuleType:
    """The ``ray`` module; :class:`MissingDependencyError` naming ``pip install ray`` when it is not installed."""
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("ray", "--engine ray", "pip install ray") from exc
    return ray


def connect(address: str | None = None, num_cpus: int | None = None, runtime_env: dict[str, Any] | None = None) -> bool:
    """Connect this process to the Ray cluster at ``address`` (default: ``RAY_ADDRESS``), or start a local cluster
    on this machine (``num_cpus``: its CPUs to use, None for all), quietly; a process already connected is left
    as it is.

    Args:
        runtime_env: Ray's job-level runtime environment, to which the pack's folder is added (``py_modules``).

    Returns:
        Whether a cluster was started or joined here (the caller ends it with ``ray.shutdown()``).

    Raises:
        BadInputError: no Ray cluster answers at ``address``.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    address = address or os.environ.get("RAY_ADDRESS") or LOCAL  # not a cluster `ray start` left on this machine
    env = dict(runtime_env or {})
    env["py_modules"] = [*env.get("py_modules", ()), PACKAGE_DIR]
    local = {"num_cpus": num_cpus, "include_dashboard": False} if address == LOCAL else {}
    try:
        ray.init(address=address, runtime_env=env, log_to_driver=False, logging_level=logging.ERROR, **local)
    except ConnectionError as exc:
        raise BadInputError(
            f"No Ray cluster answers at --ray-address '{address}' ({one_line(exc)}). Start its head with "
            "'ray start --head' and give the address it prints (with Ray's token authentication, also set "
            "RAY_AUTH_MODE=token here, with the head's ~/.ray/auth_token), or leave --ray-address out for a local "
            "cluster."
        ) from exc
    return True


def actor_shape(nodes: list[dict[str, Any]], cpus_per_job: int) -> tuple[int, dict[str, float]]:
    """How many actors the alive ``nodes`` (``ray.nodes()``) hold and the resources of each: one per GPU
    (``num_gpus=1`` and one CPU), or on a cluster without GPUs one per ``cpus_per_job`` CPUs of a node.

    Raises:
        BadInputError: no node of a cluster without GPUs has ``cpus_per_job`` CPUs.
    """
    alive = [node.get("Resources", {}) for node in nodes if node.get("Alive")]
    gpus = sum(int(r.get("GPU", 0)) for r in alive)
    if gpus:
        return gpus, {"num_gpus": 1, "num_cpus": 1}
    count = sum(int(r.get("CPU", 0)) // cpus_per_job for r in alive)
    if not count:
        most = max((int(r.get("CPU", 0)) for r in alive), default=0)
        raise BadInputError(f"--cpus-per-job {cpus_per_job} is more than any machine of the Ray cluster has (at most "
                            f"{most} CPUs); give --cpus-per-job {max(most, 1)} or less.")
    return count, {"num_cpus": cpus_per_job}


def thread_env(threads: int) -> dict[str, str]:
    """The environment variables that pin the math libraries of an actor to ``threads`` threads."""
    return {name: str(threads) for name in THREAD_VARIABLES}


def unseen_files(planned: list[PlannedRow], files: dict[FileKey, RunFiles]) -> list[str]:
    """What of the rows' files and the model files this process cannot read (or, for an output folder, write):
    one phrase each, in row order."""
    unseen = []
    for plan in planned:
        where = f"row {plan.row.number}'s"
        for what, path in (("video", plan.video), ("speech", plan.audio)):
            if not os.access(path, os.R_OK):
                unseen.append(f"{where} {what} '{path}'")
        folder = os.path.dirname(plan.output)
        if not os.access(folder, os.W_OK | os.X_OK):
            unseen.append(f"{where} output folder '{folder}' (to write in)")
    for run in files.values():
        for path in (run.unet, run.whisper, run.vae, *run.restorers, run.upscaler):
            if path is not None and not os.access(path, os.R_OK) and f"model file '{path}'" not in unseen:
                unseen.append(f"model file '{path}'")
    return unseen


class RowWorker:
    """One actor of the pool: a :class:`ModelPool` kept from row to row, the math libraries on ``threads`` threads."""

    def __init__(self, settings: RunSettings, files: dict[FileKey, RunFiles], threads: int) -> None:
        torch.set_num_threads(threads)
        self.pool = ModelPool(settings, files)

    def check(self, planned: list[PlannedRow], files: dict[FileKey, RunFiles]) -> str | None:
        """None when this worker sees every file of ``planned`` and ``files``, else the one-line error."""
        unseen = unseen_files(planned, files)
        if not unseen:
            return None
        more = f" (and {len(unseen) - 1} more)" if len(unseen) > 1 else ""
        return f"The Ray worker on '{socket.gethostname()}' cannot see {unseen[0]}{more}: {SHARED_FOLDER}."

    def run(self, plan: PlannedRow) -> RowReport:
        """Run one row (never raises for the row's failure: see :func:`run_row`)."""
        return run_row(plan, self.pool)


def run_rows(planned: list[PlannedRow], settings: RunSettings, files: dict[FileKey, RunFiles], progress: BatchProgress,
             address: str | None = None, cpus_per_job: int = DEFAULT_CPUS_PER_JOB) -> list[RowReport]:
    """Run ``planned`` on a Ray actor pool of the cluster at ``address`` (None: a local cluster started for the run);
    one report per row, in the order the rows finish.

    Raises:
        MissingDependencyError: Ray is not installed.
        BadInputError: no cluster at ``address``; ``cpus_per_job`` fits no machine; a worker cannot see a file.
    """
    ray = import_ray()
    if not planned:
        return []
    started = connect(address)
    try:
        return _run_on_pool(ray, planned, settings, files, progress, cpus_per_job)
    finally:
        if started:
            ray.shutdown()


def _run_on_pool(ray: ModuleType, planned: list[PlannedRow], settings: RunSettings, files: dict[FileKey, RunFiles],
                 progress: BatchProgress, cpus_per_job: int) -> list[RowReport]:
    count, resources = actor_shape(ray.nodes(), cpus_per_job)
    worker_settings = dataclasses.replace(settings, download=False, device="cuda" if "num_gpus" in resources else "cpu")
    actor_class = ray.remote(RowWorker).options(
        max_restarts=RETRIES, max_task_retries=RETRIES, runtime_env={"env_vars": thread_env(cpus_per_job)}, **resources,
    )
    started: list[Any] = []

    def new_actor() -> Any:
        started.append(actor_class.remote(worker_settings, files, cpus_per_job))
        return started[-1]

    try:
        idle = [new_actor() for _ in range(min(count, len(planned)))]
        for error in ray.get([actor.check.remote(planned, files) for actor in idle]):
            if error is not None:
                raise BadInputError(error)
        waiting = deque(planned)
        running: dict[Any, tuple[PlannedRow, Any, float]] = {}
        reports: list[RowReport] = []
        while waiting or running:
            while idle and waiting:
                actor, plan = idle.pop(), waiting.popleft()
                running[actor.run.remote(plan)] = (plan, actor, time.perf_counter())
            [ref], _ = ray.wait(list(running), num_returns=1)
            plan, actor, start = running.pop(ref)
            try:
                report = ray.get(ref)
            except ray.exceptions.RayActorError as exc:  # its worker died RETRIES + 1 times: the row fails, not the run
                report = RowReport(plan.row.number, FAILED, time.perf_counter() - start, output=plan.output,
                                   error=f"its Ray worker died {RETRIES + 1} times ({one_line(exc)[:300]})")
                actor = new_actor()
            except ray.exceptions.RayTaskError as exc:  # an error of the engine itself, outside the row's job
                report = RowReport(plan.row.number, FAILED, time.perf_counter() - start, output=plan.output,
                                   error=one_line(exc.cause if exc.cause is not None else exc))
            idle.append(actor)
            progress.row_done(report)
            reports.append(report)
        return reports
    finally:
        for actor in started:
            ray.kill(actor)
