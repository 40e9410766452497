"""What the Ray tests' worker processes run first (Ray's ``worker_process_setup_hook``, set on the test cluster).

The workers are other processes: the ``tiny_architectures`` fixture of the test process does not reach them, so
:func:`setup_worker` makes the released configs load the tiny random models there too (:func:`use_tiny_architectures`,
shared with that fixture). It also arms a real crash for the retry test: while the file named by
:data:`KILL_FILE_ENV` exists, the first worker whose job has written part of its output (a window, not all)
renames that file (so exactly one worker, once) and ends its own process with ``os._exit``, as a machine that
dies would.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

KILL_FILE_ENV = "LATENTSYNC_TEST_KILL_FILE"
FIRED_SUFFIX = ".fired"


def use_tiny_architectures(set_config: Callable[[str, Callable], None], set_vae: Callable[[object], None]) -> None:
    """The released configs replaced by the tiny UNet (faces at the version's size) and the tiny VAE, through
    ``set_config(version, factory)`` and ``set_vae(config)``."""
    from latentsync_core.lipsync.unet import LatentSyncUNetConfig
    from latentsync_core.lipsync.vae import TINY_VAE_CONFIG

    tiny = LatentSyncUNetConfig.tiny()
    set_config("1.5", lambda: dataclasses.replace(tiny, resolution=256))
    set_config("1.6", lambda: dataclasses.replace(tiny, resolution=512))
    set_vae(TINY_VAE_CONFIG)


def setup_worker() -> None:
    """Tiny architectures in this worker process; the armed crash (see the module docstring)."""
    from latentsync_core.lipsync import checkpoints
    from latentsync_core.lipsync import vae as vae_module
    from latentsync_core.run.hooks import STAGE_WRITE
    from latentsync_core.run.streamed import StreamedJob

    use_tiny_architectures(checkpoints.CONFIGS.__setitem__, lambda config: setattr(vae_module, "SD_VAE_CONFIG", config))
    armed = os.environ.get(KILL_FILE_ENV)
    if not armed:
        return
    progress = StreamedJob._progress

    def crash_once(self: StreamedJob, stage: str, done: int, total: int) -> None:
        if stage == STAGE_WRITE and 0 < done < total:
            try:
                os.rename(armed, armed + FIRED_SUFFIX)
            except FileNotFoundError:
                pass
            else:
                os._exit(1)
        progress(self, stage, done, total)

    StreamedJob._progress = crash_once
