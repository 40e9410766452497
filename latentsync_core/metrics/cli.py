"""``python -m latentsync_core eval``: the quality report of a video, and ``--eval`` for the other commands.

Registered by :mod:`latentsync_core.cli` (``add_eval_parser`` / ``run_eval``);
errors are the pack's one-line errors, mapped to exit codes there.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

import torch

from ..errors import BadInputError
from ..files.downloads import offline_mode
from ..media.video_io import probe, read_windows
from .evaluate import QualityEvaluator
from .pcm import read_pcm16k
from .report import QualityReport, format_table, to_json
from .speakers import SpeakerSpeech, score_speakers
from .syncnet import SYNCNET_FOLDER, load_syncnet, syncnet_path


def add_eval_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``eval`` and the ``--eval`` of other commands (which have ``--offline`` already)."""
    parser.add_argument("--json", default=None, help="also write the report as JSON to this file")
    parser.add_argument(
        "--syncnet", default=None,
        help=f"SyncNet weights (default: <models dir>/{SYNCNET_FOLDER}/syncnet_v2.model, downloaded when missing)",
    )
    parser.add_argument("--no-sync", "--no_sync", dest="no_sync", action="store_true",
                        help="skip the SyncNet lip-sync scores (image metrics only)")


def add_eval_flag(parser: argparse.ArgumentParser) -> None:
    """``--eval`` and the eval options, for a command that writes a video (``lipsync``, ``enhance``)."""
    parser.add_argument("--eval", action="store_true",
                        help="after writing, print the quality report of the output against the input (see eval)")
    add_eval_options(parser)


def add_eval_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``eval`` subcommand to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser(
        "eval",
        help="measure lip sync (LSE-C/LSE-D/offset), identity, mouth sharpness and flicker of a video",
        description=(
            "Quality report of a lip-synced or restored video: SyncNet lip-sync confidence/distance/offset "
            "against the speech, and with --source PSNR/SSIM outside the mouth, mouth sharpness and "
            "frame-to-frame mouth change against the original. Prints a table; --json writes the numbers."
        ),
    )
    parser.add_argument("--video", required=True, help="the video to measure (e.g. the lip-synced result)")
    parser.add_argument("--audio", default=None, help="speech to score the lips against (default: the video's own audio)")
    parser.add_argument("--source", default=None, help="the original video, frame i compared with frame i")
    parser.add_argument("--models-dir", "--models_dir", dest="models_dir", default=None,
                        help=f"models folder holding {SYNCNET_FOLDER}/syncnet_v2.model (default: ./models)")
    parser.add_argument("--device", default=None, help="torch device for SyncNet, e.g. cpu or cuda (default: cuda when available)")
    parser.add_argument("--window", type=int, default=32, help="frames decoded at a time (default 32)")
    parser.add_argument("--offline", action="store_true",
                        help="never download syncnet_v2.model: stop and say where to get it (also HF_HUB_OFFLINE=1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--speaker", nargs=2, action="append", metavar=("FACE", "SPEECH"),
                        help="several speakers (repeat, speaker 1 first): FACE a picture of their face or FRAME:INDEX "
                             "(as lipsync takes it), SPEECH their own speech; adds each one's lip sync, their face "
                             "against their own track")
    add_eval_options(parser)
    return parser


def _models_root(args: argparse.Namespace) -> str:
    return os.path.abspath(args.models_dir or "models")


def load_syncnet_model(args: argparse.Namespace, device: torch.device):
    """SyncNet from ``--syncnet`` or the models folder (downloaded unless offline), on ``device``."""
    path = args.syncnet or syncnet_path(_models_root(args), download=not (args.offline or offline_mode()))
    return load_syncnet(path, device)


def evaluate_files(
    args: argparse.Namespace, video: str, source: str | None, audio: str | None, device: torch.device,
    speakers: Sequence[SpeakerSpeech] = (),
) -> QualityReport:
    """Measure ``video`` (against ``source`` and the speech in ``audio`` or the video) with ``args``' options.

    ``args`` holds the options of :func:`add_eval_options` and ``models_dir``
    (``window`` and ``quiet`` when present); SyncNet runs on ``device``. With ``speakers`` the report
    also holds each one's lip sync (:func:`~.speakers.score_speakers`).
    """
    from tqdm import tqdm

    from ..face.aligner import FaceAligner
    from ..face.landmarks import get_backend
    from ..face.landmarks.mediapipe_tasks import MODEL_SUBFOLDER

    window = getattr(args, "window", 32)
    if window < 1:
        raise BadInputError(f"--window must be at least 1, got {window}.")
    info = probe(video)
    source_info = probe(source) if source else None
    if source_info is not None and (source_info.width, source_info.height) != (info.width, info.height):
        raise BadInputError(
            f"--source is {source_info.width}x{source_info.height} but the video is {info.width}x{info.height}; "
            "give the original the video was made from."
        )
    model, pcm, note = None, None, None
    if args.no_sync:
        note = "skipped (--no-sync)"
    elif audio is None and not info.has_audio:
        note = "the video has no audio track; give the speech with --audio"
    else:
        pcm = read_pcm16k(audio or video)
    if not args.no_sync and (pcm is not None or speakers):
        model = load_syncnet_model(args, device)

    backend = get_backend("mediapipe", model_dir=os.path.join(_models_root(args), MODEL_SUBFOLDER))
    aligner = FaceAligner(backend)
    evaluator = QualityEvaluator(float(info.fps), lambda frames: aligner.align(frames)[1])
    sources = (w.frames for w in read_windows(source_info, window)) if source_info is not None else iter(())
    quiet = getattr(args, "quiet", False)
    with contextlib.closing(backend):
        with tqdm(total=info.estimated_frames(), unit="frame", desc="eval", disable=quiet, file=sys.stderr, dynamic_ncols=True) as bar:
            for w in read_windows(info, window):
                evaluator.add(w.frames, next(sources, None))
                bar.update(len(w))
        sync, again = None, lambda: (w.frames for w in read_windows(info, window))
        if pcm is not None:
            sync, note = evaluator.score_sync(model, pcm, again, device)
        report = evaluator.report(sync, note)
        if speakers:  # each speaker's face, found as the several-speaker job finds it, against their own speech
            report.speakers = score_speakers(model, speakers, float(info.fps), again, backend, device, note)
    return report


def print_report(report: QualityReport, json_path: str | None) -> None:
    """The table on stdout; the JSON into ``json_path`` when given."""
    print(format_table(report))
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            f.write(to_json(report) + "\n")


def read_speakers(pairs: Sequence[Sequence[str]]) -> list[SpeakerSpeech]:
    """``--speaker FACE SPEECH`` pairs as :class:`SpeakerSpeech` (FACE a picture or ``FRAME:INDEX``, as ``lipsync`` takes it)."""
    from ..face.identity import parse_reference

    return [SpeakerSpeech(parse_reference(face), read_pcm16k(speech)) for face, speech in pairs]


def run_eval(args: argparse.Namespace, device: torch.device) -> None:
    """Run ``eval`` with SyncNet on ``device`` (the command line checks ``--device``)."""
    speakers = read_speakers(args.speaker or [])
    print_report(evaluate_files(args, args.video, args.source, args.audio, device, speakers), args.json)
