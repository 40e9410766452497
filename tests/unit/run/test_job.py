"""The streamed job (latentsync_core.job) against the in-memory path (latentsync_core.job.lip_sync).

Random models as in ``test_pipeline.py`` (tiny LatentSync UNet, tiny VAE, random
Whisper tiny); faces are mediapipe's in jittered astronaut clips written as lossless
FFV1 .mkv files, and the job writes lossless output (``crf=0``), so decoded frames can
be compared bit for bit. Windows and chunks are small so that the job re-reads frames
(pingpong backwards), samples several chunks and pastes across window edges.
"""
from __future__ import annotations

import math
import os
from dataclasses import replace
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from latentsync_core.errors import BadInputError
from latentsync_core.face.aligner import FaceAligner
from latentsync_core.face.geometry import apply_affine
from latentsync_core.face.landmarks import get_backend
from latentsync_core.job import (
    EnhanceJob, IterableSource, JobOptions, LipSyncJob, LipSyncModels, TimeSpan, enhance_video, lip_sync_video, open_source,
)
from latentsync_core.lipsync.sampler import SamplerSettings
from latentsync_core.media.video_io import VideoInfo, VideoWriter, probe, read_windows
from latentsync_core.job import lip_sync
from clips import astronaut, cutaway, jitter_affines
from tiny_job import BASE, FPS, RATE, decode, face_clip, speech, tiny_models, write_lossless

OPTIONS = JobOptions(sampler=SamplerSettings(steps=1, guidance_scale=1.0, seed=11, chunk_size=2), window=2, crf=0)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> LipSyncModels:
    return tiny_models(tmp_path_factory.mktemp("whisper"))


@pytest.fixture(scope="module")
def backend():
    return get_backend("mediapipe")


