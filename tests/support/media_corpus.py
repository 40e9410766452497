"""The media-fidelity corpus: the colour, depth, orientation, timing and sound of the videos people
have, in short clips with a real face, and checks that decode them the way a player does.

Every clip is the astronaut photo (tests/data/astronaut.png) rendered with a per-frame jitter
(:mod:`clips`) and a face-less cutaway (saturated smooth noise) at :data:`CUTAWAY` in the middle;
it is encoded by the ffmpeg command line from RGB with the case's matrix and range, tagged with its
matrix, range, primaries and transfer, and carries a stereo AAC speech track. :data:`VIDEOS` names
the video cases, :data:`SPEECH` the speech cases (channel layouts in AAC, sample rates in WAV:
22,000 and 192,000 Hz are rates AAC cannot encode). :func:`make_video`, :func:`make_speech` and
:func:`make_video_with_speech` write them into a folder (each once; seconds for all).

Checks, all on the ffmpeg command line's decode as a player shows the file (:mod:`player`: its tags,
frames as RGB, planes, and a plain re-encode at :data:`REFERENCE_SETTINGS`, ``libx264 -crf 18 -preset
medium``, the yardstick for "within codec noise", :data:`NOISE_MARGIN`):

- :func:`speech_power_db`: the sound's mean power summed over channels;
- :func:`frame_times`, :func:`durations`;
- :func:`measure_video`, :func:`measure_sound`: every check of one run measured before any is asserted,
  so a failure names all that is wrong; :func:`record` fails with them (and with
  ``MEDIA_CORPUS_REPORT=<file>`` appends the run's figures to that file as a JSON line).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clips import FACE_CENTRE, FACE_WIDTH, astronaut, cutaway, jitter_affines, render
from player import VIEWED, planes, player_rgb, probe, reencode, run_tool, scale_matrix, stored_pix_fmt, tags

FPS = 25
FRAMES = 8
#: Indices of the face-less cutaway frames (the other frames show the face).
CUTAWAY = (3, 4)
#: "Within codec noise": a face-less frame may differ from the source by at most this many 8-bit levels
#: (mean absolute difference of RGB) more than a plain re-encode of the source at the same settings does.
NOISE_MARGIN = 0.3
#: The speech's power summed over channels must be kept within this many dB.
POWER_TOLERANCE_DB = 1.0
#: Variable frame rate: odd frames come this many seconds late (intervals of 60 and 20 ms alternate).
VFR_SHIFT = 0.02
#: Frame timestamps must be kept to this many seconds.
TIME_TOLERANCE = 0.001
#: The sound may come this many seconds earlier or later than in the source (a fifth of a 25 fps frame).
SOUND_OFFSET_TOLERANCE = 0.008
REFERENCE_SETTINGS = ("-c:v", "libx264", "-crf", "18", "-preset", "medium")

_X264 = ("-c:v", "libx264", "-crf", "12", "-preset", "veryfast")
_X265 = ("-c:v", "libx265", "-crf", "14", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1")
_PRORES = ("-c:v", "prores_ks", "-profile:v", "2")
_FFV1 = ("-c:v", "ffv1",)
_VP9 = ("-c:v", "libvpx-vp9", "-crf", "20", "-b:v", "0", "-deadline", "realtime", "-cpu-used", "8")


@dataclass(frozen=True)
class VideoCase:
    """A source video: ``size`` as shown (WxH), the encoder, its pixel format, tags, container and
    how it is stored (``rotation``: counter-clockwise display rotation; ``vfr``: irregular timestamps)."""

    name: str
    size: tuple[int, int]
    pix_fmt: str
    codec: tuple[str, ...]
    matrix: str
    range: str
    primaries: str
    transfer: str
    ext: str = ".mp4"
    audio: str = "aac"
    rotation: int = 0
    vfr: bool = False

    @property
    def ten_bit(self) -> bool:
        return "10" in self.pix_fmt


_709 = ("bt709", "tv", "bt709", "bt709")
VIDEOS = {c.name: c for c in (
    VideoCase("bt601_sd", (640, 480), "yuv420p", _X264, "smpte170m", "tv", "smpte170m", "smpte170m"),
    VideoCase("bt709_hd", (1280, 720), "yuv420p", _X264, *_709),
    VideoCase("bt709_full", (1280, 720), "yuvj420p", _X264, "bt709", "pc", "bt709", "bt709"),
    VideoCase("hlg_10bit", (1280, 720), "yuv420p10le", _X265, "bt2020nc", "tv", "bt2020", "arib-std-b67"),
    VideoCase("prores_10bit", (640, 480), "yuv422p10le", _PRORES, *_709, ext=".mov"),
    # Opus in Matroska: its pre-skip is kept (AAC's encoder delay is not: 1024 samples of priming would be heard)
    VideoCase("ffv1_10bit", (640, 480), "yuv420p10le", _FFV1, *_709, ext=".mkv", audio="libopus"),
    VideoCase("vp9_webm", (640, 480), "yuv420p", _VP9, *_709, ext=".webm", audio="libopus"),
    VideoCase("rotated_90", (480, 640), "yuv420p", _X264, *_709, rotation=90),
    VideoCase("rotated_270", (480, 640), "yuv420p", _X264, *_709, rotation=270),
    VideoCase("vfr", (640, 480), "yuv420p", _X264, *_709, vfr=True),
)}


@dataclass(frozen=True)
class SpeechCase:
    """A speech track: ``layout`` (ffmpeg's name) at ``rate`` Hz in ``codec`` (``.m4a`` AAC or ``.wav``)."""

    name: str
    layout: str
    rate: int
    codec: str

    @property
    def ext(self) -> str:
        return ".m4a" if self.codec == "aac" else ".wav"


SPEECH = {c.name: c for c in (
    *(SpeechCase(layout.replace(".", "_"), layout, 48000, "aac") for layout in ("mono", "stereo", "5.1", "7.1")),
    *(SpeechCase(f"{rate}hz", "stereo", rate, "pcm_s16le") for rate in (8000, 22000, 22050, 44100, 48000, 96000, 192000)),
)}
#: Amplitude per channel: the dialogue in the centre of 5.1 / 7.1 (FL FR FC LFE then surrounds).
_AMPLITUDES = {"mono": (0.3,), "stereo": (0.3, 0.25), "5.1": (0.08, 0.08, 0.4, 0.03, 0.05, 0.05),
               "7.1": (0.08, 0.08, 0.4, 0.03, 0.05, 0.05, 0.04, 0.04)}


# ----- making the corpus -----

def faces_and_cutaway(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """``(FRAMES, H, W, 3)`` uint8 RGB: the astronaut's face (about a quarter of the height wide,
    jittered) with the cutaway at :data:`CUTAWAY`."""
    w, h = size
    scale = 0.25 * h / FACE_WIDTH
    base = np.array([[scale, 0.0, w / 2 - FACE_CENTRE[0] * scale], [0.0, scale, h / 2 - FACE_CENTRE[1] * scale]])
    frames = (render(astronaut(), jitter_affines(FRAMES, seed, base), size).numpy() * 255).round().astype(np.uint8)
    for i in CUTAWAY:
        frames[i] = cutaway(size, seed=i)
    return frames


def speech_wave(layout: str, rate: int, seconds: float) -> np.ndarray:
    """``(C, rate * seconds)`` float32: a voice-like buzz (pitch gliding from 110 to 190 Hz, so that no two
    moments sound alike and an offset can be measured; its harmonics below 3 kHz; syllables at 4 Hz) per
    channel, at :data:`_AMPLITUDES`; each channel's pitch differs a little."""
    t = np.arange(int(round(rate * seconds))) / rate
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    out = []
    for c, amplitude in enumerate(_AMPLITUDES[layout]):
        scale = 1 + 0.03 * c
        phase = 2 * np.pi * scale * (110 * t + 40 * t ** 2 / max(seconds, 1e-3))  # f0 = 110 .. 190 Hz
        harmonics = [k for k in range(1, 20) if k * 190 * scale < min(3000, rate / 2.5)]
        voice = sum(np.sin(k * phase + k) / k for k in harmonics)
        out.append(amplitude * envelope * voice / np.sqrt(np.mean(voice ** 2) + 1e-12) * np.sqrt(0.5))
    return np.stack(out).astype(np.float32)


def _write_audio(path: Path, wave: np.ndarray, rate: int, layout: str, codec: str) -> Path:
    bitrate = ["-b:a", f"{64 * wave.shape[0]}k"] if codec == "aac" else []
    run_tool(["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(rate), "-ac", str(wave.shape[0]),
          "-channel_layout", layout, "-i", "-", "-c:a", codec, *bitrate, os.fspath(path)],
         np.ascontiguousarray(wave.T).tobytes())
    return path


def make_speech(folder: str | os.PathLike, name: str, seconds: float = FRAMES / FPS) -> Path:
    """The speech case ``name`` (:data:`SPEECH`), ``seconds`` long, in ``folder`` (written once)."""
    case = SPEECH[name]
    path = Path(folder) / f"speech_{name}{case.ext}"
    if not path.exists():
        _write_audio(path, speech_wave(case.layout, case.rate, seconds), case.rate, case.layout, case.codec)
    return path


def make_video(folder: str | os.PathLike, name: str) -> Path:
    """The video case ``name`` (:data:`VIDEOS`) with a stereo speech track as long as it, in ``folder``."""
    case = VIDEOS[name]
    path = Path(folder) / f"{name}{case.ext}"
    if path.exists():
        return path
    frames = faces_and_cutaway(case.size)
    turns = case.rotation // 90
    stored = np.ascontiguousarray(np.rot90(frames, -turns, axes=(1, 2))) if turns else frames
    n, h, w = stored.shape[:3]
    source = (stored.astype(np.uint16) * 257).astype("<u2") if case.ten_bit else stored
    speech = make_speech(folder, "stereo")
    tags = f"colorspace={case.matrix}:range={case.range}:color_primaries={case.primaries}:color_trc={case.transfer}"
    convert = f"scale=out_color_matrix={scale_matrix(case.matrix, w, h)}:out_range={case.range},format={case.pix_fmt}"
    target = path.with_suffix(".stored" + case.ext) if case.rotation or case.vfr else path
    run_tool(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb48le" if case.ten_bit else "rgb24",
          "-s", f"{w}x{h}", "-r", str(FPS), "-i", "-", "-i", os.fspath(speech), "-vf", f"{convert},setparams={tags}",
          *case.codec, *(["-bf", "0"] if case.vfr else []), "-c:a", case.audio, "-b:a", "128k", os.fspath(target)],
         source.tobytes())
    if target != path:
        _remux(target, path, case.rotation, case.vfr)
        target.unlink()
    return path


def _remux(src: Path, dst: Path, rotation: int, vfr: bool) -> None:
    """Copy ``src`` to ``dst`` with a display matrix turning the video ``rotation`` degrees counter-clockwise
    and, with ``vfr``, odd frames :data:`VFR_SHIFT` seconds late (``src`` has no B-frames: pts = dts)."""
    import av

    with av.open(os.fspath(src)) as i, av.open(os.fspath(dst), "w") as o:
        video = i.streams.video[0]
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        if rotation:
            streams[video.index].set_display_rotation(rotation)
        n = 0
        for packet in i.demux():
            if packet.dts is None:
                continue
            if vfr and packet.stream.index == video.index:
                packet.pts = packet.dts = round((n / FPS + VFR_SHIFT * (n % 2)) / video.time_base)
                n += 1
            packet.stream = streams[packet.stream.index]
            o.mux(packet)


def make_video_with_speech(folder: str | os.PathLike, speech: str, video: str = "bt709_hd") -> Path:
    """``video`` with the speech case ``speech`` as its sound track (copied), in QuickTime (holds PCM at any rate,
    and AAC with its encoder delay)."""
    path = Path(folder) / f"{video}_with_{speech}.mov"
    if not path.exists():
        run_tool(["ffmpeg", "-v", "error", "-y", "-i", os.fspath(make_video(folder, video)), "-i",
              os.fspath(make_speech(folder, speech)), "-map", "0:v", "-map", "1:a", "-c", "copy", os.fspath(path)])
    return path


# ----- reading files as a player does -----

def _audio_stream(info: dict) -> dict | None:
    return next((s for s in info["streams"] if s["codec_type"] == "audio"), None)


def faceless_difference(source: np.ndarray, output: np.ndarray, frames=CUTAWAY) -> tuple[float, float]:
    """Mean and max absolute difference, in 8-bit levels, of ``frames`` between two :func:`player_rgb` decodes."""
    a, b = source[list(frames)], output[list(frames)]
    if a.shape != b.shape:
        raise AssertionError(f"frame sizes differ: source {a.shape[1:]}, output {b.shape[1:]}")
    d = np.abs(a.astype(np.float64) - b)
    return float(d.mean()), float(d.max())


def frame_times(path: str | os.PathLike) -> np.ndarray:
    """Presentation times of the video frames in seconds, in order."""
    out = run_tool(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
                "-of", "csv=p=0", os.fspath(path)]).decode()
    return np.sort(np.array([float(x) for x in out.split() if x.strip() and x.strip() != "N/A"]))


