"""The speech's channel layout, rate, energy and length survive reading and writing (issue 15, "Sound").

Sounds are synthesised here: each channel a tone of its own frequency and level (the LFE a low
one), so every output channel can be traced to the input channel it came from and the energy
per channel is known. Written with PyAV as AAC (m4a) in mono, stereo, 5.1 and 7.1, as 16-bit
WAV at 8 to 192 kHz (22,000 Hz included: no AAC rate) and as mu-law in Matroska (a codec an mp4
cannot hold, so ``enhance``'s copy of the source track must re-encode it). Each goes through
:func:`read_audio` and :class:`VideoWriter` with a short video, and the output is decoded again.
"""
from __future__ import annotations

import os
import wave
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from latentsync_core.errors import BadInputError
from latentsync_core.lipsync.audio import prepare_waveform, resample
from latentsync_core.media.audio_format import (
    AAC_RATES, aac_mix, from_frame, layout_channels, mono_weights, nearest_aac_rate, to_frame,
)
from latentsync_core.media.audio_io import conform_audio, read_audio
from latentsync_core.media.video_io import VideoWriter, probe, read_windows
from video_files import make_clip

SECONDS = 0.8
AAC_FRAME = 1024


def tones(layout: str, rate: int, seconds: float = SECONDS) -> np.ndarray:
    """``[C, T]`` float32: channel c a sine of its own frequency and level (LFE: 50 Hz)."""
    t = np.arange(round(rate * seconds)) / rate
    rows = []
    for c, name in enumerate(layout_channels(layout)):
        freq = 50.0 if name.startswith("LFE") else 250.0 + 150.0 * c
        rows.append((0.1 + 0.03 * c) * np.sin(2 * np.pi * freq * t))
    return np.stack(rows).astype(np.float32)


def frequencies(layout: str) -> list[float]:
    return [50.0 if n.startswith("LFE") else 250.0 + 150.0 * c for c, n in enumerate(layout_channels(layout))]


