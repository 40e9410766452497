"""The audio plan of a streamed job kept on disk (``plan_audio(scratch_dir=...)``, issue 15 "Bounded state").

Planned with a scratch folder, the Whisper features, the 16 kHz mono and its mel live in
temporary files, encoded window by window; the tokens and the speech must equal the in-RAM
plan's bit for bit, the files must go however the plan ends, and a long plan must hold no
per-frame array in RAM but small int arrays.
"""
from __future__ import annotations

import functools
import math
import os
from fractions import Fraction

import numpy as np
import pytest
import torch

from latentsync_core.errors import BadInputError
from latentsync_core.lipsync.audio import (
    _feature_extractor, _zero_padded_span, log_mel, mono_blocks, plan_audio, prepare_waveform, resample, resample_blocks,
)
from latentsync_core.lipsync.scratch import RowFile
from latentsync_core.media.timeline import FrameTimes
from latentsync_core.media.video_io import VideoInfo


def speech(rate: int, channels: int, seconds: float, seed: int = 0) -> torch.Tensor:
    """``[C, T]`` float32: tones with a syllable rhythm and noise, different in each channel."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(round(rate * seconds), dtype=torch.float64) / rate
    rows = [
        (0.6 + 0.4 * torch.sin(2 * math.pi * 4 * t)) * torch.sin(2 * math.pi * (130 + 40 * c) * t)
        + 0.05 * torch.randn(t.shape, generator=g, dtype=torch.float64)
        for c in range(channels)
    ]
    return (0.3 * torch.stack(rows)).float()


def leftovers(folder) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(".latentsync-")]


@pytest.mark.parametrize("rate, channels, seconds, mode, n_video", [
    (48000, 2, 47.3, "pingpong", 300),  # stereo at the usual rate, three 30 s windows, video shorter than the audio
    (44100, 6, 41.0, "pad_audio", 1100),  # 5.1, the video longer than the audio: silence encoded after it
    (16000, 1, 12.0, "trim", 100),  # one window, the audio cut to the video
])
def test_plan_on_disk_gives_the_in_ram_tokens_and_speech(tmp_path, small_encoder, rate, channels, seconds, mode, n_video):
    waveform = speech(rate, channels, seconds)
    in_ram = plan_audio(small_encoder, waveform, rate, n_video, 25.0, mode)
    with plan_audio(small_encoder, waveform, rate, n_video, 25.0, mode, scratch_dir=tmp_path) as on_disk:
        assert isinstance(on_disk.features, RowFile) and leftovers(tmp_path)
        assert on_disk.features.shape == tuple(in_ram.features.shape)
        assert torch.equal(on_disk.embeddings(), in_ram.embeddings())
        some = np.array([0, 7, 8, 9, 250, len(in_ram.frame_map) - 1])
        assert torch.equal(on_disk.embeddings(some), in_ram.embeddings(some))
        assert torch.equal(on_disk.frame_map, in_ram.frame_map)
        assert on_disk.n_samples == in_ram.n_samples == in_ram.waveform.shape[-1]
        assert torch.equal(on_disk.waveform, in_ram.waveform)
        # the speech is the input itself (cut), not a copy
        assert on_disk.speech.data_ptr() == waveform.data_ptr()
    assert leftovers(tmp_path) == []


def test_plan_on_disk_at_a_variable_frame_rate(tmp_path, small_encoder):
    pts = np.concatenate([np.arange(300) * 20, 6000 + np.arange(300) * 40]).astype(np.int64)
    info = VideoInfo("clip.mp4", 64, 48, Fraction(20), Fraction(1, 600), 0, None, None, None)
    times = FrameTimes.from_pts(pts, info)
    waveform = speech(48000, 2, 35.0)
    in_ram = plan_audio(small_encoder, waveform, 48000, 600, 20.0, "loop", times=times)
    with plan_audio(small_encoder, waveform, 48000, 600, 20.0, "loop", times=times, scratch_dir=tmp_path) as on_disk:
        assert torch.equal(on_disk.embeddings(), in_ram.embeddings())
        assert np.array_equal(on_disk.pts(np.arange(700)), in_ram.pts(np.arange(700)))
        assert torch.equal(on_disk.waveform, in_ram.waveform)


def test_log_mel_equals_the_transformers_feature_extractor():
    """The mel computed in blocks is what ``WhisperFeatureExtractor`` (today's way) gives, bit for bit."""
    mono = prepare_waveform(speech(16000, 1, 33.3), 16000)
    reference = _feature_extractor()(
        mono.numpy(), sampling_rate=16000, truncation=False, padding="longest", return_tensors="np"
    ).input_features[0]
    assert torch.equal(log_mel(mono), torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32)))


