"""Audio for LatentSync: waveform preparation, Whisper log-mel, per-video-frame embeddings, length modes.

Whisper features come at 50 steps per second (step t is centred at t / 50 s).
Video frame i at ``fps`` is conditioned on the 10 steps ``[c - 4, c + 6)``
around ``c = floor(i * 50 / fps)`` (clamped to the audio), each step carrying
the 5 pre-LayerNorm encoder states, i.e. 50 tokens of 384 values. At 25 fps
``c = 2 i``, exactly as LatentSync's reference.

Audio longer than the encoder's 30 s window is encoded in overlapping windows
that are cross-faded where each is most central, so there is no seam; audio of
at most 30 s is one window, identical to the reference.

Variable frame rate sources (:class:`~latentsync_core.media.timeline.FrameTimes`
not at a constant rate): output frame j is shown at ``output_times(...)[j]``
(the source's own timestamps; a later turn of ``loop``/``pingpong`` repeats the
source's timing, shifted by the source's duration, backwards in a backward turn)
and its centre step is ``floor(t * 50)`` of that time (:func:`timestamp_centres`).
At a constant rate both give exactly ``j / fps`` and ``floor(j * 50 / fps)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import BadInputError
from ..media.audio_format import mono_weights
from ..media.timeline import FrameTimes
from .whisper import FEATURE_RATE, WhisperAudioEncoder

SAMPLE_RATE = 16000
HOP_LENGTH = 160
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


def _resample_polyphase(x: torch.Tensor, step: int, phases: int, n_out: int, lowpass: _Lowpass) -> torch.Tensor:
    """x [N, T] -> [N, n_out]: one filter per output phase, applied as a strided convolution."""
    half = lowpass.half
    taps = torch.arange(-half, step + half, dtype=torch.float64)
    offsets = torch.arange(phases, dtype=torch.float64)[:, None] * step / phases
    kernel = lowpass(offsets - taps[None, :])  # [phases, K]: tap k multiplies x[q * step + taps[k]]
    n_blocks = math.ceil(n_out / phases)
    x = F.pad(x[:, None, :], (half, max(n_blocks * step + half - x.shape[-1], 0)))
    y = F.conv1d(x, kernel.to(device=x.device, dtype=x.dtype)[:, None, :], stride=step)[..., :n_blocks]
    return y.transpose(1, 2).reshape(x.shape[0], -1)[:, :n_out]


def _resample_direct(x: torch.Tensor, step: int, phases: int, n_out: int, lowpass: _Lowpass) -> torch.Tensor:
    """x [N, T] -> [N, n_out]: the filter evaluated for each output sample (any rate ratio), in blocks."""
    reach = lowpass.half + 1  # taps within the window's half width, half + 0.5, of any output time
    padded = F.pad(x, (reach, reach))
    taps = torch.arange(-reach, reach + 1, dtype=torch.float64)
    out = []
    for first in range(0, n_out, _DIRECT_BLOCK):
        n = torch.arange(first, min(first + _DIRECT_BLOCK, n_out), dtype=torch.float64)
        pos = n * step / phases
        base = torch.floor(pos)
        kernel = lowpass(pos[:, None] - (base[:, None] + taps[None, :]))  # [n, K]
        index = (base.long()[:, None] + taps.long()[None, :] + reach).to(x.device)
        out.append((padded[:, index] * kernel.to(device=x.device, dtype=x.dtype)).sum(-1))
    return torch.cat(out, dim=1)


def resample(waveform: torch.Tensor, orig_rate: int, new_rate: int, zero_crossings: int = 24,
             rolloff: float = 0.95, beta: float = 10.0) -> torch.Tensor:
    """Band-limited resampling with a Kaiser-windowed sinc, along the last axis.

    waveform: [..., T] float; returns [..., ceil(T * new_rate / orig_rate)] in
    the input's dtype and device. The low-pass sits at ``rolloff`` times the
    lower Nyquist frequency; output sample n lies at input time n * orig / new.
    Common rate pairs use a polyphase filter bank; unusual ones (e.g. 44101 Hz)
    evaluate the same filter per output sample.
    """
    if orig_rate == new_rate:
        return waveform
    g = math.gcd(orig_rate, new_rate)
    step, phases = orig_rate // g, new_rate // g
    cutoff = rolloff * min(1.0, new_rate / orig_rate)
    lowpass = _Lowpass(cutoff, math.ceil(zero_crossings / cutoff), beta)
    n_out = math.ceil(waveform.shape[-1] * phases / step)
    x = waveform.reshape(-1, waveform.shape[-1])
    polyphase = phases * (step + 2 * lowpass.half) <= _MAX_POLYPHASE_TAPS
    y = (_resample_polyphase if polyphase else _resample_direct)(x, step, phases, n_out, lowpass)
    return y.reshape(*waveform.shape[:-1], n_out)


def prepare_waveform(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Mono 16 kHz float32 waveform for Whisper.

    waveform: [T], [C, T] or [1, C, T] float in about [-1, 1] at any
    ``sample_rate``, C channels in the layout ``AAC_LAYOUTS[C]``; they are mixed to mono with
    the BS.775 gains scaled to sum to 1 (:func:`~latentsync_core.media.audio_format.mono_weights`:
    stereo is the mean of L and R, the centre of 5.1 weighs most). Returns [T16] float32 on the
    input's device.
    """
    if not torch.is_tensor(waveform) or waveform.dim() not in (1, 2, 3):
        raise BadInputError("Audio must be a waveform tensor shaped [T], [C, T] or [B, C, T]; pass a ComfyUI AUDIO.")
    if waveform.dim() == 3:
        if waveform.shape[0] != 1:
            raise BadInputError(
                f"The AUDIO holds a batch of {waveform.shape[0]} clips; LatentSync needs one. Split the batch first."
            )
        waveform = waveform[0]
    if waveform.dim() == 2:
        weights = torch.as_tensor(mono_weights(waveform.shape[0]), dtype=torch.float32, device=waveform.device)
        waveform = (weights[:, None] * waveform.float()).sum(dim=0)
    if int(sample_rate) <= 0:
        raise BadInputError(f"Audio sample rate must be positive, got {sample_rate}.")
    if math.ceil(waveform.shape[-1] * SAMPLE_RATE / int(sample_rate)) < _MIN_SAMPLES:  # checked before resampling
        raise BadInputError(
            f"The audio is too short ({waveform.shape[-1]} samples at {sample_rate} Hz); give at least 20 ms of sound."
        )
    mono = resample(waveform.float(), int(sample_rate), SAMPLE_RATE)
    if not torch.isfinite(mono).all():
        raise BadInputError("The audio contains NaN or infinite samples; re-export it as normal PCM.")
    return mono


