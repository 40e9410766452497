"""Waveform preparation, resampling, frame alignment, windowing and length modes (no real model)."""
from __future__ import annotations

import functools
import math

import pytest
import torch

from latentsync_core.lipsync.audio import (
    AudioEmbeds,
    audio_frame_count,
    embed_audio_for_video,
    fit_waveform,
    frame_centres,
    per_frame_embeddings,
    plan_length,
    prepare_waveform,
    resample,
    window_starts,
    window_weights,
)
from latentsync_core.errors import BadInputError


def sine(freq: float, rate: int, seconds: float) -> torch.Tensor:
    t = torch.arange(round(rate * seconds), dtype=torch.float64) / rate
    return torch.sin(2 * math.pi * freq * t)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 44101])
@pytest.mark.parametrize("freq", [440.0, 3000.0])
def test_resample_keeps_a_tone(rate, freq):
    out = resample(sine(freq, rate, 1.0).float(), rate, 16000)
    assert out.shape == (math.ceil(rate * 1.0 * 16000 / rate),) and out.dtype == torch.float32
    expected = sine(freq, 16000, out.shape[0] / 16000)
    assert (out.double() - expected)[1600:-1600].abs().max() < 1e-4


@pytest.mark.parametrize("rate", [22050, 44100, 48000, 44101])
def test_resample_removes_tones_above_the_new_nyquist(rate):
    out = resample(sine(9000.0, rate, 1.0).float(), rate, 16000)
    assert out[1600:-1600].pow(2).mean().sqrt() < 1e-3


def test_resample_same_rate_and_leading_dims():
    x = torch.randn(2, 3, 1000)
    assert resample(x, 16000, 16000) is x
    y = resample(x, 44100, 16000)
    assert y.shape == (2, 3, math.ceil(1000 * 160 / 441))
    torch.testing.assert_close(y[1, 2], resample(x[1, 2], 44100, 16000))


def test_polyphase_and_per_sample_filters_agree():
    from latentsync_core.lipsync.audio import _Lowpass, _resample_direct, _resample_polyphase, _zero_padded_span

    x = torch.randn(2, 4410, dtype=torch.float64)
    read = functools.partial(_zero_padded_span, x)
    lowpass = _Lowpass(0.95 * 160 / 441, 67, 10.0)
    n_out = math.ceil(4410 * 160 / 441)
    torch.testing.assert_close(_resample_direct(read, 441, 160, 0, n_out, lowpass),
                               _resample_polyphase(read, 441, 160, 0, n_out, lowpass))


def test_prepare_waveform_downmixes_and_resamples():
    left = sine(440.0, 44100, 0.5).float()
    stereo = torch.stack([left, 0.5 * left])[None]  # [1, 2, T]
    mono = prepare_waveform(stereo, 44100)
    assert mono.shape == (8000,) and mono.dtype == torch.float32
    expected = 0.75 * sine(440.0, 16000, 0.5)
    assert (mono.double() - expected)[800:-800].abs().max() < 1e-4


@pytest.mark.parametrize(
    "waveform, rate, message",
    [
        (torch.zeros(2, 1, 16000), 16000, "batch of 2"),
        (torch.zeros(1, 100), 16000, "too short"),
        (torch.full((1, 16000), float("nan")), 16000, "NaN"),
        (torch.zeros(1, 16000), 0, "sample rate"),
    ],
)
def test_prepare_waveform_rejects_bad_audio(waveform, rate, message):
    with pytest.raises(BadInputError, match=message):
        prepare_waveform(waveform, rate)


def test_frame_centres_at_25_fps_are_twice_the_index():
    assert torch.equal(frame_centres(500, 25), 2 * torch.arange(500))


@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0, 30000 / 1001])
def test_frame_centres_follow_time_at_any_fps(fps):
    centres = frame_centres(1000, fps)
    assert (centres.diff() >= 0).all()
    start = torch.arange(1000, dtype=torch.float64) * 50.0 / fps  # frame start time, in feature steps
    assert ((centres <= start + 1e-6) & (start < centres + 1)).all()


@pytest.mark.parametrize("fps, expected", [(24.0, 240), (25.0, 250), (30.0, 300), (60.0, 600)])
def test_frame_count_and_tokens_at_any_fps(fps, expected):
    n = audio_frame_count(160000, 16000, fps)
    assert n == expected
    features = torch.arange(500, dtype=torch.float32)[:, None, None].expand(500, 5, 384)
    embeds = per_frame_embeddings(features, n, fps)
    assert embeds.shape == (expected, 50, 384)
    steps = embeds[:, ::5, 0]  # layer 0 of each of the 10 steps = the step index
    assert (steps.diff(dim=1) >= 0).all() and (steps[:, 4].diff() >= 0).all()