def write_sound(path, samples: np.ndarray, rate: int, layout: str, codec: str, fmt: str | None = None) -> None:
    """Encode ``samples`` ``[C, T]`` (``layout`` at ``rate``) with ``codec``."""
    with av.open(os.fspath(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        resampler = av.AudioResampler(format=stream.codec_context.codec.audio_formats[0].name, layout=layout,
                                      rate=rate, frame_size=stream.codec_context.frame_size or 1024)
        for start in range(0, samples.shape[1], 4096):
            frame = to_frame(samples[:, start:start + 4096], layout, rate)
            frame.pts, frame.time_base = start, Fraction(1, rate)
            for out in resampler.resample(frame):
                container.mux(stream.encode(out))
        for out in resampler.resample(None):
            container.mux(stream.encode(out))
        container.mux(stream.encode(None))


def decode(path) -> tuple[np.ndarray, int, str]:
    """``([C, T] float64, rate, layout name)`` of the first audio track, decoded as a player does."""
    with av.open(os.fspath(path)) as container:
        stream = container.streams.audio[0]
        layout, rate = stream.codec_context.layout.name, stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
        blocks = [from_frame(f) for frame in container.decode(stream) for f in resampler.resample(frame)]
        blocks += [from_frame(f) for f in resampler.resample(None)]
    return np.concatenate(blocks, axis=1).astype(np.float64), rate, layout


def energy_db(samples: np.ndarray, rate: int) -> float:
    """Energy summed over channels, dB (squares summed over the samples, times seconds per sample)."""
    return 10 * np.log10(np.sum(np.asarray(samples, np.float64) ** 2) / rate)


def tone_amplitude(signal: np.ndarray, rate: int, freq: float) -> float:
    """Amplitude of the sine at ``freq`` in ``signal`` (projection on sin and cos over whole periods)."""
    n = int(round(int(len(signal) * freq / rate) * rate / freq)) or len(signal)
    t = np.arange(n) / rate
    s, c = np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)
    return float(np.hypot(signal[:n] @ s, signal[:n] @ c) * 2 / n)


def write_through_video(tmp_path, waveform, rate: int, name: str = "out.mp4"):
    """Write ``waveform`` ``[C, T]`` at ``rate`` as the audio of a short video; return the output path."""
    src = tmp_path / "video.mp4"
    if not src.exists():
        make_clip(src, n=5, audio=None)
    info = probe(src)
    out = tmp_path / name
    with VideoWriter(out, info, audio=(waveform, rate)) as writer:
        for window in read_windows(info):
            writer.write(window.frames, window.pts)
    return out


def assert_same_sound(got: np.ndarray, got_rate: int, ref: np.ndarray, ref_rate: int, layout: str) -> None:
    """Duration within one AAC frame, energy within 1 dB (summed and per channel), each channel's tone in place."""
    assert abs(got.shape[1] / got_rate - ref.shape[1] / ref_rate) <= AAC_FRAME / got_rate
    n = min(got.shape[1], round(ref.shape[1] * got_rate / ref_rate))
    assert abs(energy_db(got[:, :n], got_rate) - energy_db(ref, ref_rate)) <= 1.0
    for c, freq in enumerate(frequencies(layout)):
        assert abs(energy_db(got[c, :n], got_rate) - energy_db(ref[c], ref_rate)) <= 1.0, (layout, c)
        assert tone_amplitude(got[c], got_rate, freq) > 0.8 * tone_amplitude(ref[c].astype(np.float64), ref_rate, freq)


@pytest.mark.parametrize("layout", ["mono", "stereo", "5.1", "7.1"])
def test_aac_speech_keeps_its_layout_and_energy(tmp_path, layout):
    sound = tones(layout, 48000)
    speech = tmp_path / f"speech {layout}.m4a"
    write_sound(speech, sound, 48000, layout, "aac", "ipod")
    audio = read_audio(speech)
    assert audio.sample_rate == 48000 and audio.layout == layout and audio.waveform.shape[0] == sound.shape[0]
    out = write_through_video(tmp_path, audio.waveform, audio.sample_rate)
    got, rate, got_layout = decode(out)
    assert (rate, got_layout) == (48000, layout)
    assert_same_sound(got, rate, sound, 48000, layout)


def test_surround_dialogue_in_the_centre_survives(tmp_path):
    """5.1 with speech only in the centre: today channels 0 and 1 are kept and the output is silent."""
    sound = np.zeros((6, round(48000 * SECONDS)), np.float32)
    sound[2] = tones("mono", 48000)[0] * 3
    speech = tmp_path / "dialogue.m4a"
    write_sound(speech, sound, 48000, "5.1", "aac", "ipod")
    out = write_through_video(tmp_path, read_audio(speech).waveform, 48000)
    got, _, layout = decode(out)
    assert layout == "5.1"
    assert abs(energy_db(got, 48000) - energy_db(sound, 48000)) <= 1.0
    assert abs(energy_db(got[2], 48000) - energy_db(sound[2], 48000)) <= 1.0


@pytest.mark.parametrize("rate", [8000, 22000, 22050, 44100, 48000, 96000, 192000])
def test_any_rate_is_read_at_the_nearest_aac_rate_and_written(tmp_path, rate):
    sound = tones("stereo", rate)
    speech = tmp_path / f"speech {rate}.wav"
    write_sound(speech, sound, rate, "stereo", "pcm_s16le")
    audio = read_audio(speech)
    expected = {22000: 22050, 192000: 96000}.get(rate, rate)
    assert audio.sample_rate == expected and audio.layout == "stereo"
    assert abs(audio.duration - SECONDS) <= 1 / expected
    assert abs(energy_db(audio.waveform.numpy(), expected) - energy_db(sound, rate)) <= 0.1
    got, got_rate, layout = decode(write_through_video(tmp_path, audio.waveform, audio.sample_rate))
    assert (got_rate, layout) == (expected, "stereo")
    assert_same_sound(got, got_rate, sound, rate, "stereo")


def test_surround_wav_at_22000_hz_fails_today(tmp_path):
    """A 5.1(side) WAV at 22,000 Hz: today the writer crashes (avcodec_open2 ... returned 22), and
    would keep two channels; now 5.1 at 22,050 Hz with every channel's energy."""
    sound = tones("5.1(side)", 22000)
    speech = tmp_path / "surround.wav"
    write_sound(speech, sound, 22000, "5.1(side)", "pcm_s16le")
    audio = read_audio(speech)
    assert (audio.sample_rate, audio.layout) == (22050, "5.1")
    got, rate, layout = decode(write_through_video(tmp_path, audio.waveform, audio.sample_rate))
    assert (rate, layout) == (22050, "5.1")
    assert_same_sound(got, rate, sound, 22000, "5.1")


@pytest.mark.parametrize("layout, rate", [("5.1", 22000), ("7.1", 192000), ("mono", 7000)])
def test_writer_takes_any_waveform_as_a_comfyui_audio_gives_it(tmp_path, layout, rate):
    """No read_audio on the way (a ComfyUI AUDIO): the writer itself conforms rate and layout."""
    sound = tones(layout, rate)
    got, got_rate, got_layout = decode(write_through_video(tmp_path, torch.from_numpy(sound)[None], rate))
    assert (got_rate, got_layout) == (nearest_aac_rate(rate), layout)
    assert_same_sound(got, got_rate, sound, rate, layout)


@pytest.mark.parametrize("layout", ["5.1.2", "7.1(wide)"])
def test_layouts_aac_cannot_hold_are_mixed_down_with_bs775(tmp_path, layout):
    sound = tones(layout, 48000)
    speech = tmp_path / "heights.wav"
    write_sound(speech, sound, 48000, layout, "pcm_s16le")
    audio = read_audio(speech)
    assert audio.layout == "stereo"
    got, rate, out_layout = decode(write_through_video(tmp_path, audio.waveform, 48000))
    assert out_layout == "stereo"
    half = np.sqrt(0.5)
    for c, (name, freq) in enumerate(zip(layout_channels(layout), frequencies(layout))):
        level = tone_amplitude(sound[c].astype(np.float64), 48000, freq)
        front = name in ("FL", "FR", "FLC", "FRC")
        gain_l = 0.0 if name == "LFE" else half if name == "FC" else (1.0 if front else half) * name.endswith(("L", "LC"))
        gain_r = 0.0 if name == "LFE" else half if name == "FC" else (1.0 if front else half) * name.endswith(("R", "RC"))
        for row, gain in ((0, gain_l), (1, gain_r)):
            amp = tone_amplitude(got[row], rate, freq)
            if gain:
                assert abs(20 * np.log10(amp / (gain * level))) < 0.5, (name, row, amp, gain * level)
            else:
                assert amp < 0.05 * level, (name, row, amp)


def test_enhance_reencodes_a_track_mp4_cannot_hold_with_the_same_rules(tmp_path):
    """mu-law 5.1 at 22,000 Hz in a mov, written to mp4: re-encoded as 5.1 AAC at 22,050 Hz."""
    src = tmp_path / "source.mov"
    make_clip(src, n=20, audio=None)
    sound = tones("5.1", 22000)
    with av.open(os.fspath(src)) as video, av.open(os.fspath(tmp_path / "muxed.mov"), "w") as out:
        vin = video.streams.video[0]
        vout = out.add_stream_from_template(vin)
        audio = out.add_stream("pcm_mulaw", rate=22000, layout="5.1")
        for packet in video.demux(vin):
            if packet.size:
                packet.stream = vout
                out.mux(packet)
        resampler = av.AudioResampler(format="s16", layout="5.1", rate=22000, frame_size=1024)
        for frame in resampler.resample(to_frame(sound, "5.1", 22000)):
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    info = probe(tmp_path / "muxed.mov")
    assert info.audio_codec == "pcm_mulaw"
    dst = tmp_path / "enhanced.mp4"
    with VideoWriter(dst, info) as writer:
        for window in read_windows(info):
            writer.write(window.frames, window.pts)
    got, rate, layout = decode(dst)
    assert (probe(dst).audio_codec, rate, layout) == ("aac", 22050, "5.1")
    assert_same_sound(got, rate, sound, 22000, "5.1")


def test_enhance_copies_a_surround_aac_track_untouched(tmp_path):
    src = tmp_path / "source.mp4"
    make_clip(src, n=20, audio=None)
    speech = tmp_path / "speech.m4a"
    write_sound(speech, tones("5.1", 48000), 48000, "5.1", "aac", "ipod")
    muxed = tmp_path / "muxed.mp4"
    with av.open(os.fspath(src)) as video, av.open(os.fspath(speech)) as sound, av.open(os.fspath(muxed), "w") as out:
        streams = {video.streams.video[0]: out.add_stream_from_template(video.streams.video[0]),
                   sound.streams.audio[0]: out.add_stream_from_template(sound.streams.audio[0])}
        for container in (video, sound):
            for packet in container.demux():
                if packet.size:
                    packet.stream = streams[packet.stream]
                    out.mux(packet)
    info = probe(muxed)
    dst = tmp_path / "enhanced.mp4"
    with VideoWriter(dst, info) as writer:
        for window in read_windows(info):
            writer.write(window.frames, window.pts)

    def audio_packets(path):
        with av.open(os.fspath(path)) as container:
            return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]

    assert audio_packets(dst) == audio_packets(muxed)
    assert decode(dst)[2] == "5.1"


