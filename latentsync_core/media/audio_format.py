"""Channel layouts and sample rates of a sound track: what AAC carries and the standard mixes to get there.

Rates: AAC encodes only :data:`AAC_RATES`; :func:`nearest_aac_rate` picks the one a sound at
any other rate is resampled to (22,000 Hz -> 22,050; 176,400 and 192,000 -> 96,000).

Layouts: a waveform ``[C, T]`` that names no layout (a ComfyUI AUDIO, a WAV without a channel
mask) is taken as ``AAC_LAYOUTS[C]``, the layout FFmpeg's AAC decoder gives for ``C`` channels.
A named layout is kept where AAC carries it: its channels are placed in the smallest AAC layout
that holds them all, a surround pair standing in for the other pair where that one is absent
(5.1(side) -> 5.1, quad -> 5.0 with a silent centre); sound is never scaled on the way. Layouts
no AAC layout holds (heights such as 5.1.2, 7.1(wide), more than 8 channels) are mixed down to
stereo with the ITU-R BS.775 coefficients: front channels at 1, the centre and the surrounds at
-3 dB (0.7071), a back-centre channel at -6 dB into each side, LFE dropped.
Codec: :func:`sound_codec` picks the codec of a sound track we encode for a container, and
:func:`copies_in_time` whether a source's track can be copied into it as it is. AAC starts with
1024 samples of encoder priming (MP3 and AC-3 with theirs) that MP4 and MOV hide with an edit
list; Matroska's CodecDelay is not read for them by every reader (FFmpeg 5.1's demuxer reads it
for Opus only and plays the priming, 21.3 ms of AAC at 48 kHz, as sound), so a Matroska output
gets FLAC (no priming, lossless to 24 bits, any rate, the same layouts) and a primed track copied
into Matroska is re-encoded to FLAC.
Whisper hears the BS.775 mono mix of all channels, its gains scaled to sum to 1 (what
``ffmpeg -ac 1`` gives the reference's Whisper): mono is unchanged, stereo is the mean of L and R.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import av
import numpy as np

#: The sample rates AAC encodes, highest first.
AAC_RATES: tuple[int, ...] = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)

#: The AAC layout for each channel count (FFmpeg's AAC channel configurations; 6.1 needs a PCE).
AAC_LAYOUTS: dict[int, str] = {
    1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1",
}

#: Codecs whose decoded sound starts with encoder priming a container must tell the decoder to drop.
PRIMED_CODECS = frozenset({"aac", "mp3", "ac3", "eac3"})

_MINUS_3DB = math.sqrt(0.5)
_LFE = frozenset({"LFE", "LFE2", "LFE3"})
_FRONT = frozenset({"FL", "FR", "FC", "FLC", "FRC", "DL", "DR", "BFL", "BFR", "BFC"})
_LEFT = frozenset({"FL", "FLC", "BL", "SL", "TFL", "TBL", "DL", "WL", "SDL", "TSL", "BFL"})
_RIGHT = frozenset({"FR", "FRC", "BR", "SR", "TFR", "TBR", "DR", "WR", "SDR", "TSR", "BFR"})
_CENTRE = frozenset({"FC", "BC", "TC", "TFC", "TBC", "BFC"})
_KNOWN = _LFE | _LEFT | _RIGHT | _CENTRE
#: A surround pair may stand in for the other one (same loudspeakers in 5.1 and 5.1(side)).
_OTHER_PAIR = {"SL": "BL", "SR": "BR", "BL": "SL", "BR": "SR"}


def nearest_aac_rate(rate: int) -> int:
    """The AAC rate closest to ``rate`` Hz (the higher one on a tie); ``rate`` itself when AAC has it."""
    return min(AAC_RATES, key=lambda r: (abs(r - int(rate)), -r))


def sound_codec(container_format: str) -> str:
    """The codec a sound track we encode gets in an FFmpeg container format: FLAC in
    ``matroska``, which cannot make every reader drop AAC's priming, AAC in the others."""
    return "flac" if container_format == "matroska" else "aac"


#: FFmpeg's MP4-family formats, whose sound sample entry holds the rate in 16 bits (QuickTime's ``mov`` has a
#: version for higher rates): PCM above 65,535 Hz copied into them is read back at a wrong rate.
_MP4_FAMILY = frozenset({"mp4", "ipod", "3gp", "3g2"})


def copies_in_time(codec: str, container_format: str, rate: int = 0) -> bool:
    """Whether a track of ``codec`` at ``rate`` Hz copied into ``container_format`` plays at its source
    time and speed (False: a primed codec in Matroska, where readers play the priming as sound; an
    uncompressed track above 65,535 Hz in an MP4-family file, whose header cannot hold its rate)."""
    if container_format == "matroska" and codec in PRIMED_CODECS:
        return False
    return not (container_format in _MP4_FAMILY and rate > 0xFFFF and codec.startswith("pcm_"))


def layout_channels(layout: str) -> tuple[str, ...]:
    """FFmpeg's channel names (``FL``, ``FC``, ``LFE``, ...) of a layout name such as ``5.1(side)``;
    ``NONE`` for each channel of a layout without positions (``6 channels``)."""
    return tuple(c.name for c in av.AudioLayout(layout).channels)


@lru_cache(maxsize=None)
def aac_encodes(layout: str) -> bool:
    """Whether PyAV's AAC encoder opens with ``layout``."""
    ctx = av.CodecContext.create("aac", "w")
    ctx.layout, ctx.sample_rate, ctx.format = layout, 48000, "fltp"
    try:
        ctx.open()
    except av.FFmpegError:
        return False
    return True


