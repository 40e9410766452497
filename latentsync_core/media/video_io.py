"""Streaming video I/O through PyAV: frames in bounded windows, frames out with the source audio.

Reading yields windows of at most ``window`` RGB frames with their timestamps, so
memory does not grow with the length of the video. Frames are converted to RGB with
the source's own matrix and range (:mod:`~latentsync_core.media.colourspace`), and each
window also keeps the decoded planes at the source's depth. Writing encodes each
frame with the source's colour (tags, matrix, range, depth; the encoder as
:mod:`~latentsync_core.media.encoding` chooses it): pixels the job did not change
are written from the decoded planes, so they come out as decoded. Each frame keeps
its source timestamp, so the frame rate is kept exactly, odd rates
(30000/1001, 24000/1001) and variable frame rate included. The first audio track
of the source is copied packet by packet when the output container accepts its
codec, else re-encoded to AAC, and interleaved with the video as it is written.

Output is atomic: frames go to a hidden temporary file in the output's folder,
renamed onto the output path by :meth:`VideoWriter.close`; on any error the
temporary file is removed and nothing is left at the output path.
"""
from __future__ import annotations

import bisect
import errno
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import BadInputError
from ..files.permissions import give_new_file_mode
from .audio_format import aac_mix, copies_in_time, from_frame, layout_channels, nearest_aac_rate, sound_codec, to_frame
from .colourspace import ColourSpace, DecodedFrame, edited_planes, working_format
from .encoding import choose_encoding

#: Output file extensions and the container format each is written as.
OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}

#: Frame rate assumed when a stream declares none.
FALLBACK_FPS = Fraction(25)

logger = logging.getLogger(__name__)

#: errno values that mean the output does not fit: disk full, file size limit, quota.
_NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


@dataclass(frozen=True)
class VideoInfo:
    """What a reader and a writer need to know about a source video.

    Attributes:
        path: the file.
        width, height: frame size in pixels.
        fps: average frame rate, frames per second (exact, e.g. ``Fraction(30000, 1001)``).
        time_base: seconds per tick of the video timestamps.
        start_pts: timestamp of the stream start, in ``time_base`` ticks;
            :func:`read_windows` reports timestamps relative to it.
        frame_count: frames as stored in the container header, None when unknown.
        duration: seconds, None when unknown.
        audio_codec: codec name of the first audio track, None when there is none.
        rotation: counter-clockwise degrees (0, 90, 180, 270) the stored frames are
            turned by to be shown (the stream's display matrix, e.g. phone videos).
            :func:`read_windows` returns frames already upright, and ``width``,
            ``height`` are the upright size; the output is written upright.
        colour: matrix, range, primaries, transfer and the pixel format the planes are kept
            in, untagged values resolved as players do; None for frames of unknown origin.
    """

    path: str
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    start_pts: int
    frame_count: int | None
    duration: float | None
    audio_codec: str | None
    rotation: int = 0
    colour: ColourSpace | None = None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    def estimated_frames(self) -> int | None:
        """Frame count from the header, else from duration x fps; None when neither is known."""
        if self.frame_count:
            return self.frame_count
        if self.duration:
            return max(1, round(self.duration * float(self.fps)))
        return None


@dataclass
class FrameWindow:
    """Consecutive decoded frames.

    Attributes:
        frames: ``(N, H, W, 3)`` uint8 RGB, values 0..255.
        pts: ``(N,)`` int64 presentation timestamps in ``VideoInfo.time_base``
            ticks relative to ``VideoInfo.start_pts``, strictly increasing.
        start: index of the first frame in the video.
        decoded: for frames read from a file, each frame's source planes (at the source's
            depth) and the RGB first given; a job passes them on with its output frames so
            :meth:`VideoWriter.write` writes unchanged pixels as decoded. None: RGB only.
    """

    frames: np.ndarray
    pts: np.ndarray
    start: int
    decoded: list[DecodedFrame] | None = None

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def __getitem__(self, index: slice) -> FrameWindow:
        """Frames ``index`` (a slice, step 1) as a window, with their timestamps and decoded planes."""
        first = index.indices(len(self))[0]
        decoded = self.decoded[index] if self.decoded is not None else None
        return FrameWindow(self.frames[index], self.pts[index], self.start + first, decoded)

    @staticmethod
    def concatenate(windows: Sequence[FrameWindow]) -> FrameWindow:
        """Consecutive windows as one (decoded planes kept only when every window has them)."""
        decoded = None if any(w.decoded is None for w in windows) else [d for w in windows for d in w.decoded]
        frames, pts = np.concatenate([w.frames for w in windows]), np.concatenate([w.pts for w in windows])
        return FrameWindow(frames, pts, windows[0].start, decoded)