def audio_seconds(path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


def in_memory(frames: np.ndarray, waveform, models, backend, options):
    result = lip_sync(torch.from_numpy(frames).float() / 255, waveform, RATE, float(FPS), models, FaceAligner(backend), options)
    return result, (result.frames * 255).round().clamp(0, 255).to(torch.uint8).numpy()


@pytest.mark.parametrize("mode, n_video, n_audio, frame_map", [
    ("pingpong", 3, 7, [0, 1, 2, 2, 1, 0, 0]),
    ("loop", 3, 5, [0, 1, 2, 0, 1]),
])
def test_streamed_equals_in_memory_when_the_video_is_shorter(tmp_path, models, backend, mode, n_video, n_audio, frame_map):
    src, out = tmp_path / "face.mkv", tmp_path / "out.mp4"
    write_lossless(src, face_clip(n_video, seed=1))
    frames = decode(src)
    waveform = speech(n_audio)
    options = replace(OPTIONS, length_mode=mode)
    events: dict[str, list] = {}
    result = lip_sync_video(
        str(src), waveform, RATE, str(out), models, FaceAligner(backend), options,
        on_progress=lambda stage, done, total: events.setdefault(stage, []).append((done, total)),
    )
    expected, expected_u8 = in_memory(frames, waveform, models, backend, options)
    assert expected.frame_map.tolist() == frame_map
    got = decode(out)
    assert got.shape == expected_u8.shape == (n_audio, 480, 640, 3)
    assert np.array_equal(got, expected_u8), "streamed frames differ from the in-memory ones"
    for j, src_index in enumerate(frame_map):
        assert (got[j] != frames[src_index]).any(), f"output frame {j} was not lip-synced"
    assert result.frames == n_audio and result.source_frames == n_video and result.faces == n_audio
    assert probe(out).fps == FPS
    assert audio_seconds(out) == pytest.approx(n_audio / 25, abs=1e-3)
    assert events["write"][-1] == (n_audio, n_audio) and events["align"][-1][0] == n_video
    chunks = math.ceil(n_audio / 2)
    assert events["sample"][-1] == (chunks, chunks)


def test_variable_frame_rate_keeps_each_frames_timestamp(tmp_path, models, backend):
    # a phone's variable frame rate: the frames' timestamps (ms) drift from i / 25 by up to 1.6 frames
    stamps = np.array([0, 40, 100, 120, 200, 230])
    frames = face_clip(len(stamps), seed=21)
    src, out = tmp_path / "vfr.mkv", tmp_path / "out.mkv"
    info = VideoInfo(str(src) + ".none", 640, 480, FPS, Fraction(1, 1000), 0, len(stamps), None, None)
    with VideoWriter(src, info, crf=0) as writer:
        writer.write(frames, stamps)
    job = LipSyncJob(str(src), speech(7), RATE, models, FaceAligner(backend), replace(OPTIONS, length_mode="trim"))
    job.write(str(out))
    assert job.audio.timed
    written = [w.pts for w in read_windows(probe(out), 16)]
    got = np.concatenate(written) * probe(out).time_base
    np.testing.assert_array_equal(got, stamps * Fraction(1, 1000))


def test_a_batch_of_audio_clips_is_refused_in_one_line(tmp_path, models, backend):
    src = tmp_path / "clip.mkv"
    write_lossless(src, face_clip(2, seed=3))
    with pytest.raises(BadInputError, match="batch of 2 clips; give one clip"):
        LipSyncJob(str(src), speech(2).repeat(2, 1, 1), RATE, models, FaceAligner(backend), OPTIONS)


def test_cutaway_in_the_middle_is_bit_identical_and_faces_match_in_memory(tmp_path, models, backend):
    faces = face_clip(4, seed=4)
    frames = np.stack([faces[0], faces[1], cutaway(seed=6), faces[2], faces[3]])
    src, out = tmp_path / "cut.mkv", tmp_path / "out.mkv"
    write_lossless(src, frames)
    frames = decode(src)
    waveform = speech(5)
    options = replace(OPTIONS, length_mode="trim")
    lip_sync_video(str(src), waveform, RATE, str(out), models, FaceAligner(backend), options)
    _, expected = in_memory(frames, waveform, models, backend, options)
    got = decode(out)
    assert np.array_equal(got, expected)
    assert np.array_equal(got[2], frames[2]), "the cutaway frame changed"
    assert all((got[j] != frames[j]).any() for j in (0, 1, 3, 4))


def dropout_clip(n: int, covered: tuple[int, ...], seed: int) -> np.ndarray:
    """``(n, 480, 640, 3)`` uint8 face frames with the face covered (the rest as before) in frames ``covered``."""
    frames = face_clip(n, seed=seed)
    photo_box = get_backend("mediapipe").detect(astronaut())[0].bbox.reshape(2, 2)
    for i in covered:
        x0, y0, x1, y1 = apply_affine(jitter_affines(n, seed=seed, base=BASE)[i], photo_box).ravel().astype(int)
        frames[i, y0 - 8 : y1 + 8, x0 - 8 : x1 + 8] = 40
    return frames


def test_dropout_across_a_window_edge_is_bridged_as_in_memory(tmp_path, models, backend):
    # window 3: frames 0-2 | 3-5; the face is covered in frames 2 and 3, on both sides of the edge
    src, out = tmp_path / "dropout.mkv", tmp_path / "out.mkv"
    write_lossless(src, dropout_clip(6, (2, 3), seed=12))
    frames = decode(src)
    waveform = speech(6)
    options = replace(OPTIONS, length_mode="trim", window=3)
    job = LipSyncJob(str(src), waveform, RATE, models, FaceAligner(backend), options)
    job.write(str(out))
    assert job.alignment.interpolated.tolist() == [False, False, True, True, False, False]
    assert job.alignment.has_face.all()
    result, expected = in_memory(frames, waveform, models, backend, options)
    assert np.array_equal(decode(out), expected), "streamed frames differ from the in-memory ones"
    assert all((expected[j] != frames[j]).any() for j in range(6)), "a bridged frame was not lip-synced"


def test_a_time_span_of_the_video_is_all_that_is_read_and_written(tmp_path, models, backend):
    """A ComfyUI VIDEO's trim window: the job over frames 2..4 of 6 equals the in-memory path over those frames."""
    frames = face_clip(6, seed=8)
    frames[1] = cutaway(seed=9)
    src, out = tmp_path / "clip.mkv", tmp_path / "out.mkv"
    write_lossless(src, frames)
    frames = decode(src)
    waveform = speech(5)
    options = replace(OPTIONS, length_mode="pingpong")
    result = lip_sync_video(open_source(str(src), TimeSpan(0.08, 0.12)), waveform, RATE, str(out), models,
                            FaceAligner(backend), options)
    expected, expected_u8 = in_memory(frames[2:5], waveform, models, backend, options)
    assert result.source_frames == 3 and expected.frame_map.tolist() == [0, 1, 2, 2, 1]
    assert np.array_equal(decode(out), expected_u8), "frames outside the span were read, or other frames written"
    stamps = np.concatenate([w.pts for w in read_windows(probe(out), 8)]) * probe(out).time_base
    np.testing.assert_array_equal(stamps, np.arange(5) * Fraction(1, 25))


@pytest.mark.parametrize("mode, n_out, seconds", [("trim", 3, 3 / 25), ("pad_audio", 5, 5 / 25)])
def test_audio_longer_or_shorter_than_the_video(tmp_path, models, backend, mode, n_out, seconds):
    """trim: the audio (3 frames) cuts the video (5); pad_audio: the video's 5 frames, audio padded with silence."""
    frames = face_clip(5, seed=2)
    frames[3] = cutaway(seed=3)
    source = IterableSource(lambda: [frames[:2], frames[2:]], FPS, 640, 480)
    options = replace(OPTIONS, length_mode=mode)
    job = LipSyncJob(source, speech(3), RATE, models, FaceAligner(backend), options)
    result = job.write(str(tmp_path / "out.mp4"))
    assert result.frames == n_out and job.audio.frame_map.tolist() == list(range(n_out))
    assert job.audio.waveform.shape[-1] == round(seconds * RATE)
    assert audio_seconds(tmp_path / "out.mp4") == pytest.approx(seconds, abs=1e-3)


def test_failure_leaves_nothing_behind(tmp_path, models, backend):
    frames = face_clip(3, seed=5)
    source = IterableSource(lambda: [frames], FPS, 640, 480)
    calls = []

    def interrupt():  # checks: 2 aligned windows, 1 audio window, then per chunk one before it and one per step
        calls.append(1)
        if len(calls) == 7:  # the second chunk's step: the first chunk is already encoded
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lip_sync_video(source, speech(3), RATE, str(tmp_path / "out.mp4"), models, FaceAligner(backend), OPTIONS,
                       check_interrupt=interrupt)
    assert list(tmp_path.iterdir()) == []


def decode_audio(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.concatenate([frame.to_ndarray() for frame in container.decode(audio=0)], axis=1)


@pytest.mark.parametrize("mode, n_audio", [("pad_audio", 3), ("trim", 7)])
def test_written_audio_equals_the_in_memory_waveform_written_whole(tmp_path, models, backend, mode, n_audio):
    """The job writes the caller's speech as it is (cut, or padded with silence as it is written): the same AAC
    track as the in-memory form's fitted waveform given whole to the writer."""
    frames = np.stack([cutaway(seed=s) for s in range(5)])
    waveform = torch.cat([speech(n_audio, seed=1), 0.5 * speech(n_audio, seed=2)])  # stereo
    options = replace(OPTIONS, length_mode=mode)
    out, whole = tmp_path / "job.mp4", tmp_path / "whole.mp4"
    job = LipSyncJob(IterableSource(lambda: [frames], FPS, 640, 480), waveform, RATE, models, FaceAligner(backend), options)
    job.write(str(out))
    assert job.audio.speech.data_ptr() == job.waveform.data_ptr(), "the job copied the speech"
    fitted = in_memory(frames, waveform, models, backend, options)[0].waveform
    assert fitted.shape[-1] == job.audio.n_samples == round(5 * RATE / 25)
    with VideoWriter(whole, probe(out), audio=(fitted, RATE)) as writer:
        writer.write(frames, np.arange(5))
    assert np.array_equal(decode_audio(out), decode_audio(whole))


def test_temporary_audio_files_go_after_success_failure_and_interrupt(tmp_path, models, backend):
    frames = face_clip(3, seed=5)
    seen: list[list[str]] = []

    def look(stop_at: int | None = None):
        def check():  # checks: 2 aligned windows, 1 audio window, then per chunk one before it and one per step
            seen.append(sorted(os.listdir(tmp_path)))
            if len(seen) == stop_at:
                raise KeyboardInterrupt
        return check

    def job(source, check=None) -> LipSyncJob:  # kept alive below: the files must go when the job ends, not at exit
        jobs.append(LipSyncJob(source, speech(3), RATE, models, FaceAligner(backend), OPTIONS, check_interrupt=check))
        return jobs[-1]

    jobs: list[LipSyncJob] = []
    job(IterableSource(lambda: [frames], FPS, 640, 480), look()).write(str(tmp_path / "ok.mp4"))
    assert any(name.startswith(".latentsync-") for name in seen[3]), "the features were not in a folder beside the output"
    assert os.listdir(tmp_path) == ["ok.mp4"]
    seen.clear()
    with pytest.raises(KeyboardInterrupt):  # interrupted before the first chunk
        job(IterableSource(lambda: [frames], FPS, 640, 480), look(4)).write(str(tmp_path / "stop.mp4"))
    assert any(name.startswith(".latentsync-") for name in seen[3]) and os.listdir(tmp_path) == ["ok.mp4"]
    reads = []

    def fewer_frames_on_the_second_read():
        reads.append(1)
        return [frames] if len(reads) == 1 else [frames[:1]]

    with pytest.raises(BadInputError, match="fewer frames on a second read"):
        job(IterableSource(fewer_frames_on_the_second_read, FPS, 640, 480)).write(str(tmp_path / "fail.mp4"))
    assert os.listdir(tmp_path) == ["ok.mp4"] and len(jobs) == 3


@pytest.fixture(scope="module")
def random_gfpgan():
    """A GFPGAN v1.4 network with seeded random weights (as ``restorer_weights`` builds them)."""
    from spandrel.architectures.GFPGAN import GFPGAN

    from latentsync_core.restorers import restorer_from_state_dict
    from restorer_weights import GFPGAN_SEED, seeded_state_dict

    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in GFPGAN().state_dict().items()}
    return restorer_from_state_dict(seeded_state_dict(shapes, GFPGAN_SEED))


def lip_sync_with_restorer(tmp_path, models, backend, name, sr_ratio, restorers):
    """(decoded lossless output, mouths restored) of a 1-frame clip lip-synced with ``restorers``."""
    src = tmp_path / "face.mkv"
    if not src.exists():
        write_lossless(src, face_clip(1, seed=7))
    options = replace(OPTIONS, sr_ratio=sr_ratio, length_mode="trim")
    path = tmp_path / f"{name}.mkv"
    result = lip_sync_video(str(src), speech(1), RATE, str(path), models, FaceAligner(backend), options, restorers)
    return decode(path), result.restored


def test_restorer_that_restores_nothing_leaves_frames_bit_identical(tmp_path, models, backend, random_gfpgan):
    none, _ = lip_sync_with_restorer(tmp_path, models, backend, "none", 1.0, ())
    skipped, restored = lip_sync_with_restorer(tmp_path, models, backend, "skipped", 1000.0, (random_gfpgan,))
    assert restored == 0 and np.array_equal(skipped, none)
    # enhance: a restorer loaded, nothing to restore: the decoded source, bit for bit
    src, enhanced = tmp_path / "face.mkv", tmp_path / "enhanced.mkv"
    result = enhance_video(str(src), str(enhanced), FaceAligner(backend), JobOptions(sr_ratio=1000.0, crf=0), (random_gfpgan,))
    assert result.faces == 1 and result.restored == 0
    assert np.array_equal(decode(enhanced), decode(src))


class InvertingRestorer:
    """A cheap stand-in for a restorer network: every mouth crop restored comes out inverted."""

    device = torch.device("cpu")

    def restore(self, faces: torch.Tensor, fidelity: float = 0.5) -> torch.Tensor:
        return 1.0 - faces


def test_enhance_bridges_a_dropout_across_a_window_edge_as_one_window_does(tmp_path, backend):
    src = tmp_path / "dropout.mkv"
    write_lossless(src, dropout_clip(6, (2, 3), seed=12))
    runs = {}
    for window in (3, 6):
        job = EnhanceJob(str(src), FaceAligner(backend), JobOptions(sr_ratio=0.0, window=window, crf=0), (InvertingRestorer(),))
        windows = list(job.windows())
        runs[window] = np.concatenate([w.frames for w in windows]), [w.start for w in windows], job.faces
    (streamed, starts, faces), (whole, _, whole_faces) = runs[3], runs[6]
    assert starts == [0, 2] and faces == whole_faces == 6  # frame 2 waited for the face in frame 4
    assert np.array_equal(streamed, whole)
    frames = decode(src)
    assert all((whole[j] != frames[j]).any() for j in range(6)), "a bridged frame was not restored"


@pytest.mark.parametrize("covered", [(1, 2), (2, 3), (3,), (3, 4), (2,), (4,)])
def test_enhance_bridges_a_dropout_at_every_offset_from_a_window_edge_as_one_window_does(tmp_path, backend, covered):
    # window 3: frames 0-2 | 3-5; the covered frames end at, straddle, start at or sit beside the edge
    src = tmp_path / "dropout.mkv"
    write_lossless(src, dropout_clip(6, covered, seed=12))
    runs = {}
    for window in (3, 6):
        job = EnhanceJob(str(src), FaceAligner(backend), JobOptions(sr_ratio=0.0, window=window, crf=0), (InvertingRestorer(),))
        runs[window] = np.concatenate([w.frames for w in job.windows()]), job.faces
    (streamed, faces), (whole, whole_faces) = runs[3], runs[6]
    assert faces == whole_faces == 6, f"the dropout at {covered} was not bridged in one window or streamed"
    assert np.array_equal(streamed, whole), f"the dropout at {covered} came out unlike one window"


def test_enhance_does_not_bridge_held_frames_across_a_following_cut(tmp_path, backend):
    # window 3: frames 0-2 | 3-5; the face is covered in frame 2 (held for the next window), frame 3 is a cutaway
    frames = dropout_clip(6, (2,), seed=12)
    frames[3] = cutaway(seed=13)
    src = tmp_path / "dropout_cut.mkv"
    write_lossless(src, frames)
    frames = decode(src)
    runs = {}
    for window in (3, 6):
        job = EnhanceJob(str(src), FaceAligner(backend), JobOptions(sr_ratio=0.0, window=window, crf=0), (InvertingRestorer(),))
        runs[window] = np.concatenate([w.frames for w in job.windows()]), job.faces
    (streamed, faces), (whole, whole_faces) = runs[3], runs[6]
    assert faces == whole_faces == 4
    assert np.array_equal(streamed, whole)
    assert np.array_equal(whole[2:4], frames[2:4]), "a dropout before a cut was bridged, or the cutaway changed"
    assert all((whole[j] != frames[j]).any() for j in (0, 1, 4, 5))


@pytest.mark.slow
def test_restorer_runs_where_the_mouth_needs_it(tmp_path, models, backend, random_gfpgan):
    none, _ = lip_sync_with_restorer(tmp_path, models, backend, "none", 1.0, ())
    everything, restored = lip_sync_with_restorer(tmp_path, models, backend, "all", 0.0, (random_gfpgan,))
    assert restored == 1 and (everything != none).any(), "the restorer did not run"


def test_background_hook_upscales_the_frame_and_pastes_the_face_at_the_new_size(tmp_path, models, backend):
    frames = face_clip(2, seed=8)
    source = IterableSource(lambda: [frames], FPS, 640, 480)
    seen = []

    def double(batch: np.ndarray) -> np.ndarray:
        seen.append(len(batch))
        return batch.repeat(2, axis=1).repeat(2, axis=2)

    options = replace(OPTIONS, length_mode="trim")
    plain = np.concatenate([w.frames for w in LipSyncJob(source, speech(2), RATE, models, FaceAligner(backend), options).windows()])
    job = LipSyncJob(source, speech(2), RATE, models, FaceAligner(backend), options, background=double)
    big = np.concatenate([w.frames for w in job.windows()])
    assert big.shape == (2, 960, 1280, 3) and sum(seen) == 2
    # the face is pasted where it is in the upscaled frame: 2x2 means of the output follow the plain output
    means = big.reshape(2, 480, 2, 640, 2, 3).mean(axis=(2, 4))
    assert np.abs(means - plain.astype(float)).mean() < 2.0
    assert (big != double(frames)).any()
