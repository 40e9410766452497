"""Frame timestamps and the audio tokens taken at them (variable frame rate sources, issue 15).

A phone-like source: 30 frames at 30 fps, then 30 at 15 fps, in a 1/600 s time base (QuickTime's),
3 s in all, 20 fps on average. Placed at index / fps, frame 45 (shown at 2.0 s) would get the
sound of 2.25 s; taken at its timestamp it gets the sound of 2.0 s. At a constant rate the
timestamp path gives exactly what index / fps gives.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from latentsync_core.lipsync.audio import (
    audio_frame_count, frame_centres, output_times, plan_audio, plan_length, timed_frame_count,
    timestamp_centres, tokens_at,
)
from latentsync_core.lipsync.whisper import WhisperAudioEncoder
from latentsync_core.media.timeline import FrameTimes
from latentsync_core.media.video_io import VideoInfo

PHONE_TB = Fraction(1, 600)
PHONE_PTS = np.concatenate([np.arange(30) * 20, 600 + np.arange(30) * 40]).astype(np.int64)


def info(fps: Fraction, time_base: Fraction) -> VideoInfo:
    return VideoInfo("clip.mp4", 64, 48, Fraction(fps), Fraction(time_base), 0, None, None, None)


def phone() -> FrameTimes:
    return FrameTimes.from_pts(PHONE_PTS, info(Fraction(20), PHONE_TB))


def constant(n: int, fps: Fraction, time_base: Fraction) -> FrameTimes:
    ticks = 1 / (fps * time_base)
    return FrameTimes.from_pts(np.array([round(i * ticks) for i in range(n)], np.int64), info(fps, time_base))


@pytest.fixture(scope="module")
def small_encoder() -> WhisperAudioEncoder:
    torch.manual_seed(0)
    dims = {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 32, "n_audio_head": 2, "n_audio_layer": 1}
    return WhisperAudioEncoder(dims).eval()


def speech(seconds: float, rate: int = 16000) -> torch.Tensor:
    t = torch.arange(round(seconds * rate), dtype=torch.float64) / rate
    return (torch.sin(2 * torch.pi * 220 * t) * torch.sin(2 * torch.pi * 3 * t)).float()[None]


RATES = [(Fraction(25), Fraction(1, 12800)), (Fraction(30000, 1001), Fraction(1, 30000)),
         (Fraction(24000, 1001), Fraction(1, 24000)), (Fraction(30000, 1001), Fraction(1, 90000)),
         (Fraction(60), Fraction(1, 15360)), (Fraction(30000, 1001), Fraction(1, 1000))]


@pytest.mark.parametrize("fps, time_base", RATES)
@pytest.mark.parametrize("mode", ["loop", "pingpong", "trim", "pad_audio"])
def test_constant_rate_timeline_is_index_over_fps(fps, time_base, mode):
    times = constant(997, fps, time_base)
    assert times.constant_rate  # 29.97 fps in milliseconds (rounded timestamps) included
    ticks = 1 / (fps * time_base)
    out = output_times(times, 2500, mode)
    assert out.tolist() == [round(j * ticks) for j in range(2500)]  # what the job writes today
    if ticks.denominator == 1:
        assert torch.equal(timestamp_centres(out, time_base), frame_centres(2500, float(fps)))


@pytest.mark.parametrize("fps, time_base", RATES[:3])
def test_constant_rate_frame_count_is_todays(fps, time_base):
    times = constant(50, fps, time_base)
    for n_samples in (1, 639, 640, 641, 16000, 16001, 123457):
        for mode in ("loop", "pingpong"):
            assert timed_frame_count(times, n_samples, 16000, mode) == audio_frame_count(n_samples, 16000, float(fps))


@pytest.mark.parametrize("mode", ["loop", "pingpong", "trim", "pad_audio"])
def test_constant_rate_plan_equals_the_untimed_plan(small_encoder, mode):
    fps, time_base = Fraction(30000, 1001), Fraction(1, 30000)
    times = constant(40, fps, time_base)
    waveform = speech(2.3)
    plain = plan_audio(small_encoder, waveform, 16000, 40, float(fps), mode)
    timed = plan_audio(small_encoder, waveform, 16000, 40, float(fps), mode, times=times)
    assert not timed.timed and torch.equal(plain.frame_map, timed.frame_map)
    assert torch.equal(plain.features, timed.features) and torch.equal(plain.waveform, timed.waveform)
    assert torch.equal(plain.embeddings(), timed.embeddings())
    n = plain.frame_map.shape[0]
    assert timed.pts(np.arange(n)).tolist() == [round(j / (fps * time_base)) for j in range(n)]


def test_frame_times_from_read_timestamps():
    times = phone()
    assert not times.constant_rate and times.end == 600 + 29 * 40 + 40 and times.time_base == PHONE_TB
    one = FrameTimes.from_pts(np.array([0]), info(Fraction(25), Fraction(1, 12800)))
    assert one.end == 512 and one.constant_rate
    with pytest.raises(ValueError, match="strictly increasing"):
        FrameTimes.from_pts(np.array([0, 20, 20]), info(Fraction(25), PHONE_TB))


def test_variable_rate_frames_keep_their_timestamps_and_loop_repeats_the_timing():
    times, n, period = phone(), 60, 1800  # 3 s in ticks of 1/600
    trim = output_times(times, n, "trim")
    assert np.array_equal(trim, PHONE_PTS)
    loop = output_times(times, 3 * n, "loop")
    assert np.array_equal(loop[n:2 * n], PHONE_PTS + period) and np.array_equal(loop[2 * n:], PHONE_PTS + 2 * period)
    assert np.all(np.diff(loop) > 0)


def test_pingpong_plays_the_intervals_backwards_in_a_backward_turn():
    times, n, period = phone(), 60, 1800
    out = output_times(times, 2 * n + 1, "pingpong")
    frame_map = plan_length(n, 2 * n + 1, "pingpong").numpy()
    assert np.all(np.diff(out) > 0)
    shown = np.diff(out)  # how long each output frame is shown
    source = np.diff(np.append(PHONE_PTS, times.end))
    assert np.array_equal(shown[:n], source)  # forward: the source's own durations
    assert np.array_equal(frame_map[n:2 * n], np.arange(n)[::-1]) and frame_map[2 * n] == 0
    # backward: source frames 59, 58, ..., 0, the source's intervals in reverse order; the last
    # (frame 0, repeated by the next forward turn) lasts as long as the source's last frame
    assert np.array_equal(shown[n:2 * n - 1], np.diff(PHONE_PTS)[::-1])
    assert shown[2 * n - 1] == times.end - PHONE_PTS[-1]
    assert out[n] == period and out[2 * n] == 2 * period  # each turn lasts the source's duration


def test_variable_rate_tokens_come_from_the_timestamp(small_encoder):
    times = phone()
    waveform = speech(3.0)
    timed = plan_audio(small_encoder, waveform, 16000, 60, 20.0, "trim", times=times)
    plain = plan_audio(small_encoder, waveform, 16000, 60, 20.0, "trim")
    assert timed.timed and timed.frame_map.shape[0] == 60
    # frame 45 is shown at 2.0 s: centre step 100, where index / fps says 45 * 50 / 20 = 112
    assert int(timestamp_centres(timed.pts(np.array([45])), PHONE_TB)[0]) == 100
    assert torch.equal(timed.embeddings(np.array([45])), tokens_at(timed.features, torch.tensor([100])))
    assert not torch.equal(timed.embeddings(np.array([45])), plain.embeddings(np.array([45])))
    # the first 30 frames are at 30 fps on both clocks' grid: frame 15 at 0.5 s, step 25
    assert torch.equal(timed.embeddings(np.array([15])), tokens_at(timed.features, torch.tensor([25])))
    assert timed.waveform.shape[-1] == 48000  # cut to the video's 3 s


def test_variable_rate_output_length_follows_the_timeline(small_encoder):
    times = phone()
    assert timed_frame_count(times, 7 * 16000, 16000, "loop") == 150  # 2 turns + the frames of the first 1 s
    long = plan_audio(small_encoder, speech(7.0), 16000, 60, 20.0, "loop", times=times)
    assert long.frame_map.shape[0] == 150 and long.times[-1] == 2 * 1800 + 600
    assert long.waveform.shape[-1] == 7 * 16000
    short = plan_audio(small_encoder, speech(2.0), 16000, 60, 20.0, "pad_audio", times=times)
    assert short.frame_map.shape[0] == 60 and short.waveform.shape[-1] == 3 * 16000
    assert short.waveform[..., 2 * 16000:].abs().max() == 0