def test_tokens_are_step_major_and_clamped():
    features = torch.zeros(20, 5, 384)
    features[:, :, 0] = torch.arange(20.0)[:, None]  # step index
    features[:, :, 1] = torch.arange(5.0)[None, :]  # layer index
    embeds = per_frame_embeddings(features, 11, 25)
    step = embeds[..., 0].reshape(11, 10, 5)
    layer = embeds[..., 1].reshape(11, 10, 5)
    for i in (0, 1, 5, 10):
        expected = (torch.arange(2 * i - 4, 2 * i + 6).clamp(0, 19)).float()
        assert torch.equal(step[i, :, 0], expected) and torch.equal(step[i], expected[:, None].expand(10, 5))
    assert torch.equal(layer[3], torch.arange(5.0).expand(10, 5))


@pytest.mark.parametrize("n_steps", [10, 1500, 1501, 1800, 2600, 9000])
def test_windows_cover_the_clip_and_weights_sum_to_one(n_steps):
    starts = window_starts(n_steps, 1500, 1000)
    assert starts[0] == 0 and starts[-1] == max(0, n_steps - 1500)
    assert all(0 < b - a <= 1000 for a, b in zip(starts, starts[1:]))
    weights = window_weights(starts, n_steps, 1500, 50)
    torch.testing.assert_close(weights.sum(0), torch.ones(n_steps))
    for k, start in enumerate(starts):
        outside = torch.ones(n_steps, dtype=torch.bool)
        outside[start: start + 1500] = False
        assert (weights[k][outside] == 0).all()
    single = (weights == 1).any(0).float().mean()
    assert single > 0.9  # only the crossfades mix two windows


def test_single_window_weights_are_exactly_one():
    assert torch.equal(window_weights([0], 900, 1500, 50), torch.ones(1, 900))


AUDIO_LONGER = {"loop": 30, "pingpong": 30, "trim": 10, "pad_audio": 10}
AUDIO_SHORTER = {"loop": 10, "pingpong": 10, "trim": 10, "pad_audio": 30}


@pytest.mark.parametrize("mode", sorted(AUDIO_LONGER))
def test_length_modes_give_the_right_frame_count(mode):
    assert plan_length(10, 30, mode).shape == (AUDIO_LONGER[mode],)
    assert plan_length(30, 10, mode).shape == (AUDIO_SHORTER[mode],)


def test_loop_and_pingpong_frame_maps():
    forward = torch.arange(4)
    assert torch.equal(plan_length(4, 10, "loop"), torch.cat([forward, forward, forward[:2]]))
    assert torch.equal(plan_length(4, 10, "pingpong"), torch.cat([forward, forward.flip(0), forward[:2]]))
    assert torch.equal(plan_length(30, 10, "pingpong"), torch.arange(10))
    with pytest.raises(BadInputError, match="Unknown length mode"):
        plan_length(4, 10, "stretch")


def test_fit_waveform_cuts_and_pads():
    x = torch.ones(1, 2, 44100)
    assert fit_waveform(x, 44100, 25, 25.0).shape == (1, 2, 44100)
    assert fit_waveform(x, 44100, 10, 25.0).shape == (1, 2, 17640)
    padded = fit_waveform(x, 44100, 50, 25.0)
    assert padded.shape == (1, 2, 88200) and padded[..., 44100:].abs().max() == 0


@pytest.mark.parametrize("mode, video_frames, expected", [
    ("loop", 10, 75), ("pingpong", 10, 75), ("trim", 10, 10), ("pad_audio", 10, 10),
    ("loop", 100, 75), ("trim", 100, 75), ("pad_audio", 100, 100),
])
def test_embed_audio_for_video_lengths(small_encoder, mode, video_frames, expected):
    fps = 25.0
    speechlike = sine(220.0, 22050, 2.99).float() * sine(3.0, 22050, 2.99).float()
    waveform = torch.stack([speechlike, speechlike])[None]  # [1, 2, T] at 22.05 kHz, 75 frames of audio
    embeds, audio = embed_audio_for_video(small_encoder, waveform, 22050, video_frames, fps, mode)
    assert isinstance(embeds, AudioEmbeds) and embeds.fps == fps
    assert embeds.embeddings.shape == (expected, 20, 32)  # 10 steps x 2 states (1 block)
    assert embeds.frame_map.shape == (expected,) and int(embeds.frame_map.max()) < video_frames
    assert audio.shape == (1, 2, round(expected * 22050 / fps))


def test_pad_audio_encodes_the_added_silence(small_encoder):
    waveform = (sine(220.0, 16000, 1.0).float() * 0.5)[None]
    embeds, _ = embed_audio_for_video(small_encoder, waveform, 16000, 100, 25.0, "pad_audio")
    assert embeds.embeddings.shape[0] == 100
    # Frames past the 1 s of audio hold encoded silence; clamping would repeat one step for all of them.
    assert not torch.equal(embeds.embeddings[60], embeds.embeddings[99])