def test_whisper_hears_the_bs775_mono_mix():
    torch.manual_seed(0)
    stereo = torch.rand(2, 48000) * 2 - 1
    assert torch.equal(prepare_waveform(stereo, 48000), resample(stereo.mean(dim=0), 48000, 16000))
    mono = torch.rand(1, 16000)
    assert torch.equal(prepare_waveform(mono, 16000), mono[0])
    # ITU-R BS.775 mono of 3/2 + LFE: 0.7071 L + 0.7071 R + C + 0.5 Ls + 0.5 Rs, LFE dropped; scaled to sum 1
    bs775 = np.array([np.sqrt(0.5), np.sqrt(0.5), 1.0, 0.0, 0.5, 0.5])
    np.testing.assert_allclose(mono_weights(6), bs775 / bs775.sum(), rtol=1e-12)
    centre = torch.zeros(6, 16000)
    centre[2] = torch.rand(16000)
    np.testing.assert_allclose(prepare_waveform(centre, 16000).numpy(), centre[2].numpy() * bs775[2] / bs775.sum(), rtol=1e-5)
    lfe = torch.zeros(6, 16000)
    lfe[3] = 1.0
    assert prepare_waveform(lfe, 16000).abs().max() == 0


def test_rate_and_layout_rules():
    assert nearest_aac_rate(22000) == 22050 and nearest_aac_rate(176400) == 96000 and nearest_aac_rate(7000) == 8000
    assert all(nearest_aac_rate(r) == r for r in AAC_RATES)
    assert aac_mix(layout_channels("5.1(side)")).layout == "5.1"  # the surround pair relabelled, nothing mixed
    assert aac_mix(layout_channels("5.1(side)")).matrix is None
    quad = aac_mix(layout_channels("quad"))  # FL FR BL BR -> 5.0 with a silent centre
    assert quad.layout == "5.0" and np.array_equal(quad.matrix.sum(axis=0), np.ones(4))