def durations(path: str | os.PathLike) -> dict[str, float | None]:
    """``video`` (frames x their mean interval) and ``audio`` (decoded samples / rate) in seconds."""
    times = frame_times(path)
    n = len(times)
    audio = read_sound(path)
    return {"video": float((times[-1] - times[0]) * n / (n - 1)) if n > 1 else 1 / FPS if n else None,
            "audio": None if audio is None else audio[0].shape[1] / audio[1]}


def read_sound(path: str | os.PathLike) -> tuple[np.ndarray, int, str] | None:
    """The first sound track: ``(C, T)`` float32 samples, rate, channel layout; None when there is none."""
    stream = _audio_stream(probe(path))
    if stream is None:
        return None
    channels, rate = int(stream["channels"]), int(stream["sample_rate"])
    raw = run_tool(["ffmpeg", "-v", "error", "-i", os.fspath(path), "-map", "0:a:0", "-f", "f32le", "-c:a", "pcm_f32le", "-"])
    samples = np.frombuffer(raw, "<f4").reshape(-1, channels).T
    return samples, rate, stream.get("channel_layout", f"{channels} channels")


def sound_offset(expected: tuple[np.ndarray, int, str], output: tuple[np.ndarray, int, str]) -> float:
    """Seconds by which ``output``'s sound comes later than ``expected``'s (:func:`read_sound` results), from the
    cross-correlation of their downmixes resampled to 16 kHz, searched within +-0.1 s."""
    rate = 16000

    def mono(sound: tuple[np.ndarray, int, str]) -> np.ndarray:
        samples, r, _ = sound
        mix = samples.astype(np.float64).sum(axis=0)
        n = int(len(mix) * rate / r)
        return np.interp(np.arange(n) * r / rate, np.arange(len(mix)), mix)

    a, b = mono(expected), mono(output)
    n = min(len(a), len(b))
    correlation = np.correlate(b[:n], a[:n], "full")  # [n - 1 + k]: sum over i of b[i + k] * a[i]
    lags = np.arange(1 - n, n)
    near = np.abs(lags) <= rate // 10
    return float(lags[near][np.argmax(correlation[near])] / rate)


