"""Audio for LatentSync: waveform preparation, Whisper log-mel, per-video-frame embeddings, length modes.

Whisper features come at 50 steps per second (step t is centred at t / 50 s).
Video frame i at ``fps`` is conditioned on the 10 steps ``[c - 4, c + 6)``
around ``c = floor(i * 50 / fps)`` (clamped to the audio), each step carrying
the 5 pre-LayerNorm encoder states, i.e. 50 tokens of 384 values. At 25 fps
``c = 2 i``, exactly as LatentSync's reference.

Audio longer than the encoder's 30 s window is encoded in overlapping windows
that are cross-faded where each is most central, so there is no seam; audio of
at most 30 s is one window, identical to the reference.

A streamed job plans with a scratch folder (:func:`plan_audio`'s ``scratch_dir``): the
16 kHz mono, its mel and the features are then made in blocks and kept in temporary
files (:mod:`.scratch`), so an hour of speech holds no 1.4 GB of features in RAM; every
value equals the in-RAM one (the mel is the one transformers' ``WhisperFeatureExtractor``
computes, block by block).

Variable frame rate sources (:class:`~latentsync_core.media.timeline.FrameTimes`
not at a constant rate): output frame j is shown at ``output_times(...)[j]``
(the source's own timestamps; a later turn of ``loop``/``pingpong`` repeats the
source's timing, shifted by the source's duration, backwards in a backward turn)
and its centre step is ``floor(t * 50)`` of that time (:func:`timestamp_centres`).
At a constant rate both give exactly ``j / fps`` and ``floor(j * 50 / fps)``.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Callable, Iterator, Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import BadInputError
from ..media.audio_format import mono_weights
from ..media.timeline import FrameTimes
from .scratch import RowFile, ScratchFolder
from .whisper import FEATURE_RATE, WhisperAudioEncoder

SAMPLE_RATE = 16000
HOP_LENGTH = 160
N_FFT = 400
N_MELS = 80
# Steps before / after the centre step that condition one video frame.
STEPS_BEFORE = 4
STEPS_AFTER = 6
LengthMode = Literal["loop", "pingpong", "trim", "pad_audio"]
LENGTH_MODES: tuple[str, ...] = get_args(LengthMode)
_MIN_SAMPLES = 2 * HOP_LENGTH


_MAX_POLYPHASE_TAPS = 1 << 22  # phases x taps of the polyphase filter bank
_DIRECT_BLOCK = 1 << 14  # output samples per block when the filter is evaluated per sample


@dataclass(frozen=True)
class _Lowpass:
    """Kaiser-windowed sinc low-pass at ``cutoff`` (fraction of the input Nyquist), ``half`` taps each side."""

    cutoff: float
    half: int
    beta: float

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        """Filter taps at offsets t [..., K] (input samples, float64), normalised to unit gain at DC."""
        width = self.half + 0.5
        inside = (1.0 - (t / width) ** 2).clamp(min=0.0)
        window = torch.special.i0(self.beta * inside.sqrt()) / torch.special.i0(torch.tensor(self.beta, dtype=t.dtype))
        window = torch.where(t.abs() < width, window, torch.zeros_like(window))
        kernel = self.cutoff * torch.sinc(self.cutoff * t) * window
        return kernel / kernel.sum(dim=-1, keepdim=True)


# Reads samples [lo, hi) of a signal [N, T] as [N, hi - lo], zeros outside [0, T).
SpanReader = Callable[[int, int], torch.Tensor]


def _zero_padded_span(x: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Samples [lo, hi) of x [..., T], zeros outside [0, T)."""
    n = x.shape[-1]
    inside = x[..., max(lo, 0): max(min(hi, n), 0)]
    return F.pad(inside, (max(-lo, 0), hi - lo - inside.shape[-1] - max(-lo, 0)))


def _resample_polyphase(read: SpanReader, step: int, phases: int, first: int, stop: int,
                        lowpass: _Lowpass) -> torch.Tensor:
    """Output samples [first, stop) ([N, stop - first]; ``first`` a multiple of ``phases``): one filter per output
    phase, applied as a strided convolution."""
    half = lowpass.half
    taps = torch.arange(-half, step + half, dtype=torch.float64)
    offsets = torch.arange(phases, dtype=torch.float64)[:, None] * step / phases
    kernel = lowpass(offsets - taps[None, :])  # [phases, K]: tap k multiplies x[q * step + taps[k]]
    q0, q1 = first // phases, math.ceil(stop / phases)
    x = read(q0 * step - half, q1 * step + half)[:, None, :]
    y = F.conv1d(x, kernel.to(device=x.device, dtype=x.dtype)[:, None, :], stride=step)
    return y.transpose(1, 2).reshape(x.shape[0], -1)[:, : stop - first]