def test_conform_leaves_a_fitting_sound_alone_and_checks_its_shape():
    waveform = torch.rand(2, 100)
    assert conform_audio(waveform, 44100).waveform.data_ptr() == waveform.data_ptr()  # no copy
    empty = conform_audio(torch.zeros(6, 0), 22000)
    assert empty.sample_rate == 22050 and empty.waveform.shape == (6, 0)
    with pytest.raises(BadInputError, match="shaped \\[T\\] or \\[C, T\\]"):
        conform_audio(torch.zeros(2, 2, 10), 16000)
    with pytest.raises(BadInputError, match="sample rate must be positive"):
        conform_audio(waveform, 0)


@pytest.mark.parametrize("rate, channels", [(22000, 6), (192000, 2)])
def test_errors_for_empty_or_undecodable_tracks_are_unchanged(tmp_path, rate, channels):
    empty = tmp_path / "empty.wav"
    with wave.open(os.fspath(empty), "wb") as w:  # a valid header, no samples
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
    with pytest.raises(BadInputError, match="The audio stream of '.*empty.wav' holds no samples. Give a wav"):
        read_audio(empty)
    broken = tmp_path / "broken.m4a"
    broken.write_bytes(b"\x00" * 64)
    with pytest.raises(BadInputError, match="Cannot read '.*broken.m4a' as audio .*Give a wav"):
        read_audio(broken)
    with pytest.raises(BadInputError, match="The audio to write has no samples"):
        write_through_video(tmp_path, torch.zeros(channels, 0), rate)


@pytest.mark.slow
@pytest.mark.usefixtures("tiny_architectures")
def test_lipsync_command_keeps_surround_speech_at_an_odd_rate(tmp_path, capsys):
    """``lipsync`` end to end (tiny random models, 16 frames of the sample): a 5.1(side) WAV at 22,000 Hz.
    It used to crash with ``avcodec_open2 ... returned 22`` after the alignment pass and the first
    chunk; the output track is 5.1 at 22,050 Hz, each channel's energy within 1 dB."""
    from latentsync_core import cli
    from lipsync_cli import FAST, SAMPLE, write_lipsync_models, write_lossless
    from video_files import decode_video

    tiny_models = tmp_path / "models"
    write_lipsync_models(tiny_models)

    clip = write_lossless(tmp_path / "clip.mkv", decode_video(SAMPLE)[40:56])
    sound = tones("5.1(side)", 22000, seconds=16 / 25)
    wav = tmp_path / "speech.wav"
    write_sound(wav, sound, 22000, "5.1(side)", "pcm_s16le")
    out = tmp_path / "out.mp4"
    code = cli.main(["lipsync", "--quiet", "--video", clip, "--audio", str(wav), "--output", str(out), "--version", "1.5",
                     "--superres", "none", "--length_mode", "trim", "--models-dir", str(tiny_models), *FAST])
    assert code == cli.EXIT_OK, capsys.readouterr().err
    got, rate, layout = decode(out)
    assert (rate, layout) == (22050, "5.1")
    assert_same_sound(got, rate, sound, 22000, "5.1")
