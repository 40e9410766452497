"""Resume inside one video: a lip-sync job killed (SIGKILL of a real child process) or cancelled continues after
its last finished segment, and gives the output of an uninterrupted run frame for frame (lossless), with the
same timestamps and sound; a changed input or option starts again; the work folder goes after success.

Tiny random models (``tiny_job.py``) over a 16-frame clip, segments of 4 frames (0.12 s: chunks of 2 frames,
cut at the first chunk boundary after 3 frames), so a run has 4 segments.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import replace

import numpy as np
import pytest

from latentsync_core.face.aligner import FaceAligner
from latentsync_core.face.landmarks import get_backend
from latentsync_core.job import JobOptions, LipSyncJob
from latentsync_core.lipsync.sampler import SamplerSettings
from latentsync_core.media.video_io import probe, read_windows
from latentsync_core.run.hooks import STAGE_SAMPLE
from tiny_job import RATE, decode, face_clip, records, run_until, speech, tiny_models, write_lossless

N = 16
OPTIONS = JobOptions(sampler=SamplerSettings(steps=1, guidance_scale=1.0, seed=11, chunk_size=2), window=2, crf=0,
                     segment_seconds=0.12)
CHUNKS, PER_SEGMENT = N // 2, 2

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models(tmp_path_factory.mktemp("whisper"))


@pytest.fixture(scope="module")
def backend():
    return get_backend("mediapipe")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "face.mkv"
    write_lossless(path, face_clip(N, seed=3))
    return str(path)


def job(clip, models, backend, options=OPTIONS, waveform=None, **hooks) -> LipSyncJob:
    return LipSyncJob(clip, speech(N) if waveform is None else waveform, RATE, models, FaceAligner(backend), options,
                      **hooks)


def timestamps(path) -> np.ndarray:
    info = probe(path)
    return np.concatenate([w.pts for w in read_windows(info, 16)]) * info.time_base


def audio_samples(path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(frame.samples for frame in container.decode(audio=0))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, clip, models, backend):
    """The uninterrupted run, written in one go (no segments): frames, timestamps, sound samples."""
    out = tmp_path_factory.mktemp("reference") / "out.mp4"
    job(clip, models, backend, replace(OPTIONS, segment_seconds=0)).write(str(out))
    return decode(out), timestamps(out), audio_samples(out)


def kill_after(clip, out, segments: int, folder) -> None:
    """SIGKILL a child process running the job while it writes the segment after ``segments`` finished ones."""
    ready = out + ".ready"
    child = multiprocessing.get_context("spawn").Process(
        target=run_until, args=(clip, N, out, OPTIONS, segments, ready, str(folder)), daemon=True,
    )
    child.start()
    deadline = time.monotonic() + 300
    while not os.path.exists(ready) and child.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.path.exists(ready), "the child did not reach the kill point"
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    os.remove(ready)


class Steps:
    """The sampler steps a run does (its progress counts on from the steps a resumed run had done)."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.last = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == STAGE_SAMPLE:
            self.first = done if self.first is None else self.first
            self.last = done

    @property
    def run(self) -> int:
        return self.last - self.first + 1


@pytest.mark.parametrize("kills", [(2,), pytest.param((1, 3), marks=pytest.mark.slow)])
def test_a_killed_run_continues_after_its_last_segment_to_the_same_output(
    tmp_path, tmp_path_factory, clip, models, backend, reference, kills
):
    """Killed after ``kills`` finished segments (each run resumed by the next), then run to the end in this
    process: the output of the uninterrupted run, and only the segments after the last kill were sampled."""
    out = str(tmp_path / "out.mp4")
    work = str(tmp_path / ".out.mp4.work")
    stale, fresh = tmp_path / ".old.mp4.work", tmp_path / ".other.mp4.work"
    for folder in (stale, fresh):
        folder.mkdir()
        (folder / "manifest.json").write_text("{}")
    for path in (stale, stale / "manifest.json"):
        os.utime(path, (time.time() - 8 * 86400,) * 2)
    for segments in kills:
        kill_after(clip, out, segments, tmp_path_factory.mktemp("child"))
        assert records(work) == segments and not os.path.exists(out)
        assert any(".partial" in name for name in os.listdir(work)), "the child was not killed inside a segment"
    steps = Steps()
    result = job(clip, models, backend, on_progress=steps).write(out)
    frames, stamps, samples = reference
    assert np.array_equal(decode(out), frames), "the resumed output differs from the uninterrupted one"
    np.testing.assert_array_equal(timestamps(out), stamps)
    assert audio_samples(out) == samples
    assert result.frames == N and result.faces == N
    assert steps.run == CHUNKS - kills[-1] * PER_SEGMENT, "the run did not continue after the last finished segment"
    assert sorted(os.listdir(tmp_path)) == [".other.mp4.work", "out.mp4"], "a work folder is left"


def test_a_cancelled_run_continues_and_a_changed_option_or_input_starts_again(tmp_path, clip, models, backend, reference):
    out = str(tmp_path / "out.mp4")
    work = str(tmp_path / ".out.mp4.work")

    def cancel_after(segments: int):
        def check() -> None:
            if records(work) >= segments:
                raise KeyboardInterrupt
        return check

    with pytest.raises(KeyboardInterrupt):
        job(clip, models, backend, check_interrupt=cancel_after(2)).write(out)
    steps = Steps()
    job(clip, models, backend, on_progress=steps).write(out)
    assert steps.first == 2 * PER_SEGMENT + 1, "the run did not continue after the last finished segment"
    assert np.array_equal(decode(out), reference[0]) and sorted(os.listdir(tmp_path)) == ["out.mp4"]
    with pytest.raises(KeyboardInterrupt):
        job(clip, models, backend, check_interrupt=cancel_after(2)).write(out)
    seed = replace(OPTIONS, sampler=replace(OPTIONS.sampler, seed=12))
    for changed in ({"options": seed}, {"waveform": speech(N, seed=1)}):
        steps = Steps()
        with pytest.raises(KeyboardInterrupt):
            job(clip, models, backend, on_progress=steps, check_interrupt=cancel_after(1), **changed).write(out)
        assert steps.first == 1 and records(work) == 1, "the segments of another input or option were used"
