"""The quality report: one record, printed as a text table or written as JSON."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from .image_quality import ImageQuality, Sharpness
from .sync_eval import SyncScores


@dataclass
class SyncResult:
    """SyncNet scores of the longest face track, with where it lies.

    Attributes:
        scores: LSE-C, LSE-D and offset.
        first_frame, last_frame: the track's first and last frame, in frames of the video.
    """

    scores: SyncScores
    first_frame: int
    last_frame: int


@dataclass
class SpeakerSync:
    """One speaker's lip-sync scores (their face against their own speech), or None with the reason in ``note``."""

    sync: SyncResult | None
    note: str | None = None


@dataclass
class QualityReport:
    """Everything ``eval`` measured.

    Attributes:
        frames, fps: length and rate of the video.
        sync: SyncNet scores, or None with the reason in ``sync_note``.
        image: identity, sharpness and stability (see :mod:`.image_quality`).
        speakers: with several speakers, each one's lip sync (speaker 1 first; :mod:`.speakers`).
    """

    frames: int
    fps: float
    sync: SyncResult | None
    sync_note: str | None
    image: ImageQuality
    speakers: list[SpeakerSync] = field(default_factory=list)


def _number(value: float | None, digits: int = 3) -> float | str | None:
    """JSON-safe number: ``inf`` becomes the string ``"inf"``."""
    if value is None:
        return None
    if math.isinf(value):
        return "inf"
    return round(float(value), digits)


def _sharpness(s: Sharpness | None) -> dict | None:
    return None if s is None else {"laplacian_variance": _number(s.laplacian_variance), "gradient_energy": _number(s.gradient_energy)}


def _sync(sync: SyncResult | None) -> dict | None:
    if sync is None:
        return None
    s = sync.scores
    return {
        "lse_c": _number(s.confidence, 4),
        "lse_d": _number(s.distance, 4),
        "av_offset_frames": s.offset,
        "windows": s.windows,
        "first_frame": sync.first_frame,
        "last_frame": sync.last_frame,
    }


def to_dict(report: QualityReport) -> dict:
    """The report as plain JSON-able values (``None`` for what was not measured)."""
    image = report.image
    sync = _sync(report.sync)
    out = {
        "frames": report.frames,
        "fps": _number(report.fps),
        "face_frames": image.face_frames,
        "sync": sync,
        "sync_note": report.sync_note,
        "identity_outside_mouth": None if image.psnr is None else {"psnr_db": _number(image.psnr), "ssim": _number(image.ssim, 4)},
        "mouth_sharpness": _sharpness(image.sharpness),
        "source_mouth_sharpness": _sharpness(image.source_sharpness),
        "mouth_change": _number(image.mouth_change),
        "source_mouth_change": _number(image.source_mouth_change),
        "stability_ratio": _number(image.stability_ratio),
    }
    if report.speakers:
        out["speakers"] = [
            {"speaker": k + 1, "sync": _sync(s.sync), "sync_note": s.note} for k, s in enumerate(report.speakers)
        ]
    return out


def to_json(report: QualityReport) -> str:
    return json.dumps(to_dict(report), indent=2)


def _cell(value: float | int | None, fmt: str = "{:.3f}") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return fmt.format(value)


def format_table(report: QualityReport) -> str:
    """A fixed-width text table: metric, value, source's value, how to read it."""
    image = report.image
    rows: list[tuple[str, str, str, str]] = []
    if report.sync is not None:
        s = report.sync.scores
        span = f"frames {report.sync.first_frame}-{report.sync.last_frame}, {s.windows} windows"
        rows += [
            ("LSE-C (sync confidence)", _cell(s.confidence), "", f"higher is better; {span}"),
            ("LSE-D (sync distance)", _cell(s.distance), "", "lower is better"),
            ("AV offset (frames at 25 fps)", str(s.offset), "", "0 = in sync; k > 0: audio k frames ahead"),
        ]
    else:
        rows.append(("lip sync (SyncNet)", "-", "", report.sync_note or "not measured"))
    if image.psnr is not None:
        rows += [
            ("PSNR outside mouth (dB)", _cell(image.psnr, "{:.2f}"), "", "vs source; inf = identical"),
            ("SSIM outside mouth", _cell(image.ssim, "{:.4f}"), "", "vs source; 1 = identical"),
        ]
    sharp, src = image.sharpness, image.source_sharpness
    rows += [
        ("mouth sharpness: Laplacian var", _cell(sharp and sharp.laplacian_variance, "{:.1f}"),
         _cell(src and src.laplacian_variance, "{:.1f}"), "higher = sharper"),
        ("mouth sharpness: gradient energy", _cell(sharp and sharp.gradient_energy, "{:.1f}"),
         _cell(src and src.gradient_energy, "{:.1f}"), "higher = sharper"),
        ("mouth change per frame (0-255)", _cell(image.mouth_change), _cell(image.source_mouth_change),
         f"ratio {_cell(image.stability_ratio, '{:.2f}')}; above 1 = more flicker than the source"),
    ]
    head = (f"quality report: {report.frames} frames at {report.fps:.2f} fps, "
            f"{image.face_frames} with a face")
    width = max(len(r[0]) for r in rows)
    lines = [head, f"{'metric'.ljust(width)}  {'value':>9}  {'source':>9}  note"]
    lines += [f"{name.ljust(width)}  {value:>9}  {source:>9}  {note}" for name, value, source, note in rows]
    lines += [format_speaker_sync(k, s) for k, s in enumerate(report.speakers)]
    return "\n".join(lines)


def format_speaker_sync(k: int, speaker: SpeakerSync) -> str:
    """One line of speaker ``k``'s lip-sync scores (their face against their own track), or why there are none."""
    if speaker.sync is None:
        return f"speaker {k + 1}: lip-sync not measured: {speaker.note}"
    s = speaker.sync.scores
    return (f"speaker {k + 1}: LSE-C {s.confidence:.3f}, LSE-D {s.distance:.3f}, offset {s.offset} "
            f"(frames {speaker.sync.first_frame}-{speaker.sync.last_frame}, their own track)")