def speech_power_db(path: str | os.PathLike, seconds: float | None = None) -> float:
    """Mean power of the sound summed over its channels, in dB (0 dB: one full-scale channel), over the first
    ``seconds`` (None: all)."""
    samples, rate, _ = read_sound(path)
    if seconds is not None:
        samples = samples[:, : int(round(seconds * rate))]
    power = float((samples.astype(np.float64) ** 2).mean(axis=1).sum())
    return 10 * np.log10(max(power, 1e-20))


# ----- the checks of a run -----

def measure_video(source, output, mode: str, decoded: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[dict, list[str]]:
    """Figures of ``output`` (``mode`` "lossy" or "lossless") against ``source``, and the list of what is not kept.

    ``decoded``: the :func:`player.player_rgb` of ``source`` and of its :func:`player.reencode` at
    :data:`REFERENCE_SETTINGS` when already made."""
    failures: list[str] = []
    before, after = tags(source), tags(output)
    keys = VIEWED if mode == "lossless" else tuple(k for k in VIEWED if k != "pix_fmt")
    changed = {k: (before[k], after[k]) for k in keys if before[k] != after[k]}
    if changed:
        failures.append(f"tags changed (source, output): {changed}")
    figures: dict = {"tags_before": before, "tags_after": after}
    t_src, t_out = frame_times(source), frame_times(output)
    figures["frames"] = (len(t_src), len(t_out))
    if len(t_src) != len(t_out):
        failures.append(f"{len(t_out)} frames out of {len(t_src)}")
    else:
        shift = float(np.abs((t_out - t_out[0]) - (t_src - t_src[0])).max())
        figures["timestamp_error_s"] = round(shift, 4)
        if shift > TIME_TOLERANCE:
            failures.append(f"frame timestamps moved by up to {shift:.3f} s")
    if decoded is None:
        reference = reencode(source, Path(output).with_name(Path(output).stem + ".reference.mp4"), REFERENCE_SETTINGS)
        decoded = player_rgb(source), player_rgb(reference)
    source_rgb, reference_rgb = decoded
    output_rgb = player_rgb(output)
    if output_rgb.shape[1:] != source_rgb.shape[1:]:
        failures.append(f"shown size {output_rgb.shape[2]}x{output_rgb.shape[1]}, source {source_rgb.shape[2]}x{source_rgb.shape[1]}")
    else:
        mean, peak = faceless_difference(source_rgb, output_rgb)
        ref_mean, ref_peak = faceless_difference(source_rgb, reference_rgb)
        figures.update(faceless_mean=round(mean, 3), faceless_max=round(peak, 2),
                       reencode_mean=round(ref_mean, 3), reencode_max=round(ref_peak, 2))
        if mode == "lossy" and mean > ref_mean + NOISE_MARGIN:
            failures.append(f"face-less frames differ by {mean:.2f} levels on average (max {peak:.1f}); a plain re-encode "
                            f"by {ref_mean:.2f} (max {ref_peak:.1f})")
    if mode == "lossless":
        pix_fmt = stored_pix_fmt(source)
        src_planes, out_planes = planes(source, pix_fmt), planes(output, pix_fmt)
        unequal = [i for i in CUTAWAY if i >= len(out_planes) or src_planes[i] != out_planes[i]]
        figures["faceless_planes_equal"] = not unequal
        if unequal:
            failures.append(f"face-less frames {unequal} are not equal plane by plane in {pix_fmt} "
                            f"(output stored as {after['pix_fmt']})")
    return figures, failures


def measure_sound(expected, output, seconds: float | None = None) -> tuple[dict, list[str]]:
    """Power (summed over channels) and duration of ``output``'s sound against the sound of ``expected``."""
    src, out = read_sound(expected), read_sound(output)
    if out is None:
        return {"sound": None}, ["the output has no sound"]
    length = min(src[0].shape[1] / src[1], out[0].shape[1] / out[1])
    db_in, db_out = speech_power_db(expected, length), speech_power_db(output, length)
    offset = sound_offset(src, out)
    figures = {"power_db": (round(db_in, 2), round(db_out, 2)), "layout": (src[2], out[2]), "rate": (src[1], out[1]),
               "sound_s": (round(src[0].shape[1] / src[1], 4), round(out[0].shape[1] / out[1], 4)),
               "sound_offset_s": round(offset, 4)}
    failures = []
    if not abs(offset) <= SOUND_OFFSET_TOLERANCE:
        failures.append(f"the sound comes {offset * 1000:+.1f} ms against the source's")
    if abs(db_out - db_in) > POWER_TOLERANCE_DB:
        failures.append(f"sound power {db_out:.2f} dB, source {db_in:.2f} dB ({src[2]} -> {out[2]})")
    want = seconds if seconds is not None else src[0].shape[1] / src[1]
    got = out[0].shape[1] / out[1]
    if not want - 0.01 <= got <= want + 1024 / out[1] + 0.01:
        failures.append(f"sound lasts {got:.3f} s, expected {want:.3f} s")
    return figures, failures


def record(run: str, figures: dict, failures: list[str]) -> None:
    """Append the run's figures to ``$MEDIA_CORPUS_REPORT`` (when set) and fail with every failure."""
    path = os.environ.get("MEDIA_CORPUS_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"run": run, "ok": not failures, "failures": failures, **figures}, default=str) + "\n")
    assert not failures, f"{run}: " + "; ".join(failures)