@lru_cache(maxsize=1)
def _feature_extractor():
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=80, sampling_rate=SAMPLE_RATE, hop_length=HOP_LENGTH, n_fft=400)


def log_mel(waveform16k: torch.Tensor) -> torch.Tensor:
    """Whisper log-mel of the whole clip: [T16] -> [80, T16 // 160] float32 on CPU.

    Values are (log10(power) clipped at the whole clip's maximum - 8, + 4) / 4,
    i.e. about -1.5..2; the floor is per clip, not per 30 s window.
    """
    audio = waveform16k.detach().float().cpu().numpy()
    mel = _feature_extractor()(
        audio, sampling_rate=SAMPLE_RATE, truncation=False, padding="longest", return_tensors="np"
    ).input_features[0]
    return torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32))


def window_starts(n_steps: int, window: int, hop: int) -> list[int]:
    """First encoder step of each window covering ``n_steps`` steps.

    One window at 0 when the clip fits; otherwise evenly spaced windows, at
    most ``hop`` apart, the last one ending exactly at the clip's end.
    """
    if n_steps <= window:
        return [0]
    count = math.ceil((n_steps - window) / hop) + 1
    return [round(k * (n_steps - window) / (count - 1)) for k in range(count)]


def window_weights(starts: list[int], n_steps: int, window: int, crossfade: int) -> torch.Tensor:
    """Blend weights [n_windows, n_steps] that sum to 1 at every step.

    Between consecutive windows the weight ramps linearly over ``crossfade``
    steps centred on the middle of their overlap, where both have the most
    context; elsewhere a step comes from one window only (weight exactly 1).
    """
    steps = torch.arange(n_steps, dtype=torch.float64)
    rising = [torch.ones(n_steps, dtype=torch.float64)]
    for a, b in zip(starts[:-1], starts[1:]):
        middle = (b + a + window) / 2
        width = max(1, min(crossfade, a + window - b))
        rising.append(((steps - (middle - width / 2)) / width).clamp(0.0, 1.0))
    rising.append(torch.zeros(n_steps, dtype=torch.float64))
    weights = torch.stack([rising[k] - rising[k + 1] for k in range(len(starts))])
    return weights.float()