def _reason(exc: Exception) -> str:
    """FFmpeg's own words for ``exc`` (e.g. "Invalid data found when processing input"), without errno and path."""
    return getattr(exc, "strerror", None) or str(exc)


def _open_input(path: str) -> av.container.InputContainer:
    if not os.path.exists(path):
        raise BadInputError(f"Input video '{path}' does not exist. Check the path.")
    if os.path.isdir(path):
        raise BadInputError(f"Input video '{path}' is a folder. Give the path of a video file.")
    try:
        return av.open(path, "r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise BadInputError(
            f"Cannot read '{path}' as a video ({_reason(exc)}): it is no video, or it is damaged or incomplete "
            "(a copy or download that did not finish). Give a complete mp4, mov, mkv or other video file."
        ) from exc


def _stream_fps(stream: av.video.stream.VideoStream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and rate > 0:
            return Fraction(rate)
    return FALLBACK_FPS


def _first_frame(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> av.VideoFrame | None:
    try:
        return next(container.decode(stream), None)
    except av.FFmpegError:
        return None


def _colour(
    frame: av.VideoFrame | None, width: int, height: int, rotation: int,
    stream: av.video.stream.VideoStream | None = None,
) -> ColourSpace | None:
    """The source's colour from its first frame (and the stream's tags); 4:2:2 turned by 90 degrees is kept as 4:4:4."""
    if frame is None:
        return None
    pix_fmt = working_format(frame.format)
    if rotation in (90, 270) and "422" in pix_fmt:
        pix_fmt = pix_fmt.replace("422", "444")
    return ColourSpace.of_frame(frame, width, height, pix_fmt, stream.codec_context if stream is not None else None)


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read the header of ``path``; raise :class:`BadInputError` if it is no readable video."""
    path = os.fspath(path)
    container = _open_input(path)
    try:
        if not container.streams.video:
            if container.streams.audio:
                raise BadInputError(f"'{path}' holds only audio (no video stream). Give a video file, not an audio file.")
            raise BadInputError(f"'{path}' has no video frames. Give a video with at least one frame.")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:
            raise BadInputError(f"'{path}' has a video stream with no frame size. The file may be damaged.")
        time_base = Fraction(stream.time_base) if stream.time_base else 1 / _stream_fps(stream)
        duration = None
        if stream.duration:
            duration = float(stream.duration * time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        audio = container.streams.audio
        audio_codec = audio[0].codec_context.name if audio else None
        frame_count = int(stream.frames) or None
        start_pts = int(stream.start_time or 0)
        fps = _stream_fps(stream)
        first = _first_frame(container, stream)
        rotation = 90 * (round((first.rotation if first is not None else 0) / 90) % 4)
        if rotation in (90, 270):
            width, height = height, width
        colour = _colour(first, int(width), int(height), rotation, stream)
        return VideoInfo(
            path=path,
            width=int(width),
            height=int(height),
            fps=fps,
            time_base=time_base,
            start_pts=start_pts,
            frame_count=frame_count,
            duration=duration,
            audio_codec=audio_codec,
            rotation=rotation,
            colour=colour,
        )
    finally:
        container.close()


class KeyframeIndex:
    """Where decoding one file can restart: the key frames a decode of it met, by frame index.

    :func:`read_windows` fills it as it decodes and, asked for frames from ``start``
    on, seeks to the last key frame at or before ``start`` instead of decoding from
    the first frame. Frame indices are counted by decoding, never computed from
    timestamps, so only key frames a decode has reached can be sought.
    """

    def __init__(self) -> None:
        self._frames: list[int] = []  # ascending frame indices
        self._marks: dict[int, tuple[int, int | None]] = {}

    def add(self, index: int, pts: int, previous: int | None) -> None:
        """Key frame ``index`` has the stream timestamp ``pts``; ``previous``: the (repaired) relative
        timestamp :func:`read_windows` gave the frame before it."""
        if index > 0 and index not in self._marks:
            bisect.insort(self._frames, index)
            self._marks[index] = (pts, previous)

    def discard(self, index: int) -> None:
        """Forget key frame ``index`` (seeking to it did not give it back)."""
        if self._marks.pop(index, None) is not None:
            self._frames.remove(index)

    def before(self, start: int) -> tuple[int, int, int | None] | None:
        """``(index, pts, previous)`` of the last known key frame at or before frame ``start``, or None."""
        i = bisect.bisect_right(self._frames, start) - 1
        if i < 0:
            return None
        index = self._frames[i]
        return (index, *self._marks[index])


def _decoded(info: VideoInfo, start: int, keyframes: KeyframeIndex | None) -> Iterator[tuple[av.VideoFrame, int]]:
    """The decoded frames of ``info.path`` from frame ``start`` on with their relative timestamps.

    Seeks to a key frame of ``keyframes`` when one lies in ``1..start``; when the
    seek fails or does not land on that key frame, decodes from the first frame.
    Frames before ``start`` are decoded but not yielded (nor converted).
    """
    step = max(1, round(1 / (info.fps * info.time_base)))
    mark = keyframes.before(start) if keyframes is not None else None
    while True:
        with _open_input(info.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            index, target, last = 0, None, None
            if mark is not None:
                index, target, last = mark
                try:
                    container.seek(target, stream=stream, backward=True)
                except av.FFmpegError:
                    target = -1  # no timestamp is negative: the first frame ends this try
            for frame in container.decode(stream):
                if target is not None:
                    if frame.pts is not None and 0 <= frame.pts < target:
                        continue  # before the key frame (the seek landed earlier)
                    if frame.pts != target:
                        break
                    target = None
                t = None if frame.pts is None else frame.pts - info.start_pts
                if t is None or (last is not None and t <= last):
                    t = 0 if last is None else last + step
                elif frame.key_frame and keyframes is not None:
                    keyframes.add(index, frame.pts, last)
                last = t
                if index >= start:
                    yield frame, t
                index += 1
            if target is None:
                return
        keyframes.discard(mark[0])
        mark = None


def read_windows(
    info: VideoInfo, window: int = 32, start: int = 0, keyframes: KeyframeIndex | None = None,
) -> Iterator[FrameWindow]:
    """Decode ``info.path`` in windows of at most ``window`` frames, from frame ``start`` on.

    Only one window is held at a time (a fresh array each, so a caller may keep
    one while asking for the next). Frames are converted to RGB with the source's
    matrix and range (``info.colour``); sources deeper than 8 bits are rounded to
    8 bits, their full depth kept in ``FrameWindow.decoded``. Frames are turned upright by
    ``info.rotation``; frames whose size changes mid-stream are scaled to the
    stream's size. Missing or non-increasing timestamps are replaced by the
    previous one plus one frame interval. With ``keyframes`` (one
    :class:`KeyframeIndex` per file, kept across calls) a read from ``start > 0``
    seeks to the nearest key frame an earlier read met instead of decoding from
    the first frame; the frames and timestamps are the same.

    Raises:
        BadInputError: the file cannot be decoded, holds no frames, or ends well before the
            frame count its header lists (a truncated mp4/mov whose index comes first); raised
            before the last window is yielded.
    """
    if window < 1:
        raise BadInputError(f"Window size must be at least 1 frame, got {window}.")
    turns = info.rotation // 90
    coded_w, coded_h = (info.height, info.width) if turns % 2 else (info.width, info.height)
    colour = info.colour
    buf = np.empty((window, info.height, info.width, 3), np.uint8)
    pts = np.empty(window, np.int64)
    kept: list[DecodedFrame] = []
    repack, to_rgb = VideoReformatter(), VideoReformatter()
    n = 0
    frames = _decoded(info, start, keyframes)
    try:
        for frame, t in frames:
            if colour is None:
                colour = _colour(frame, info.width, info.height, info.rotation)
            if (frame.width, frame.height) != (coded_w, coded_h) or frame.format.name != colour.pix_fmt:
                frame = colour.convert(frame, colour.pix_fmt, width=coded_w, height=coded_h, reformatter=repack)
            planes = colour.planes(frame)
            image = colour.rgb(colour.frame(planes), to_rgb)  # as the writer converts: from the planes alone
            if image.dtype == np.uint16:
                image = ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
            if turns:
                image = np.rot90(image, turns)
                planes = tuple(np.ascontiguousarray(np.rot90(p, turns)) for p in planes)
            buf[n] = image
            kept.append(DecodedFrame(planes, buf[n]))
            pts[n] = t
            n += 1
            if n == window:
                yield FrameWindow(buf, pts, start, kept)
                start += n
                n = 0
                buf = np.empty_like(buf)
                pts = np.empty_like(pts)
                kept = []
    except av.FFmpegError as exc:
        raise BadInputError(
            f"Cannot decode '{info.path}' after {start + n} frames ({_reason(exc)}): the file is damaged. "
            "Export or copy it again."
        ) from exc
    finally:
        frames.close()
    decoded = start + n
    if decoded == 0:
        raise BadInputError(f"'{info.path}' has no video frames. Give a video with at least one frame.")
    if info.frame_count and decoded < info.frame_count - max(2, info.frame_count // 50):
        raise BadInputError(
            f"'{info.path}' ends after {decoded} of the {info.frame_count} frames its header lists: the file is "
            "incomplete (a copy or download that did not finish). Copy or download it again."
        )
    if n:
        yield FrameWindow(buf[:n], pts[:n], start, kept)


def check_output_path(path: str | os.PathLike, input_path: str | os.PathLike | None = None) -> str:
    """Validate where a video will be written; return the container format name.

    Raises:
        BadInputError: unknown extension, missing or unwritable folder, a folder
            at ``path``, or ``path`` naming the input file.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in OUTPUT_FORMATS:
        raise BadInputError(
            f"Output '{path}' has extension '{ext}'; use one of {', '.join(sorted(OUTPUT_FORMATS))}."
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise BadInputError(f"Output folder '{folder}' does not exist. Create it or choose another output path.")
    if os.path.isdir(path):
        raise BadInputError(f"Output '{path}' is a folder. Give a file name such as out.mp4.")
    if not os.access(folder, os.W_OK):
        raise BadInputError(f"Output folder '{folder}' is not writable. Choose another output path.")
    if input_path and os.path.exists(path) and os.path.samefile(path, input_path):
        raise BadInputError(f"Output '{path}' is the input file. Choose a different output path.")
    return OUTPUT_FORMATS[ext]


@contextmanager
def _space_errors(path: str) -> Iterator[None]:
    """Turn "disk full" (or file size limit, quota) while writing ``path`` into a :class:`BadInputError`."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _NO_SPACE:
            raise
        raise BadInputError(
            f"Not enough space to write '{path}' ({exc.strerror}). Free some disk space or choose an output "
            "folder on another disk."
        ) from exc




class _AudioTrack:
    """The first audio track of a source, copied into an output container as video is written.

    Packets are remuxed unchanged when the output format accepts the codec and plays it at its
    source time (:func:`~.audio_format.copies_in_time`), else decoded (the source's priming
    dropped) and re-encoded (see :class:`_SoundEncoder`). Timestamps are shifted by ``origin``
    seconds (the video start) so audio and video keep their sync.
    """

    def __init__(self, source: str, output: av.container.OutputContainer, origin: Fraction) -> None:
        self._input = av.open(source, "r")
        self._src = self._input.streams.audio[0]
        ctx = self._src.codec_context
        self._remux = ctx.name in output.supported_codecs and copies_in_time(
            ctx.codec.canonical_name, output.format.name, ctx.sample_rate or 0)
        if self._remux:
            self._out = output.add_stream_from_template(self._src)
            self._shift = round(origin / self._src.time_base)
        else:
            layout = ctx.layout.name if ctx.layout.nb_channels else "mono"
            rate = ctx.sample_rate or 48000
            self._encoder = _SoundEncoder(output, rate, layout_channels(layout))
            # packed float blocks in the source's layout and rate (planar frames fail at 8 channels)
            self._unpack = av.AudioResampler(format="flt", layout=layout, rate=rate)
            self._out = self._encoder.stream
            self._origin = origin
        self._output = output
        self._packets = self._input.demux(self._src)
        self._held: av.Packet | None = None
        self._done = False

    def _packet_time(self, packet: av.Packet) -> float | None:
        t = packet.pts if packet.pts is not None else packet.dts
        return None if t is None else float(t * self._src.time_base)

    def pump(self, until: float | None) -> None:
        """Write source packets whose start is before ``until`` seconds of source time (None: all)."""
        while not self._done:
            packet = self._held if self._held is not None else next(self._packets, None)
            self._held = None
            if packet is None:
                self._done = True
                self._flush()
                return
            if packet.size == 0:
                continue
            t = self._packet_time(packet)
            if until is not None and t is not None and t > until:
                self._held = packet
                return
            self._write(packet)

    def _write(self, packet: av.Packet) -> None:
        if self._remux:
            if packet.pts is not None:
                packet.pts -= self._shift
            if packet.dts is not None:
                packet.dts -= self._shift
            packet.stream = self._out
            self._output.mux(packet)
            return
        for frame in self._src.codec_context.decode(packet):
            self._encode(frame)

    def _encode(self, frame: av.AudioFrame | None) -> None:
        if frame is not None and self._encoder.next_sample is None:
            first = Fraction(frame.pts) * frame.time_base if frame.pts is not None else Fraction(0)
            self._encoder.next_sample = round((first - self._origin) * self._encoder.rate)
        if frame is not None:
            frame.pts = None
        for block in self._unpack.resample(frame):
            self._encoder.encode(from_frame(block))

    def _flush(self) -> None:
        if not self._remux:
            for frame in self._src.codec_context.decode(None):
                self._encode(frame)
            self._encode(None)
            self._encoder.flush()

    def close(self) -> None:
        self._input.close()


class _SoundEncoder:
    """A sound stream of an output container fed with float blocks ``[C, n]`` of one layout and rate.

    The codec is :func:`~.audio_format.sound_codec`'s for the container: AAC, or FLAC in
    Matroska (no encoder priming to play late). Blocks are placed in an AAC layout or mixed down
    (:func:`~.audio_format.aac_mix`); AAC resamples them to the nearest AAC rate (22,000 Hz ->
    22,050, 192,000 -> 96,000), FLAC keeps their rate. ``next_sample`` is the timestamp, in
    samples at ``rate``, given to the next encoded frame (None until set: 0).

    Args:
        output: the container.
        rate: Hz of the blocks.
        channels: FFmpeg's names of their channels, or their count (taken as ``AAC_LAYOUTS[C]``).
    """

    def __init__(self, output: av.container.OutputContainer, rate: int, channels: Sequence[str] | int) -> None:
        self._mix = aac_mix(channels)
        self.layout = self._mix.layout
        self.source_rate = int(rate)
        codec = sound_codec(output.format.name)
        self.rate = nearest_aac_rate(rate) if codec == "aac" else self.source_rate
        self.stream = output.add_stream(codec, rate=self.rate, layout=self.layout)
        sample_format, frame_size = ("fltp", 1024) if codec == "aac" else ("s32", 4096)  # FLAC: 24 bits
        self.stream.codec_context.format = sample_format
        self.stream.codec_context.options = {"frame_size": str(frame_size)}
        self._resampler = av.AudioResampler(format=sample_format, layout=self.layout, rate=self.rate, frame_size=frame_size)
        self._output = output
        self.next_sample: int | None = None

    def encode(self, samples: np.ndarray | None) -> None:
        """Encode ``samples`` ``[C, n]`` float32 at the source rate (None: drain the resampler)."""
        frame = None if samples is None else to_frame(self._mix(samples), self.layout, self.source_rate)
        for out in self._resampler.resample(frame):
            out.pts = self.next_sample or 0
            out.time_base = Fraction(1, self.rate)
            self.next_sample = out.pts + out.samples
            self._output.mux(self.stream.encode(out))

    def flush(self) -> None:
        """Drain the resampler and the encoder."""
        self.encode(None)
        self._output.mux(self.stream.encode(None))


class _WaveformTrack:
    """A waveform encoded into an output container as video is written (see :class:`_SoundEncoder`).

    Args:
        waveform: ``[T]``, ``[C, T]`` or ``[1, C, T]`` float samples in about ``[-1, 1]``
            (numpy or torch); ``C`` channels taken as ``AAC_LAYOUTS[C]`` (see :class:`_SoundEncoder`
            for the codec, layout and rate written).
        sample_rate: Hz of ``waveform``.
        output: the container.
        length: samples to write (None: T); past T the track is silent. Nothing is
            copied: a float32 CPU waveform is read block by block as it is encoded.
    """

    _BLOCK = 8192

    def __init__(
        self, waveform, sample_rate: int, output: av.container.OutputContainer, length: int | None = None,
    ) -> None:
        samples = np.asarray(waveform.detach().cpu() if hasattr(waveform, "detach") else waveform, dtype=np.float32)
        if samples.ndim not in (1, 2, 3) or samples.size == 0:
            raise BadInputError("The audio to write has no samples; give a waveform [C, T] with T > 0.")
        samples = samples.reshape(-1, samples.shape[-1])
        self._samples = samples
        self._length = samples.shape[1] if length is None else int(length)
        self._rate = int(sample_rate)
        self._encoder = _SoundEncoder(output, sample_rate, samples.shape[0])
        self._encoder.next_sample = 0
        self._pos = 0

    def pump(self, until: float | None) -> None:
        """Encode the samples before ``until`` seconds (None: all, and flush)."""
        total = self._length
        stop = total if until is None else min(total, int(np.ceil(until * self._rate)))
        while self._pos < stop:
            end = min(stop, self._pos + self._BLOCK)
            block = self._samples[:, self._pos:end]
            if block.shape[1] < end - self._pos:  # past the waveform's end: silence
                block = np.pad(block, ((0, 0), (0, end - self._pos - block.shape[1])))
            self._encoder.encode(block)
            self._pos = end
        if until is None:
            self._encoder.flush()

    def close(self) -> None:
        pass


AudioSpec = tuple[Any, int] | tuple[Any, int, int]
"""``(waveform, sample_rate)`` or ``(waveform, sample_rate, length)``: a sound track to encode (see :class:`VideoWriter`)."""


class _OutputFile:
    """An output video written to a hidden temporary file in its folder and renamed onto ``path`` by :meth:`close`.

    Holds what every writer shares: the temporary file, the container, the sound track (the source's
    copied, or a waveform encoded; added after the video stream) and the atomic close.
    """

    def __init__(self, path: str | os.PathLike, info: VideoInfo) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self._format = check_output_path(self.path, info.path)
        self.info = info
        stem, ext = os.path.splitext(os.path.basename(self.path))
        try:
            fd, self._tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".partial{ext}", dir=os.path.dirname(self.path))
        except OSError as exc:
            raise BadInputError(f"Cannot create a file next to '{self.path}' ({exc}). Choose another output path.") from exc
        os.close(fd)
        give_new_file_mode(self._tmp, replaces=self.path)
        self._container: av.container.OutputContainer | None = None
        self._audio: _AudioTrack | _WaveformTrack | None = None
        self.frames_written = 0

    def _add_audio(self, copy_audio: bool, audio: AudioSpec | None) -> None:
        info = self.info
        if audio is not None:
            self._audio = _WaveformTrack(audio[0], audio[1], self._container, *audio[2:])
        elif copy_audio and info.has_audio:
            self._audio = _AudioTrack(info.path, self._container, info.start_pts * info.time_base)

    def _pump_audio(self, pts: int) -> None:
        """Write the sound up to the video timestamp ``pts`` (``info.time_base`` ticks from the video start)."""
        if isinstance(self._audio, _AudioTrack):
            self._audio.pump(float((self.info.start_pts + pts) * self.info.time_base))
        elif self._audio is not None:
            self._audio.pump(float(pts * self.info.time_base))

    def _flush_video(self) -> None:
        """Write what the video stream still holds (before the rest of the sound)."""

    def close(self) -> None:
        """Flush the video, write the rest of the audio and move the file onto ``path``."""
        try:
            if self.frames_written == 0:
                raise BadInputError(f"No frames were written to '{self.path}'.")
            with _space_errors(self.path):
                self._flush_video()
                if self._audio is not None:
                    self._audio.pump(None)
                self._close_files()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def _close_files(self) -> None:
        if self._audio is not None:
            self._audio.close()
            self._audio = None
        if self._container is not None:
            container, self._container = self._container, None
            container.close()

    def abort(self) -> None:
        """Close everything and remove the temporary file; ``path`` is left untouched."""
        try:
            self._close_files()
        except av.FFmpegError:
            pass
        finally:
            if os.path.exists(self._tmp):
                os.remove(self._tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class VideoWriter(_OutputFile):
    """Writes RGB frames to ``path`` with the audio of ``info``'s file, atomically.

    Use as a context manager: a clean exit renames the finished temporary file
    onto ``path``; an exception removes it and leaves ``path`` untouched.

    The output has the colour of ``info``: its tags, matrix and range, and its depth (lossless:
    the source's own pixel format; lossy: 4:2:0 at 8 or 10 bits; the encoders
    :func:`~latentsync_core.media.encoding.choose_encoding` picks). ``colour`` and ``encoding``
    say what is written.
    Frames of the source's size given with their ``decoded`` planes are written from
    those planes wherever the RGB is unchanged (bit for bit in lossless mode); frames of
    another size (an enlarged background) are written from their 8-bit RGB, which the
    log says once for a deeper source.

    Args:
        path: output file; ``.mp4``, ``.m4v``, ``.mov`` or ``.mkv``.
        info: the source video; its size, rate, time base, colour and audio are used.
        copy_audio: copy the source's first audio track when it has one.
        crf: constant rate factor (18 is visually lossless .. 51 worst). ``0`` is
            lossless in the source's pixel format (FFV1 in ``.mkv``, H.264 in the other
            containers), or lossless RGB for RGB frames, so decoded frames equal the
            written ones bit for bit.
        preset: x264 speed preset.
        audio: ``(waveform, sample_rate)`` or ``(waveform, sample_rate, length)`` to encode as the
            audio track (AAC; FLAC in ``.mkv``) instead of copying the source's; ``waveform`` ``[T]``,
            ``[C, T]`` or ``[1, C, T]`` float, numpy or torch, zero-padded to ``length`` samples when given.
        size: ``(width, height)`` of the frames to write when they differ from
            the source's (e.g. an upscaled background).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        info: VideoInfo,
        copy_audio: bool = True,
        crf: int = 18,
        preset: str = "medium",
        audio: AudioSpec | None = None,
        size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(path, info)
        self.frame_width, self.frame_height = size if size is not None else (info.width, info.height)
        try:
            self._open(self._format, copy_audio, crf, preset, audio)
        except BaseException:
            self.abort()
            raise

    def _open(self, fmt: str, copy_audio: bool, crf: int, preset: str, audio: AudioSpec | None) -> None:
        info = self.info
        self._container = av.open(self._tmp, "w", format=fmt)
        w, h = self.frame_width, self.frame_height
        source = info.colour
        self._from_planes = source is not None and (w, h) == (info.width, info.height)
        self.colour = source if self._from_planes else replace(source or ColourSpace.for_rgb(w, h), pix_fmt="rgb24")
        self.encoding = encoding = choose_encoding(self.colour, fmt, crf, preset, w, h)
        note = encoding.note
        if note is None and source is not None and source.depth > 8 and not self._from_planes:
            note = f"written with 8 bits per sample: the {w}x{h} frames (not the source's size) have 8-bit RGB only"
        if note is not None:
            logger.warning("'%s' is %d-bit, output %s.", info.path, source.depth, note)
        stream = self._container.add_stream(encoding.codec, rate=info.fps)
        fmt_out = av.VideoFormat(encoding.pix_fmt)
        subsampled = encoding.codec != "ffv1" and fmt_out.chroma_width(16) * fmt_out.chroma_height(16) < 256
        self.width, self.height = (w + w % 2, h + h % 2) if subsampled else (w, h)
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = encoding.pix_fmt
        context = stream.codec_context
        context.time_base = info.time_base
        stream.time_base = info.time_base
        context.colorspace, context.color_range = encoding.matrix, encoding.range
        context.color_primaries, context.color_trc = self.colour.primaries, self.colour.transfer
        if encoding.codec_tag is not None:
            context.codec_tag = encoding.codec_tag
        if encoding.codec == "mpeg4":
            context.qscale = 3
            context.flags |= "QSCALE"
        stream.options = encoding.options
        self._stream = stream
        self._reformatter = VideoReformatter()
        self._add_audio(copy_audio, audio)

    def write(self, frames: np.ndarray, pts: np.ndarray, decoded: list[DecodedFrame] | None = None) -> None:
        """Encode ``frames`` ``(N, H, W, 3)`` uint8 RGB at timestamps ``pts`` ``(N,)``.

        ``pts`` are in ``info.time_base`` ticks relative to the video start, as
        :func:`read_windows` gives them. ``decoded``: the source frames the output
        frames were made from (``FrameWindow.decoded`` of the frames read, one per
        output frame): where a frame's RGB equals its source's, the source's planes
        are written (the caller must not have written into the frames it read). Odd frame sizes are padded by one edge pixel to the even size
        4:2:0 and 4:2:2 need.
        """
        info = self.info
        w, h = self.frame_width, self.frame_height
        if frames.ndim != 4 or frames.shape[1:] != (h, w, 3) or frames.dtype != np.uint8:
            raise BadInputError(
                f"Frames to write must be ({'N'}, {h}, {w}, 3) uint8, got {frames.shape} {frames.dtype}."
            )
        if decoded is not None and len(decoded) != len(frames):
            raise ValueError(f"{len(decoded)} decoded source frames given for {len(frames)} frames.")
        with _space_errors(self.path):
            for i, (image, t) in enumerate(zip(frames, pts)):
                frame = self._frame(image, decoded[i] if decoded is not None else None)
                frame.pts = int(t)
                frame.time_base = info.time_base
                self._container.mux(self._stream.encode(frame))
            self.frames_written += len(frames)
            if len(pts):
                self._pump_audio(int(pts[-1]))

    def _frame(self, image: np.ndarray, decoded: DecodedFrame | None) -> av.VideoFrame:
        """One frame to encode: the source's planes with the changed pixels of ``image``, else ``image``."""
        colour, encoding = self.colour, self.encoding
        if decoded is not None and self._from_planes:
            frame = colour.frame(edited_planes(colour, decoded, image), self.width, self.height)
            if frame.format.name == encoding.pix_fmt:
                return frame
        else:
            if self.width != image.shape[1] or self.height != image.shape[0]:
                pad = ((0, self.height - image.shape[0]), (0, self.width - image.shape[1]), (0, 0))
                image = np.pad(image, pad, mode="edge")
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        return colour.convert(frame, encoding.pix_fmt, encoding.matrix, encoding.range, reformatter=self._reformatter)

    def _flush_video(self) -> None:
        self._container.mux(self._stream.encode(None))


class SegmentJoiner(_OutputFile):
    """Joins video-only segment files into ``path``, adding the sound once, atomically (a remux: nothing re-encoded).

    Each segment is a file a :class:`VideoWriter` wrote with ``copy_audio=False`` into the output's container
    format, from the same source and options, starting on a key frame. Its packets are copied in order; their
    timestamps are taken from ``pts`` (what the frames were written with, in ``info.time_base`` ticks), since a
    segment's container may have rounded them (Matroska's milliseconds) or shifted them (an MP4 edit list), so
    the joined video has the timestamps of one uninterrupted write, variable frame rate included. The sound is
    the source's track copied or ``audio`` encoded, as :class:`VideoWriter` does, interleaved as it is written.

    Args:
        path: output file (the segments' format).
        info: the source video.
        copy_audio, audio: as for :class:`VideoWriter`.
    """

    def __init__(
        self, path: str | os.PathLike, info: VideoInfo, copy_audio: bool = True, audio: AudioSpec | None = None,
    ) -> None:
        super().__init__(path, info)
        self._copy_audio, self._audio_spec = copy_audio, audio
        self._stream: av.video.stream.VideoStream | None = None
        self._last_dts: int | None = None

    def add(self, segment: str, pts: np.ndarray) -> None:
        """Append the video of the file ``segment``, whose frames were written at ``pts`` (strictly increasing)."""
        try:
            with av.open(segment, "r") as container:
                stream = container.streams.video[0]
                stored = [p.pts for p in container.demux(stream) if p.size and p.pts is not None]
            if len(stored) != len(pts):
                raise ValueError(f"{len(stored)} frames in the file, {len(pts)} listed")
            with av.open(segment, "r") as container:
                stream = container.streams.video[0]
                if self._stream is None:
                    self._start(stream)
                self._copy(container, stream, np.sort(np.asarray(stored, np.int64)), np.asarray(pts, np.int64))
        except (av.FFmpegError, ValueError) as exc:
            self.abort()
            raise BadInputError(f"The finished segment '{segment}' cannot be read ({exc}). Delete its work folder "
                                "and run again.") from exc
        except BaseException:
            self.abort()
            raise

    def _start(self, template: av.video.stream.VideoStream) -> None:
        self._container = av.open(self._tmp, "w", format=self._format)
        self._stream = self._container.add_stream_from_template(template)
        self._stream.time_base = self.info.time_base
        context = self._stream.codec_context
        context.framerate = self.info.fps  # the stream's average rate, as a written stream's
        context.codec_tag = template.codec_context.codec_tag  # the template's tag is dropped for a remux (hvc1)
        self._add_audio(self._copy_audio, self._audio_spec)

    def _copy(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream,
              stored: np.ndarray, pts: np.ndarray) -> None:
        """Mux the segment's packets with timestamps mapped from ``stored`` (its own, sorted) onto ``pts``."""
        scale = Fraction(stream.time_base) / self.info.time_base
        stored_ticks = stored.astype(np.float64) * float(scale)
        tb = self.info.time_base
        with _space_errors(self.path):
            for packet in container.demux(stream):
                if not packet.size or packet.pts is None:
                    continue
                t = int(pts[np.searchsorted(stored, packet.pts)])
                dts = self._map_dts(None if packet.dts is None else packet.dts * float(scale), stored_ticks, pts, t)
                duration = round(packet.duration * scale) if packet.duration else None
                packet.pts, packet.dts, packet.time_base, packet.stream = t, dts, tb, self._stream
                packet.duration = duration
                self._container.mux(packet)
                self._last_dts = dts
                self.frames_written += 1
                self._pump_audio(t)

    def _map_dts(self, dts: float | None, stored: np.ndarray, pts: np.ndarray, t: int) -> int:
        """A decode timestamp (in ``info.time_base`` ticks, as stored) on the written timeline: between the stored
        presentation timestamps it follows them, before the first one it keeps its distance; never after
        the packet's own ``t`` nor at or before the previous packet's. None (Matroska keeps none for
        reordered frames): just after the previous packet's."""
        if dts is None:
            mapped = t if self._last_dts is None else self._last_dts + 1
        elif dts <= stored[0]:
            mapped = int(pts[0]) - round(stored[0] - dts)
        else:
            mapped = round(float(np.interp(dts, stored, pts)))
        if self._last_dts is not None:
            mapped = max(mapped, self._last_dts + 1)
        return min(mapped, t)

    def close(self) -> None:
        if self._stream is None:
            self.abort()
            raise BadInputError(f"No segments were joined into '{self.path}'.")
        super().close()