@pytest.mark.parametrize("rate, channels, seconds, block", [
    (48000, 2, 50.0, 320000), (44100, 6, 50.0, 320000), (16000, 1, 50.0, 320000),
    (44101, 1, 4.0, 16384),  # an odd rate: the filter evaluated per sample
])
def test_mono_in_blocks_equals_the_whole(rate, channels, seconds, block):
    waveform = speech(rate, channels, seconds)
    whole = prepare_waveform(waveform, rate)
    blocks = list(mono_blocks(waveform, rate, block))
    assert len(blocks) > 2 and max(len(b) for b in blocks) <= block
    assert torch.equal(torch.cat(blocks), whole)
    if channels == 2:  # the stereo downmix is the mean of the two channels, as before
        assert torch.equal(whole, resample(waveform.mean(dim=0), rate, 16000))


def test_resample_blocks_equal_the_whole_and_a_short_last_block_too():
    x = speech(48000, 1, 21.0)
    whole = resample(x, 48000, 16000)
    for block in (32768, 100000, 112000):  # the last block 2,144 / 12,000 / 0 samples long
        blocks = list(resample_blocks(functools.partial(_zero_padded_span, x), x.shape[1], 48000, 16000, block))
        assert len(blocks) > 1 and torch.equal(torch.cat(blocks, dim=1), whole)


def test_scratch_folder_goes_when_planning_fails_or_is_interrupted(tmp_path, small_encoder):
    waveform = speech(16000, 1, 65.0)
    calls = []

    def interrupt():
        calls.append(leftovers(tmp_path))
        if len(calls) == 2:  # the second 30 s window: the first is encoded and on disk
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        plan_audio(small_encoder, waveform, 16000, 100, 25.0, "pingpong", scratch_dir=tmp_path, check_interrupt=interrupt)
    assert calls[1], "the features were not on disk"
    assert leftovers(tmp_path) == []
    bad = waveform.clone()
    bad[0, -5] = float("nan")
    with pytest.raises(Exception, match="NaN"):
        plan_audio(small_encoder, bad, 16000, 100, 25.0, "pingpong", scratch_dir=tmp_path)
    assert leftovers(tmp_path) == []


def test_a_long_plan_holds_no_per_frame_arrays_but_small_ints(tmp_path, small_encoder):
    """10 minutes of speech: the plan's arrays in RAM are the frame map and the timestamps (int64), nothing else
    grows with the length (the speech is the caller's own tensor)."""
    seconds, fps = 600.0, 25.0
    waveform = speech(16000, 1, seconds)
    n_video = round(seconds * fps)
    info = VideoInfo("clip.mp4", 64, 48, Fraction(25), Fraction(1, 25), 0, None, None, None)
    times = FrameTimes.from_pts(np.arange(n_video, dtype=np.int64), info)
    with plan_audio(small_encoder, waveform, 16000, n_video, fps, "trim", times=times, scratch_dir=tmp_path) as plan:
        held = {}
        for name, value in vars(plan).items():
            if name == "speech":
                assert value.data_ptr() == waveform.data_ptr()
            elif isinstance(value, (torch.Tensor, np.ndarray)):
                held[name] = (value.dtype, value.nbytes)
        assert held == {"frame_map": (torch.int64, 8 * n_video), "times": (np.dtype(np.int64), 8 * (n_video + 1))}
        steps, layers, width = plan.features.shape
        assert steps == seconds * 50 and os.path.getsize(plan.features.path) == steps * layers * width * 4
        assert plan.embeddings(np.arange(14990, 15000)).shape == (10, 10 * layers, width)


def test_a_scratch_folder_that_cannot_be_made_is_a_one_line_error(tmp_path, small_encoder):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    with pytest.raises(BadInputError, match="Cannot create a temporary folder in .*file.txt") as info:
        plan_audio(small_encoder, speech(16000, 1, 1.0), 16000, 25, 25.0, "trim", scratch_dir=not_a_folder)
    assert "\n" not in str(info.value)