@torch.inference_mode()
def whisper_features(encoder: WhisperAudioEncoder, waveform16k: torch.Tensor, hop_seconds: float = 20.0,
                     crossfade_seconds: float = 1.0) -> torch.Tensor:
    """Whisper encoder states of a whole clip: [T16] -> [L, 5, 384] float32 on CPU, L = (T16 // 160) // 2.

    Each 30 s window's mel is zero-padded (in mel space) to 3000 frames, as
    the reference does. Clips over 30 s use windows at most ``hop_seconds``
    apart, cross-faded over ``crossfade_seconds`` (see window_weights).
    """
    mel = log_mel(waveform16k)
    n_steps = mel.shape[1] // 2
    window = encoder.window_steps
    starts = window_starts(n_steps, window, max(1, round(hop_seconds * FEATURE_RATE)))
    weights = window_weights(starts, n_steps, window, round(crossfade_seconds * FEATURE_RATE))
    param = next(encoder.parameters())
    out = torch.zeros(n_steps, encoder.n_layers_out, encoder.width)
    for start, weight in zip(starts, weights):
        chunk = mel[:, 2 * start: 2 * (start + window)]
        chunk = F.pad(chunk, (0, 2 * window - chunk.shape[1]))
        states = encoder.encode(chunk.to(device=param.device, dtype=param.dtype))  # [5, 1500, 384]
        used = min(window, n_steps - start)
        states = states[:, :used].transpose(0, 1).float().cpu()  # [used, 5, 384]
        w = weight[start: start + used, None, None]
        if len(starts) == 1:
            out[start: start + used] = states
        else:
            out[start: start + used] += w * states
    return out


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