def _resample_direct(read: SpanReader, step: int, phases: int, first: int, stop: int,
                     lowpass: _Lowpass) -> torch.Tensor:
    """Output samples [first, stop) ([N, stop - first]): the filter evaluated for each output sample (any rate
    ratio), ``_DIRECT_BLOCK`` samples at a time."""
    reach = lowpass.half + 1  # taps within the window's half width, half + 0.5, of any output time
    taps = torch.arange(-reach, reach + 1, dtype=torch.float64)
    out = []
    for start in range(first, stop, _DIRECT_BLOCK):
        n = torch.arange(start, min(start + _DIRECT_BLOCK, stop), dtype=torch.float64)
        pos = n * step / phases
        base = torch.floor(pos)
        kernel = lowpass(pos[:, None] - (base[:, None] + taps[None, :]))  # [n, K]
        lo = int(base[0]) - reach
        span = read(lo, int(base[-1]) + reach + 1)
        index = (base.long()[:, None] + taps.long()[None, :] - lo).to(span.device)
        out.append((span[:, index] * kernel.to(device=span.device, dtype=span.dtype)).sum(-1))
    return torch.cat(out, dim=1)


def resample_blocks(read: SpanReader, n_in: int, orig_rate: int, new_rate: int, block: int | None = None,
                    zero_crossings: int = 24, rolloff: float = 0.95, beta: float = 10.0) -> Iterator[torch.Tensor]:
    """:func:`resample` of a signal [N, n_in] read by spans (``read(lo, hi)``: [N, hi - lo], zeros outside the
    signal), in output blocks [N, <= block] (None: one block), so a long signal is never held whole."""
    n_out = n_in if orig_rate == new_rate else math.ceil(n_in * new_rate / orig_rate)
    if orig_rate == new_rate:
        for first in range(0, n_out, block or max(n_out, 1)):
            yield read(first, min(n_out, first + (block or n_out)))
        return
    g = math.gcd(orig_rate, new_rate)
    step, phases = orig_rate // g, new_rate // g
    cutoff = rolloff * min(1.0, new_rate / orig_rate)
    lowpass = _Lowpass(cutoff, math.ceil(zero_crossings / cutoff), beta)
    n_out = math.ceil(n_in * phases / step)
    polyphase = phases * (step + 2 * lowpass.half) <= _MAX_POLYPHASE_TAPS
    unit = phases if polyphase else _DIRECT_BLOCK  # blocks start where the whole-signal computation's groups start
    size = n_out if block is None else max(unit, block // unit * unit)
    for first in range(0, n_out, size):
        stop = min(n_out, first + size)
        # the last block is computed as long as the others (from earlier on): torch's convolution rounds
        # differently on short inputs, and every block must give what the whole signal gives
        start = max(0, min(first, (n_out - size) // unit * unit))
        out = (_resample_polyphase if polyphase else _resample_direct)(read, step, phases, start, stop, lowpass)
        yield out[:, first - start:]


def resample(waveform: torch.Tensor, orig_rate: int, new_rate: int, zero_crossings: int = 24,
             rolloff: float = 0.95, beta: float = 10.0) -> torch.Tensor:
    """Band-limited resampling with a Kaiser-windowed sinc, along the last axis.

    waveform: [..., T] float; returns [..., ceil(T * new_rate / orig_rate)] in
    the input's dtype and device. The low-pass sits at ``rolloff`` times the
    lower Nyquist frequency; output sample n lies at input time n * orig / new.
    Common rate pairs use a polyphase filter bank; unusual ones (e.g. 44101 Hz)
    evaluate the same filter per output sample (:func:`resample_blocks` gives the
    same samples block by block).
    """
    if orig_rate == new_rate:
        return waveform
    x = waveform.reshape(-1, waveform.shape[-1])
    (y,) = resample_blocks(functools.partial(_zero_padded_span, x), x.shape[-1], orig_rate, new_rate, None,
                           zero_crossings, rolloff, beta)
    return y.reshape(*waveform.shape[:-1], y.shape[-1])


def _speech_samples(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """The checked speech of :func:`prepare_waveform` as [C, T] (the batch of one dropped)."""
    if not torch.is_tensor(waveform) or waveform.dim() not in (1, 2, 3):
        raise BadInputError("Audio must be a waveform tensor shaped [T], [C, T] or [B, C, T]; pass a ComfyUI AUDIO.")
    if waveform.dim() == 3:
        if waveform.shape[0] != 1:
            raise BadInputError(
                f"The AUDIO holds a batch of {waveform.shape[0]} clips; LatentSync needs one. Split the batch first."
            )
        waveform = waveform[0]
    if int(sample_rate) <= 0:
        raise BadInputError(f"Audio sample rate must be positive, got {sample_rate}.")
    if math.ceil(waveform.shape[-1] * SAMPLE_RATE / int(sample_rate)) < _MIN_SAMPLES:  # checked before resampling
        raise BadInputError(
            f"The audio is too short ({waveform.shape[-1]} samples at {sample_rate} Hz); give at least 20 ms of sound."
        )
    return waveform.reshape(-1, waveform.shape[-1])


def _mono_span(samples: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Samples [lo, hi) of speech [C, T] mixed to mono, as [1, hi - lo] float32 (zeros outside the speech)."""
    span = _zero_padded_span(samples, lo, hi).float()
    if samples.shape[0] == 1:
        return span
    # channel by channel: torch's sum over channels rounds differently with the number of samples
    mono = None
    for weight, channel in zip(mono_weights(samples.shape[0]), span):
        term = torch.tensor(weight, dtype=torch.float32, device=span.device) * channel
        mono = term if mono is None else mono + term
    return mono[None]


def mono_blocks(waveform: torch.Tensor, sample_rate: int, block: int | None = None) -> Iterator[torch.Tensor]:
    """:func:`prepare_waveform` in consecutive blocks of at most ``block`` samples (None: one block), [k] each:
    a long clip's mono is never held whole. Every check is made before the first block."""
    samples = _speech_samples(waveform, sample_rate)
    for mono in resample_blocks(functools.partial(_mono_span, samples), samples.shape[-1], int(sample_rate),
                                SAMPLE_RATE, block):
        if not torch.isfinite(mono).all():
            raise BadInputError("The audio contains NaN or infinite samples; re-export it as normal PCM.")
        yield mono[0]


def prepare_waveform(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Mono 16 kHz float32 waveform for Whisper.

    waveform: [T], [C, T] or [1, C, T] float in about [-1, 1] at any
    ``sample_rate``, C channels in the layout ``AAC_LAYOUTS[C]``; they are mixed to mono with
    the BS.775 gains scaled to sum to 1 (:func:`~latentsync_core.media.audio_format.mono_weights`:
    stereo is the mean of L and R, the centre of 5.1 weighs most). Returns [T16] float32 on the
    input's device.
    """
    (mono,) = mono_blocks(waveform, sample_rate)
    return mono


@lru_cache(maxsize=1)
def _feature_extractor():
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=N_MELS, sampling_rate=SAMPLE_RATE, hop_length=HOP_LENGTH, n_fft=N_FFT)


def _log10_mel(read: SpanReader, n_samples: int, first: int, stop: int) -> torch.Tensor:
    """Mel frames [first, stop) of a 16 kHz clip of ``n_samples`` read by spans, before the clip's floor:
    [80, stop - first] float32 log10 of the mel power, as transformers' WhisperFeatureExtractor computes it
    (frame f: a Hann-windowed 400-sample FFT centred on sample 160 f, the clip mirrored at its ends)."""
    half = N_FFT // 2
    lo, hi = first * HOP_LENGTH - half, (stop - 1) * HOP_LENGTH + half
    index = np.abs(np.arange(lo, hi))  # reflect at the start
    index = np.where(index >= n_samples, 2 * (n_samples - 1) - index, index)  # and at the end
    low = int(index.min())
    samples = read(low, int(index.max()) + 1)[0, torch.from_numpy(index - low)]
    stft = torch.stft(samples, N_FFT, HOP_LENGTH, window=torch.hann_window(N_FFT), center=False, return_complex=True)
    power = (stft.abs() ** 2).contiguous()
    mel = torch.from_numpy(_feature_extractor().mel_filters).to(torch.float32).T @ power
    return torch.clamp(mel, min=1e-10).log10()


def _mel_floor(log10_mel: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
    """Whisper's scaling of log10 mel values given the clip's ``peak``: (max(x, peak - 8) + 4) / 4."""
    return (torch.maximum(log10_mel, peak - 8.0) + 4.0) / 4.0


def log_mel(waveform16k: torch.Tensor) -> torch.Tensor:
    """Whisper log-mel of the whole clip: [T16] -> [80, T16 // 160] float32 on CPU.

    Values are (log10(power) clipped at the whole clip's maximum - 8, + 4) / 4,
    i.e. about -1.5..2; the floor is per clip, not per 30 s window. The same
    values as transformers' ``WhisperFeatureExtractor``.
    """
    audio = waveform16k.detach().float().cpu()[None]
    raw = _log10_mel(functools.partial(_zero_padded_span, audio), audio.shape[-1], 0, audio.shape[-1] // HOP_LENGTH)
    return _mel_floor(raw, raw.max())


def window_starts(n_steps: int, window: int, hop: int) -> list[int]:
    """First encoder step of each window covering ``n_steps`` steps.

    One window at 0 when the clip fits; otherwise evenly spaced windows, at
    most ``hop`` apart, the last one ending exactly at the clip's end.
    """
    if n_steps <= window:
        return [0]
    count = math.ceil((n_steps - window) / hop) + 1
    return [round(k * (n_steps - window) / (count - 1)) for k in range(count)]


def _rising(starts: list[int], k: int, steps: torch.Tensor, window: int, crossfade: int) -> torch.Tensor:
    """How far window k has taken over from window k - 1 at ``steps`` (float64): 1 for k = 0, 0 for
    k = len(starts), otherwise a linear ramp from 0 to 1 centred on the middle of their overlap."""
    if k == 0:
        return torch.ones_like(steps)
    if k == len(starts):
        return torch.zeros_like(steps)
    a, b = starts[k - 1], starts[k]
    middle = (b + a + window) / 2
    width = max(1, min(crossfade, a + window - b))
    return ((steps - (middle - width / 2)) / width).clamp(0.0, 1.0)


def _window_weight(starts: list[int], k: int, steps: torch.Tensor, window: int, crossfade: int) -> torch.Tensor:
    """Window k's row of :func:`window_weights` at ``steps`` (float64 step indices), float32."""
    return (_rising(starts, k, steps, window, crossfade) - _rising(starts, k + 1, steps, window, crossfade)).float()


def window_weights(starts: list[int], n_steps: int, window: int, crossfade: int) -> torch.Tensor:
    """Blend weights [n_windows, n_steps] that sum to 1 at every step.

    Between consecutive windows the weight ramps linearly over ``crossfade``
    steps centred on the middle of their overlap, where both have the most
    context; elsewhere a step comes from one window only (weight exactly 1).
    """
    steps = torch.arange(n_steps, dtype=torch.float64)
    return torch.stack([_window_weight(starts, k, steps, window, crossfade) for k in range(len(starts))])


# Mel frames [a, b) of a clip, scaled for Whisper (only those inside the clip): [80, <= b - a].
MelReader = Callable[[int, int], torch.Tensor]


@torch.inference_mode()
def _encode_windows(encoder: WhisperAudioEncoder, mel: MelReader, n_steps: int, emit: Callable[[torch.Tensor], None],
                    hop_seconds: float = 20.0, crossfade_seconds: float = 1.0,
                    check_interrupt: Callable[[], None] | None = None) -> None:
    """Encode a clip's mel window by window and ``emit`` its states in order, [k, 5, 384] float32 CPU blocks
    adding up to [n_steps, 5, 384]: a step is emitted once no later window covers it, so at most one
    window's states are held (see :func:`whisper_features`)."""
    window = encoder.window_steps
    starts = window_starts(n_steps, window, max(1, round(hop_seconds * FEATURE_RATE)))
    crossfade = round(crossfade_seconds * FEATURE_RATE)
    param = next(encoder.parameters())
    pending_start, pending = 0, torch.zeros(0, encoder.n_layers_out, encoder.width)  # steps not emitted yet
    for k, start in enumerate(starts):
        if check_interrupt is not None:
            check_interrupt()
        chunk = mel(2 * start, 2 * (start + window))
        chunk = F.pad(chunk, (0, 2 * window - chunk.shape[1]))
        states = encoder.encode(chunk.to(device=param.device, dtype=param.dtype))  # [5, 1500, 384]
        used = min(window, n_steps - start)
        states = states[:, :used].transpose(0, 1).float().cpu()  # [used, 5, 384]
        grow = start + used - pending_start - pending.shape[0]
        if grow > 0:
            pending = torch.cat([pending, torch.zeros(grow, *pending.shape[1:])])
        span = pending[start - pending_start: start + used - pending_start]
        if len(starts) == 1:
            span.copy_(states)
        else:
            steps = torch.arange(start, start + used, dtype=torch.float64)
            span += _window_weight(starts, k, steps, window, crossfade)[:, None, None] * states
        done = (starts[k + 1] if k + 1 < len(starts) else n_steps) - pending_start
        emit(pending[:done])
        pending_start, pending = pending_start + done, pending[done:].clone()


def whisper_features(encoder: WhisperAudioEncoder, waveform16k: torch.Tensor, hop_seconds: float = 20.0,
                     crossfade_seconds: float = 1.0) -> torch.Tensor:
    """Whisper encoder states of a whole clip: [T16] -> [L, 5, 384] float32 on CPU, L = (T16 // 160) // 2.

    Each 30 s window's mel is zero-padded (in mel space) to 3000 frames, as
    the reference does. Clips over 30 s use windows at most ``hop_seconds``
    apart, cross-faded over ``crossfade_seconds`` (see window_weights).
    """
    mel = log_mel(waveform16k)
    blocks: list[torch.Tensor] = []
    _encode_windows(encoder, lambda a, b: mel[:, a:b], mel.shape[1] // 2, blocks.append, hop_seconds, crossfade_seconds)
    return torch.cat(blocks)


_MONO_BLOCK = 60 * SAMPLE_RATE  # 16 kHz samples per block of a clip's mono written to disk
_MEL_BLOCK = 3000  # mel frames per block computed from it


def _features_on_disk(encoder: WhisperAudioEncoder, mono: RowFile, scratch: ScratchFolder,
                      check_interrupt: Callable[[], None] | None) -> RowFile:
    """:func:`whisper_features` of the 16 kHz clip in ``mono`` ([T16] rows), with its mel and its states in
    files of ``scratch``; returns the states' file ([L, 5, 384] rows). Each value equals the in-RAM one."""
    n_samples = len(mono)
    n_frames = n_samples // HOP_LENGTH
    mel = scratch.file("log10_mel", (N_MELS,))  # [frames, 80] before the clip's floor
    peak = None
    read_mono = lambda lo, hi: mono.read(lo, hi)[None]  # noqa: E731
    for first in range(0, n_frames, _MEL_BLOCK):
        block = _log10_mel(read_mono, n_samples, first, min(n_frames, first + _MEL_BLOCK))
        peak = block.max() if peak is None else torch.maximum(peak, block.max())
        mel.append(block.T)
    features = scratch.file("whisper_states", (encoder.n_layers_out, encoder.width))
    _encode_windows(encoder, lambda a, b: _mel_floor(mel.read(a, min(b, n_frames)).T, peak), n_frames // 2,
                    features.append, check_interrupt=check_interrupt)
    mel.remove()
    return features


def frame_centres(n_frames: int | torch.Tensor | np.ndarray, fps: float) -> torch.Tensor:
    """Centre feature step of each video frame: [N] int64, floor(i * 50 / fps) (2 i at 25 fps), non-decreasing.

    ``n_frames``: a frame count (frames 0..N-1) or a tensor of frame indices.
    """
    if fps <= 0:
        raise BadInputError(f"Frame rate must be positive, got {fps}.")
    indexed = isinstance(n_frames, (torch.Tensor, np.ndarray))
    i = torch.as_tensor(n_frames) if indexed else torch.arange(int(n_frames))
    return torch.floor(i.to(torch.float64) * FEATURE_RATE / float(fps) + 1e-9).long()


def timestamp_centres(pts: torch.Tensor | np.ndarray, time_base: Fraction) -> torch.Tensor:
    """Centre feature step of frames shown at ``pts`` (ticks of ``time_base`` seconds): [N] int64,
    floor(pts * time_base * 50), computed exactly (frame j at j / fps gives frame_centres')."""
    tb = Fraction(time_base)
    ticks = torch.as_tensor(np.asarray(pts, dtype=np.int64))
    return torch.div(ticks * (tb.numerator * FEATURE_RATE), tb.denominator, rounding_mode="floor")


def tokens_at(features: torch.Tensor | RowFile, centres: torch.Tensor) -> torch.Tensor:
    """LatentSync audio tokens of frames with centre steps ``centres`` [N]: [N, 50, 384]
    (10 steps x 5 layers, step-major) in the features' dtype; steps outside the clip repeat its
    first/last step. ``features``: [L, 5, 384], in RAM or in a file (read as the one range the
    frames need)."""
    if len(features.shape) != 3 or features.shape[0] == 0:
        raise BadInputError(f"Whisper features must be [L, layers, width] with L > 0, got {tuple(features.shape)}.")
    offsets = torch.arange(-STEPS_BEFORE, STEPS_AFTER)
    index = (centres[:, None] + offsets[None, :]).clamp(0, features.shape[0] - 1)
    if isinstance(features, RowFile):
        picked = features.rows(index)
    else:
        picked = features[index.to(features.device)]  # [N, 10, 5, 384]
    return picked.reshape(centres.shape[0], -1, features.shape[-1])


def per_frame_embeddings(features: torch.Tensor | RowFile, n_frames: int | torch.Tensor | np.ndarray,
                         fps: float) -> torch.Tensor:
    """LatentSync audio tokens per video frame at a constant ``fps``.

    features: [L, 5, 384] from whisper_features; n_frames: a frame count, or
    a tensor of output frame indices (e.g. one chunk's). Returns [N, 50, 384]
    (see :func:`tokens_at`).
    """
    return tokens_at(features, frame_centres(n_frames, fps))


def audio_frame_count(n_samples: int, sample_rate: int, fps: float) -> int:
    """Video frames that hold some of the audio: ceil(duration * fps)."""
    return max(1, math.ceil(n_samples * float(fps) / sample_rate - 1e-6))


def plan_length(n_video_frames: int, n_audio_frames: int, mode: LengthMode) -> torch.Tensor:
    """Which source video frame goes to each output frame.

    - ``loop``: output follows the audio; video repeats from the start (or is cut).
    - ``pingpong``: output follows the audio; video plays forward, then backward,
      ... (each turn repeats the end frame, as the reference does), or is cut.
    - ``trim``: output is the shorter of the two; the longer one is cut.
    - ``pad_audio``: output follows the video; audio is padded with silence (or cut).

    Returns the frame index map [N_out] int64 with values in [0, n_video_frames).
    """
    if n_video_frames < 1 or n_audio_frames < 1:
        raise BadInputError(f"Need at least one video frame and one audio frame, got {n_video_frames} and {n_audio_frames}.")
    if mode == "loop":
        return torch.arange(n_audio_frames) % n_video_frames
    if mode == "pingpong":
        j = torch.arange(n_audio_frames)
        pos, turn = j % n_video_frames, (j // n_video_frames) % 2
        return torch.where(turn == 0, pos, n_video_frames - 1 - pos)
    if mode == "trim":
        return torch.arange(min(n_video_frames, n_audio_frames))
    if mode == "pad_audio":
        return torch.arange(n_video_frames)
    raise BadInputError(f"Unknown length mode '{mode}'; use one of {', '.join(LENGTH_MODES)}.")


def output_times(times: FrameTimes, n_out: int, mode: LengthMode) -> np.ndarray:
    """When each output frame of ``plan_length(N, ., mode)``'s frame map is shown: [n_out] int64
    ticks of ``times.time_base``.

    At a constant rate, round(j * ticks_per_frame) (frame j at j / fps). Otherwise turn
    k = j // N of the video starts k * D after the first (D = times.end - pts[0], the source's
    duration): a forward turn shows source frame p at k * D + pts[p] (the first turn, and
    ``trim`` and ``pad_audio``: the source's own timestamps); a backward ``pingpong`` turn shows
    source frame N-1-p at k * D + pts[0] + pts[N-1] - pts[N-1-p], the source's intervals in
    reverse. Each turn lasts D, so the sound's clock and the frames' stay together.
    """
    j = np.arange(n_out, dtype=np.int64)
    if times.constant_rate:  # round half to even, as round(Fraction) does
        step = times.ticks_per_frame
        q, r = np.divmod(j * step.numerator, step.denominator)
        return q + ((2 * r > step.denominator) | ((2 * r == step.denominator) & (q % 2 == 1)))
    pts = times.pts
    turn, pos = np.divmod(j, pts.size)
    backward = (turn % 2 == 1) if mode == "pingpong" else np.zeros(n_out, dtype=bool)
    within = np.where(backward, pts[0] + pts[-1] - pts[::-1][pos], pts[pos])
    return turn * (times.end - int(pts[0])) + within


def _before(t: np.ndarray, time_base: Fraction, n_samples: int, sample_rate: int) -> np.ndarray:
    """Which ticks ``t`` lie before the end of ``n_samples`` at ``sample_rate`` (exact)."""
    return t * (time_base.numerator * sample_rate) < n_samples * time_base.denominator


def timed_frame_count(times: FrameTimes, n_samples: int, sample_rate: int, mode: LengthMode) -> int:
    """Output frames shown before the audio ends on the timeline of :func:`output_times` (at least 1):
    the variable-rate form of :func:`audio_frame_count`."""
    duration = Fraction(n_samples, sample_rate) / times.time_base
    turns = math.ceil(duration / (times.end - int(times.pts[0]))) + 1
    t = output_times(times, turns * times.pts.size, mode)
    return max(1, int(np.count_nonzero(_before(t, times.time_base, n_samples, sample_rate))))


def _cut_or_pad(waveform: torch.Tensor, target: int) -> torch.Tensor:
    if waveform.shape[-1] >= target:
        return waveform[..., :target]
    return F.pad(waveform, (0, target - waveform.shape[-1]))


def fit_waveform(waveform: torch.Tensor, sample_rate: int, n_frames: int, fps: float) -> torch.Tensor:
    """Cut or zero-pad a waveform [..., T] to exactly round(n_frames / fps * sample_rate) samples."""
    return _cut_or_pad(waveform, round(n_frames * sample_rate / float(fps)))


def _fitted_length(sample_rate: int, n_frames: int, fps: float, end: int | None, time_base: Fraction | None) -> int:
    """Samples at ``sample_rate`` of ``n_frames`` at ``fps`` (:func:`fit_waveform`) or, with ``end``, up to tick
    ``end`` of ``time_base``: round(end * time_base * rate)."""
    if end is None:
        return round(n_frames * sample_rate / float(fps))
    return round(end * Fraction(time_base) * sample_rate)


@dataclass
class AudioEmbeds:
    """Whisper tokens for each output video frame.

    embeddings: [N, 50, 384] float32 CPU; frame_map: [N] int64, the source
    video frame of each output frame; fps: the video frame rate.
    """

    embeddings: torch.Tensor
    frame_map: torch.Tensor
    fps: float


@dataclass
class AudioPlan:
    """The audio of a lip-sync job, encoded once, before the per-frame tokens are picked.

    features: [L, 5, 384] float32 CPU Whisper states of the whole (fitted) clip, a
    tensor or, planned with ``scratch_dir``, a :class:`RowFile` in ``scratch`` (the plan's
    temporary folder, removed by :meth:`close`); frame_map: [N] int64, the source video
    frame of each output frame; fps: the video frame rate; speech: the new audio in the
    input's layout and rate, cut to at most ``n_samples`` (a view of the input, no copy);
    n_samples: the output's audio length, N / fps seconds (with ``times``: ``times[N]``);
    :attr:`waveform` is the speech zero-padded to it. ``embeddings(frames)`` gives the
    tokens of some output frames, so a streamed job never holds [N, 50, 384].

    Planned with the source's :class:`FrameTimes`: ``times`` [N + 1] int64, when
    each output frame is shown (:func:`output_times`) and, last, where the output
    ends, in ticks of ``time_base``; ``timed``: the source is not at a constant
    rate, and each frame's tokens are taken at its time (:func:`timestamp_centres`).
    """

    features: torch.Tensor | RowFile
    frame_map: torch.Tensor
    fps: float
    speech: torch.Tensor
    n_samples: int
    times: np.ndarray | None = None
    time_base: Fraction | None = None
    timed: bool = False
    scratch: ScratchFolder | None = None

    @property
    def waveform(self) -> torch.Tensor:
        """The speech cut or zero-padded to ``n_samples`` (a copy when padded)."""
        return _cut_or_pad(self.speech, self.n_samples)

    def close(self) -> None:
        """Remove the temporary files of a plan made with ``scratch_dir`` (its features are gone after)."""
        if self.scratch is not None:
            self.scratch.close()

    def __enter__(self) -> AudioPlan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def embeddings(self, frames: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """[k, 50, 384] tokens of output frames ``frames`` (default: all N)."""
        if self.timed:
            which = np.arange(self.frame_map.shape[0]) if frames is None else np.asarray(frames)
            return tokens_at(self.features, timestamp_centres(self.times[which], self.time_base))
        which = self.frame_map.shape[0] if frames is None else frames
        return per_frame_embeddings(self.features, which, self.fps)

    def pts(self, frames: np.ndarray) -> np.ndarray:
        """[k] int64 timestamps (ticks of ``time_base``) to write output frames ``frames`` at."""
        if self.times is None:
            raise ValueError("This audio plan was made without the source's FrameTimes; pass times= to plan_audio.")
        return self.times[np.asarray(frames)]


def plan_audio(encoder: WhisperAudioEncoder, waveform: torch.Tensor, sample_rate: int,
               n_video_frames: int, fps: float, mode: LengthMode = "pingpong",
               times: FrameTimes | None = None, scratch_dir: str | os.PathLike | None = None,
               check_interrupt: Callable[[], None] | None = None) -> AudioPlan:
    """Encode the audio for a video of ``n_video_frames`` at ``fps`` and plan the output length.

    waveform: [T], [C, T] or [1, C, T] float at ``sample_rate``. Audio is only
    padded before encoding when whole output frames lie past its end
    (``pad_audio``), so silence is encoded there. ``times``: the source frames'
    timestamps; the plan then gives each output frame's timestamp
    (:meth:`AudioPlan.pts`) and, for a variable frame rate, counts frames, fits
    the audio and picks tokens on that timeline. At a constant rate the plan
    equals the one made without ``times``.

    ``scratch_dir``: a folder (e.g. the system's temporary folder) in which the plan
    makes a temporary folder for what grows with the audio's length: the 16 kHz mono,
    its mel (both removed once encoded) and the Whisper features, encoded window by
    window (the same values as in RAM); close the plan to remove it. None: all in RAM.
    ``check_interrupt`` is called before each 30 s window is encoded.
    """
    if times is not None and times.pts.size != n_video_frames:
        raise ValueError(f"times holds {times.pts.size} frames, the video {n_video_frames}.")
    timed = times is not None and not times.constant_rate
    scratch = None if scratch_dir is None else ScratchFolder(scratch_dir)
    try:
        if scratch is None:
            mono = prepare_waveform(waveform, sample_rate)
        else:
            mono = scratch.file("speech_16k", ())
            for block in mono_blocks(waveform, sample_rate, _MONO_BLOCK):
                mono.append(block)
        if timed:
            n_audio_frames = timed_frame_count(times, waveform.shape[-1], sample_rate, mode)
        else:
            n_audio_frames = audio_frame_count(waveform.shape[-1], sample_rate, fps)
        frame_map = plan_length(n_video_frames, n_audio_frames, mode)
        n_out = frame_map.shape[0]
        out_times = output_times(times, n_out + 1, mode) if times is not None else None
        end, end_base = (int(out_times[-1]), times.time_base) if timed else (None, None)
        length = _fitted_length(sample_rate, n_out, fps, end, end_base)
        if n_out > n_audio_frames:  # whole output frames past the audio's end: silence is encoded there
            mono_length = _fitted_length(SAMPLE_RATE, n_out, fps, end, end_base)
            if scratch is None:
                mono = _cut_or_pad(mono, mono_length)
            else:
                mono.resize(mono_length)
        if scratch is None:
            features = whisper_features(encoder, mono)
        else:
            features = _features_on_disk(encoder, mono, scratch, check_interrupt)
            mono.remove()
    except BaseException:
        if scratch is not None:
            scratch.close()
        raise
    time_base = times.time_base if times is not None else None
    speech = waveform[..., :length]
    return AudioPlan(features, frame_map, float(fps), speech, length, out_times, time_base, timed, scratch)


def embed_audio_for_video(encoder: WhisperAudioEncoder, waveform: torch.Tensor, sample_rate: int,
                          n_video_frames: int, fps: float, mode: LengthMode = "pingpong") -> tuple[AudioEmbeds, torch.Tensor]:
    """Per-frame Whisper tokens for a video of ``n_video_frames`` at ``fps`` and its new audio.

    The in-memory form of :func:`plan_audio`: returns the AudioEmbeds of every
    output frame and the waveform (same layout and rate) cut or padded to the
    output length, N / fps seconds.
    """
    plan = plan_audio(encoder, waveform, sample_rate, n_video_frames, fps, mode)
    return AudioEmbeds(plan.embeddings(), plan.frame_map, plan.fps), plan.waveform
