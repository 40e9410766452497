"""Whisper loading and feature parity with LatentSync's reference Audio2Feature.

How the fixtures in tests/data were made (scripts ran outside the repository):
- whisper_speech_9s.wav, whisper_speech_36s.wav: espeak-ng 1.51 speech, 16 kHz mono PCM16.
  ``espeak-ng -v en-us -s 150 -w short.wav "The quick brown fox jumps over the lazy dog. She sells
  sea shells by the sea shore, and the shells she sells are surely seashells."`` and
  ``espeak-ng -v en-gb -s 140 -w long.wav`` with six sentences about lip sync, Whisper windows and
  two tongue twisters (42 s); both 22.05 kHz, resampled to 16 kHz with
  ``latentsync_core.lipsync.audio.resample``, rounded to int16; the long one cut to its first 36.0 s.
- whisper_reference_9s.npz / whisper_reference_36s.npz: LatentSync's reference (bytedance/LatentSync
  a229c39) ``Audio2Feature(model_path=tiny.pt, device="cpu")`` (so whisper runs in fp32), where
  tiny.pt = ``whisper_checkpoint.write_tiny_checkpoint(path, seed=0)`` and the reference's ffmpeg
  ``load_audio`` was replaced by reading the 16 kHz PCM16 wav as int16 / 32768 (what ffmpeg yields
  for it). ``audio2feat`` gave the features [L, 5, 384], ``feature2chunks(fps=25)`` the per-frame
  tokens, ``whisper.audio.log_mel_spectrogram`` the mel. Stored: 9 s: ``mel`` [80, 885] float32,
  ``chunks`` [8, 50, 384] float32 for the video frames in ``frames``; 36 s: ``head`` = features
  [0, 20) float32 and ``seam`` = features [1400, 1600) float16 (``seam_start`` = 1400).
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from audio_files import read_wav
from latentsync_core.lipsync.audio import (
    audio_frame_count,
    log_mel,
    per_frame_embeddings,
    prepare_waveform,
    whisper_features,
)
from latentsync_core.errors import BadInputError
from latentsync_core.lipsync.whisper import load_whisper, openai_to_transformers_key
from repo_paths import DATA
from whisper_checkpoint import TINY_DIMS, tiny_state_shapes, write_tiny_checkpoint


def step_jumps(features: np.ndarray) -> np.ndarray:
    """[L, 5, 384] -> [L-1, 5]: step-to-step change per layer, divided by its median over the clip."""
    jumps = np.linalg.norm(np.diff(features.astype(np.float32), axis=0), axis=2)
    return jumps / np.median(jumps, axis=0)


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory) -> str:
    return write_tiny_checkpoint(str(tmp_path_factory.mktemp("whisper") / "tiny.pt"), seed=0)


@pytest.fixture(scope="module")
def encoder(tiny_path):
    torch.manual_seed(0)
    return load_whisper(tiny_path)


@pytest.fixture(scope="module")
def long_features(encoder) -> torch.Tensor:
    return whisper_features(encoder, prepare_waveform(read_wav("whisper_speech_36s.wav"), 16000))


def test_key_map_renames_every_encoder_tensor_once():
    encoder_keys = [k[len("encoder."):] for k, _ in tiny_state_shapes() if k.startswith("encoder.")]
    renamed = {openai_to_transformers_key(k) for k in encoder_keys}
    assert len(renamed) == len(encoder_keys)
    with pytest.raises(KeyError):
        openai_to_transformers_key("blocks.0.cross_attn.query.weight")


def test_load_refuses_other_layouts(tmp_path, tiny_path):
    flat = tmp_path / "flat.pt"
    torch.save({"encoder.conv1.weight": torch.zeros(2)}, flat)
    with pytest.raises(BadInputError, match="not an OpenAI-format Whisper checkpoint"):
        load_whisper(str(flat))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(BadInputError, match="Cannot read Whisper checkpoint"):
        load_whisper(str(garbage))
    checkpoint = torch.load(tiny_path, weights_only=True)
    del checkpoint["model_state_dict"]["encoder.blocks.3.mlp.2.bias"]
    partial = tmp_path / "partial.pt"
    torch.save(checkpoint, partial)
    with pytest.raises(BadInputError, match="does not match"):
        load_whisper(str(partial))


def test_stack_is_taken_before_the_final_layernorm(encoder):
    mel = torch.randn(1, TINY_DIMS["n_mels"], 3000, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        stack = encoder(mel.clamp(-1.5, 1.5))
        final = encoder.encoder(mel.clamp(-1.5, 1.5)).last_hidden_state
    assert stack.shape == (1, 5, 1500, 384)
    torch.testing.assert_close(encoder.encoder.layer_norm(stack[:, -1]), final)
    assert (stack[:, -1] - final).abs().max() > 0.5


def test_mel_matches_reference():
    reference = np.load(os.path.join(DATA, "whisper_reference_9s.npz"))["mel"]
    mel = log_mel(prepare_waveform(read_wav("whisper_speech_9s.wav"), 16000)).numpy()
    assert mel.shape == reference.shape == (80, 885)
    assert np.abs(mel - reference).max() < 1e-5


def test_per_frame_embeddings_match_reference_under_30s(encoder):
    reference = np.load(os.path.join(DATA, "whisper_reference_9s.npz"))
    audio = read_wav("whisper_speech_9s.wav")
    n_frames = audio_frame_count(audio.shape[-1], 16000, 25)
    assert n_frames == 222  # 8.857 s at 25 fps; the reference makes 2 more, past the audio's end
    embeds = per_frame_embeddings(whisper_features(encoder, prepare_waveform(audio, 16000)), n_frames, 25)
    assert embeds.shape == (222, 50, 384) and embeds.dtype == torch.float32
    error = np.abs(embeds[reference["frames"]].numpy() - reference["chunks"]).max()
    assert error < 1e-4, f"max abs difference to the reference: {error:.2e}"


def test_long_audio_start_matches_reference(long_features):
    head = np.load(os.path.join(DATA, "whisper_reference_36s.npz"))["head"]
    assert long_features.shape == (1800, 5, 384)
    assert np.abs(long_features[: len(head)].numpy() - head).max() < 1e-4


def test_reference_jumps_at_30s_and_ours_is_smooth(encoder, long_features):
    fixture = np.load(os.path.join(DATA, "whisper_reference_36s.npz"))
    start, seam = int(fixture["seam_start"]), fixture["seam"]
    # The fixture is the reference's second window: our encoder on that zero-padded mel window agrees.
    mel = log_mel(prepare_waveform(read_wav("whisper_speech_36s.wav"), 16000))
    second = torch.nn.functional.pad(mel[:, 3000:], (0, 2 * 3000 - mel.shape[1]))
    steps = encoder.encode(second)[:, : start + len(seam) - 1500].transpose(0, 1).numpy()
    assert np.abs(steps - seam[1500 - start:].astype(np.float32)).max() < 0.05
    seam_index = 1499 - start
    reference = step_jumps(seam)
    assert reference[seam_index].min() > 3.0  # measured about 5x the median step change, in every layer
    others = np.delete(reference, seam_index, axis=0)
    assert others.max() < 2.5
    ours = step_jumps(long_features.numpy())
    assert ours.max() < 2.5  # measured 1.64 over the whole clip, crossfade included
    assert ours[1499].max() < 2.0


@pytest.mark.slow
def test_float16_features_stay_close_to_float32(tiny_path):
    """The reference runs Whisper in fp16 on CUDA; on CPU fp16 is slow, hence slow-marked."""
    mono = prepare_waveform(read_wav("whisper_speech_9s.wav"), 16000)
    full = whisper_features(load_whisper(tiny_path), mono)
    half = whisper_features(load_whisper(tiny_path, dtype=torch.float16), mono)
    assert half.dtype == torch.float32
    assert (half - full).abs().max() < 0.05  # measured 9.3e-3 (values up to 8)