def _bs775_stereo(channels: Sequence[str]) -> np.ndarray:
    """``[2, C]`` BS.775 mix to (L, R): fronts 1, centre -3 dB to each side, surrounds -3 dB, LFE 0."""
    matrix = np.zeros((2, len(channels)))
    for c, name in enumerate(channels):
        if name in _LFE:
            continue
        gain = 1.0 if name in _FRONT else _MINUS_3DB
        if name in _LEFT:
            matrix[0, c] = gain
        elif name in _RIGHT:
            matrix[1, c] = gain
        else:  # a centre channel, or one with no known position
            matrix[:, c] = gain * _MINUS_3DB
    return matrix


def _known(channels: Sequence[str]) -> tuple[str, ...]:
    """``channels``, or the AAC layout of that many channels when they name no positions."""
    if all(name in _KNOWN for name in channels) and len(set(channels)) == len(channels):
        return tuple(channels)
    if len(channels) in AAC_LAYOUTS:
        return layout_channels(AAC_LAYOUTS[len(channels)])
    return ("NONE",) * len(channels)


def _placement(channels: Sequence[str], target: Sequence[str]) -> np.ndarray | None:
    """``[len(target), C]`` 0/1 matrix putting each channel at its place in ``target`` (or the other
    surround pair's place when ``target`` lacks it and ``channels`` leaves it free); None if one has none."""
    matrix = np.zeros((len(target), len(channels)))
    for c, name in enumerate(channels):
        other = _OTHER_PAIR.get(name)
        if name in target:
            matrix[target.index(name), c] = 1.0
        elif other in target and other not in channels:
            matrix[target.index(other), c] = 1.0
        else:
            return None
    return matrix


@dataclass(frozen=True)
class ChannelMix:
    """How a sound of some layout becomes an AAC track.

    Attributes:
        layout: the AAC layout written (an FFmpeg layout name).
        matrix: ``[C_out, C_in]`` gains, None when the channels are written as they are.
    """

    layout: str
    matrix: np.ndarray | None

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """``[C_in, n]`` float32 -> ``[C_out, n]`` float32."""
        if self.matrix is None:
            return samples
        return (self.matrix.astype(np.float32) @ samples).astype(np.float32, copy=False)


def aac_mix(channels: Sequence[str] | int) -> ChannelMix:
    """The :class:`ChannelMix` for a sound with these channel names (or this many channels, no names).

    The smallest AAC layout, of :data:`AAC_LAYOUTS` and opened by the encoder, that holds every
    channel (see the module docstring); else the BS.775 stereo mix (a mean to mono when the
    channels have no positions at all).
    """
    channels = _known(("NONE",) * channels if isinstance(channels, int) else tuple(channels))
    if "NONE" in channels:
        return ChannelMix("mono", np.full((1, len(channels)), 1.0 / len(channels)))
    for count, layout in AAC_LAYOUTS.items():
        if count < len(channels) or not aac_encodes(layout):
            continue
        target = layout_channels(layout)
        matrix = _placement(channels, target)
        if matrix is not None:
            identity = matrix.shape[0] == matrix.shape[1] and np.array_equal(matrix, np.eye(len(channels)))
            return ChannelMix(layout, None if identity else matrix)
    return ChannelMix("stereo", _bs775_stereo(channels))


def mono_weights(channels: Sequence[str] | int) -> np.ndarray:
    """``[C]`` float64 gains of the BS.775 mono mix of these channels, scaled to sum to 1.

    mono: ``[1]``; stereo: ``[0.5, 0.5]``; 5.1: ``[0.707, 0.707, 1, 0, 0.5, 0.5] / 3.414``
    (the centre, where dialogue is, the loudest). Channels without positions weigh the same.
    """
    channels = _known(("NONE",) * channels if isinstance(channels, int) else tuple(channels))
    if len(channels) == 1 or "NONE" in channels:
        return np.full(len(channels), 1.0 / len(channels))
    weights = _MINUS_3DB * _bs775_stereo(channels).sum(axis=0)
    if not weights.any():  # nothing but LFE
        return np.full(len(channels), 1.0 / len(channels))
    return weights / weights.sum()


def to_frame(samples: np.ndarray, layout: str, rate: int) -> av.AudioFrame:
    """``[C, n]`` float32 samples as a packed ``flt`` PyAV frame (PyAV's planar frames fail at 8 channels)."""
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T).reshape(1, -1), format="flt", layout=layout)
    frame.sample_rate = int(rate)
    return frame


def from_frame(frame: av.AudioFrame) -> np.ndarray:
    """A packed ``flt`` frame as ``[C, n]`` float32."""
    return frame.to_ndarray().reshape(-1, frame.layout.nb_channels).T.astype(np.float32)


_BLOCK = 1 << 16  # samples per frame given to the resampler


def resample_to(samples: np.ndarray, layout: str, rate: int, new_rate: int) -> np.ndarray:
    """``[C, T]`` float32 in ``layout`` at ``rate`` -> ``[C, about T * new_rate / rate]`` at ``new_rate`` (FFmpeg's swresample)."""
    if rate == new_rate or samples.shape[1] == 0:
        return samples
    resampler = av.AudioResampler(format="flt", layout=layout, rate=int(new_rate))
    out = []
    for start in range(0, samples.shape[1], _BLOCK):
        out.extend(from_frame(f) for f in resampler.resample(to_frame(samples[:, start:start + _BLOCK], layout, rate)))
    out.extend(from_frame(f) for f in resampler.resample(None))
    return np.concatenate(out, axis=1)