def tokens_at(features: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """LatentSync audio tokens of frames with centre steps ``centres`` [N]: [N, 50, 384]
    (10 steps x 5 layers, step-major) in the features' dtype; steps outside the clip repeat its
    first/last step."""
    if features.dim() != 3 or features.shape[0] == 0:
        raise BadInputError(f"Whisper features must be [L, layers, width] with L > 0, got {tuple(features.shape)}.")
    offsets = torch.arange(-STEPS_BEFORE, STEPS_AFTER)
    index = (centres[:, None] + offsets[None, :]).clamp(0, features.shape[0] - 1)
    picked = features[index.to(features.device)]  # [N, 10, 5, 384]
    return picked.reshape(centres.shape[0], -1, features.shape[-1])


def per_frame_embeddings(features: torch.Tensor, n_frames: int | torch.Tensor | np.ndarray, fps: float) -> torch.Tensor:
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


def fit_waveform_to(waveform: torch.Tensor, sample_rate: int, end: int, time_base: Fraction) -> torch.Tensor:
    """Cut or zero-pad a waveform [..., T] to end at tick ``end`` of ``time_base``: round(end * time_base * rate) samples."""
    return _cut_or_pad(waveform, round(end * Fraction(time_base) * sample_rate))


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

    features: [L, 5, 384] float32 CPU Whisper states of the whole (fitted) clip;
    frame_map: [N] int64, the source video frame of each output frame; fps: the
    video frame rate; waveform: the new audio in the input's layout and rate, cut
    or zero-padded to N / fps seconds (with ``times``: to ``times[N]``).
    ``embeddings(frames)`` gives the tokens of some output frames, so a streamed
    job never holds [N, 50, 384].

    Planned with the source's :class:`FrameTimes`: ``times`` [N + 1] int64, when
    each output frame is shown (:func:`output_times`) and, last, where the output
    ends, in ticks of ``time_base``; ``timed``: the source is not at a constant
    rate, and each frame's tokens are taken at its time (:func:`timestamp_centres`).
    """

    features: torch.Tensor
    frame_map: torch.Tensor
    fps: float
    waveform: torch.Tensor
    times: np.ndarray | None = None
    time_base: Fraction | None = None
    timed: bool = False

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
               times: FrameTimes | None = None) -> AudioPlan:
    """Encode the audio for a video of ``n_video_frames`` at ``fps`` and plan the output length.

    waveform: [T], [C, T] or [1, C, T] float at ``sample_rate``. Audio is only
    padded before encoding when whole output frames lie past its end
    (``pad_audio``), so silence is encoded there. ``times``: the source frames'
    timestamps; the plan then gives each output frame's timestamp
    (:meth:`AudioPlan.pts`) and, for a variable frame rate, counts frames, fits
    the audio and picks tokens on that timeline. At a constant rate the plan
    equals the one made without ``times``.
    """
    if times is not None and times.pts.size != n_video_frames:
        raise ValueError(f"times holds {times.pts.size} frames, the video {n_video_frames}.")
    timed = times is not None and not times.constant_rate
    mono = prepare_waveform(waveform, sample_rate)
    if timed:
        n_audio_frames = timed_frame_count(times, waveform.shape[-1], sample_rate, mode)
    else:
        n_audio_frames = audio_frame_count(waveform.shape[-1], sample_rate, fps)
    frame_map = plan_length(n_video_frames, n_audio_frames, mode)
    n_out = frame_map.shape[0]
    out_times = output_times(times, n_out + 1, mode) if times is not None else None
    if timed:
        end = int(out_times[-1])
        if n_out > n_audio_frames:
            mono = fit_waveform_to(mono, SAMPLE_RATE, end, times.time_base)
        fitted = fit_waveform_to(waveform, sample_rate, end, times.time_base)
    else:
        if n_out > n_audio_frames:
            mono = fit_waveform(mono, SAMPLE_RATE, n_out, fps)
        fitted = fit_waveform(waveform, sample_rate, n_out, fps)
    features = whisper_features(encoder, mono)
    time_base = times.time_base if times is not None else None
    return AudioPlan(features, frame_map, float(fps), fitted, out_times, time_base, timed)


def embed_audio_for_video(encoder: WhisperAudioEncoder, waveform: torch.Tensor, sample_rate: int,
                          n_video_frames: int, fps: float, mode: LengthMode = "pingpong") -> tuple[AudioEmbeds, torch.Tensor]:
    """Per-frame Whisper tokens for a video of ``n_video_frames`` at ``fps`` and its new audio.

    The in-memory form of :func:`plan_audio`: returns the AudioEmbeds of every
    output frame and the waveform (same layout and rate) cut or padded to the
    output length, N / fps seconds.
    """
    plan = plan_audio(encoder, waveform, sample_rate, n_video_frames, fps, mode)
    return AudioEmbeds(plan.embeddings(), plan.frame_map, plan.fps), plan.waveform
