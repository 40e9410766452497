"""Command line: ``python -m latentsync_core lipsync|enhance ...``.

``lipsync`` makes the face in a video speak new audio with LatentSync 1.5/1.6 and
restores the mouth with GFPGAN and/or CodeFormer; ``enhance`` restores the mouth of
an already lip-synced video. Both run the streamed job of :mod:`latentsync_core.job`
(memory does not grow with the length of the video); this module only parses the
arguments into the job's options, finds (downloads on first use) and loads the
models, runs the job with progress bars and maps errors to exit codes.

Exit codes: 0 done; 1 unexpected error; 2 bad input (file, path or option);
3 a model file is missing; 4 an optional Python package is missing; 130
interrupted. Errors are one line on stderr (set ``LATENTSYNC_DEBUG=1`` for the
traceback of an unexpected one); the output path is only written on success.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import TYPE_CHECKING, Sequence

import torch

from . import job
from .errors import BadInputError, LatentSyncError, MissingDependencyError, MissingModelError
from .faces_cmd import FACES, add_faces_parser, run_faces
from .files.run_files import RunFiles, run_files
from .media.video_io import check_output_path, probe, read_windows
from .metrics.cli import (
    add_eval_flag, add_eval_parser, evaluate_files, format_speaker_sync, load_syncnet_model, print_report, run_eval,
)
from .run.host import RESTORER, FolderHost, LipSyncDtypes, landmark_backend, lipsync_dtypes, model_dtype
from .run.options import ENHANCE, LIPSYNC, TABLE, cli_values
from .run.options import job_options as options_of

if TYPE_CHECKING:
    from .restorers import FaceRestorer
    from .upscalers import FrameUpscaler

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_MISSING_MODEL = 3
EXIT_MISSING_DEPENDENCY = 4
EXIT_INTERRUPTED = 130

EXIT_CODES = "Exit codes: 0 done, 1 unexpected error, 2 bad input, 3 missing model file, 4 missing Python package."


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and the bad-input exit code."""

    def error(self, message: str) -> None:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m latentsync_core", description="LatentSync command line tools.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_lipsync(commands)
    _add_enhance(commands)
    add_eval_parser(commands)
    add_faces_parser(commands)
    return parser


def _add_lipsync(commands: argparse._SubParsersAction) -> None:
    """The ``lipsync`` subcommand; its options come from the table of :mod:`latentsync_core.run.options`."""
    p = commands.add_parser(
        LIPSYNC,
        help="lip-sync a video to new speech with LatentSync 1.5/1.6 and restore the mouth (streaming)",
        description=(
            "Make the face in a video speak new audio with LatentSync, restore the generated mouth with GFPGAN "
            "and/or CodeFormer and paste it back; frames without a face are left as they are. The output keeps "
            "the video's frame rate; its sound is the new speech, fitted to the output length. Missing model "
            "files are downloaded into --models-dir on first use (with --offline or HF_HUB_OFFLINE=1 the run "
            f"stops and names each missing file, its folder and URL). {EXIT_CODES}"
        ),
    )
    p.add_argument("--video", required=True, help="source video with a face (mp4, mov, mkv, ...)")
    p.add_argument("--audio", help="speech: wav, mp3, m4a, flac, or a video whose sound track is used (or --speaker)")
    p.add_argument("--speaker", nargs=2, action="append", metavar=("FACE", "SPEECH"),
                   help="several speakers, each face to its own speech (repeat for each, instead of --audio): FACE is "
                        "a picture of their face or FRAME:INDEX (the INDEX-th face from the left, from 0, in frame "
                        "FRAME, from 0; python -m latentsync_core faces VIDEO lists them); SPEECH is their track")
    p.add_argument("--mix", metavar="FILE", help="with --speaker: the sound to write (default: the speakers' tracks mixed)")
    p.add_argument("--output", required=True, help="video to write (.mp4, .m4v, .mov or .mkv); replaced only on success")
    _add_options(p, LIPSYNC)
    _add_run_options(p, "the LatentSync UNet, Whisper and VAE in latentsync/ and vae/, restorers in facerestore_models/")


def _add_enhance(commands: argparse._SubParsersAction) -> None:
    """The ``enhance`` subcommand; its options come from the table of :mod:`latentsync_core.run.options`."""
    p = commands.add_parser(
        ENHANCE,
        help="restore the mouth region of a (lip-synced) video with GFPGAN/CodeFormer (streaming)",
        description=(
            "Restore the mouth of the face in every frame with GFPGAN and/or CodeFormer and blend it back; audio "
            "is copied, the frame rate kept. Missing restorer files are downloaded on first use (not with "
            f"--offline or HF_HUB_OFFLINE=1). {EXIT_CODES}"
        ),
    )
    p.add_argument("--input", required=True, help="source video (mp4, mov, mkv, ...)")
    p.add_argument("--output", required=True, help="video to write (.mp4, .m4v, .mov or .mkv); replaced only on success")
    _add_options(p, ENHANCE)
    _add_run_options(p, "restorers in facerestore_models/ (or the folder itself)")


def _add_options(p: argparse.ArgumentParser, command: str) -> None:
    """The table's options that ``command`` takes, in the table's order."""
    for option in TABLE:
        form = option.cli
        if form is None or command not in form.commands:
            continue
        text = form.help or option.help
        if text[1:2].islower():  # argparse's style: "mouth restorer: ...", but "DDIM steps ...", "CodeFormer's ..."
            text = text[0].lower() + text[1:]
        if form.show_default:
            text += " (default %(default)s)"
        if option.type is bool:
            p.add_argument(*form.flags, action="store_true", help=text)
            continue
        bare = {"nargs": "?", "const": form.const} if form.const is not None else {}
        p.add_argument(*form.flags, type=option.type, choices=option.choices, default=option.default,
                       metavar=form.metavar, help=text, **bare)


def _add_run_options(p: argparse.ArgumentParser, layout: str) -> None:
    """Where the models are and where the run happens (the host's settings, not the job's)."""
    p.add_argument("--models-dir", "--models_dir", dest="models_dir", default=None,
                   help=f"models folder in ComfyUI's layout ({layout}; upscalers in upscale_models/); a ComfyUI models "
                        "folder works as is; missing official files are downloaded into it (default: ./models)")
    p.add_argument("--offline", action="store_true", help="never download: a missing model stops the run (also HF_HUB_OFFLINE=1)")
    p.add_argument("--bg_upscale", default=None, metavar="MODEL",
                   help="upscale every frame with this upscaler before the face is pasted: RealESRGAN x2/x4 or any spandrel "
                        "upscaler, as a file path, a name in <models>/upscale_models, or RealESRGAN_x2plus.pth / "
                        "RealESRGAN_x4plus.pth to download; the output is that many times larger")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu, cuda or cuda:1 (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary line")
    add_eval_flag(p)


def job_options(args: argparse.Namespace) -> job.JobOptions:
    """The job options of the parsed arguments, validated (errors name the ``--option``)."""
    options = options_of(cli_values(args))
    options.validate(prefix="--")
    return options


def _device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise BadInputError(f"--device '{name}' is not a torch device; use cpu or cuda.") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadInputError(f"--device {name}: CUDA is not available here; use --device cpu.")
    return device


def _host(args: argparse.Namespace) -> FolderHost:
    """The command line's host: ``--models-dir``, ``--offline``, the checked ``--device``, ``--quiet``."""
    return FolderHost(args.models_dir, not args.offline, _device(args.device), args.quiet)


def _aligner(args: argparse.Namespace, host: FolderHost, resolution: int):
    """A :class:`FaceAligner` on the chosen backend with the landmark cache and the human-face gate; close its
    ``backend`` when done."""
    from .face.aligner import FaceAligner
    from .face.human_gate import HumanFaceGate
    from .face.landmark_cache import open_cache

    cache = open_cache(args.landmark_cache, max_bytes=int(args.landmark_cache_max * 1024**3))
    return FaceAligner(
        landmark_backend(host, args.backend), resolution=resolution, cache=cache,
        human_gate=HumanFaceGate(allow_stylised=args.allow_stylised),
    )


def load_restorers(files: RunFiles, host: FolderHost) -> list[FaceRestorer]:
    """The GFPGAN / CodeFormer networks of ``files``, in the order they are applied."""
    from .restorers import load_face_restorer

    dtype = model_dtype(host, RESTORER)
    return [load_face_restorer(p, device=host.device, dtype=dtype) for p in files.restorers]


def load_background(files: RunFiles, device: torch.device) -> FrameUpscaler | None:
    """The ``--bg_upscale`` upscaler, the job's background step (None without one)."""
    if files.upscaler is None:
        return None
    from .upscalers import load_upscaler

    return load_upscaler(files.upscaler, device=device, dtype=torch.float16 if device.type == "cuda" else torch.float32)


def load_lipsync_models(files: RunFiles, version: str, device: torch.device, dtypes: LipSyncDtypes) -> tuple[job.LipSyncModels, int]:
    """The LatentSync models of ``files`` on ``device`` in ``dtypes`` and the face resolution of their version."""
    from .files.model_files import ModelPaths
    from .lipsync.models import load_models
    from .lipsync.vae import load_vae

    loaded = load_models(ModelPaths(files.unet, files.whisper, files.vae), version, device=device, dtype=dtypes.unet,
                         whisper_dtype=dtypes.whisper)
    vae = load_vae(files.vae, device=device, dtype=dtypes.vae)
    return job.LipSyncModels(loaded.unet, vae, loaded.whisper, device, dtypes.unet), loaded.config.resolution


class Progress:
    """tqdm bars for the job's ``on_progress(stage, done, total)``: one per stage, on stderr."""

    BARS = {job.STAGE_ALIGN: ("align", "frame"), job.STAGE_SAMPLE: ("sample", "step"), job.STAGE_WRITE: (None, "frame")}

    def __init__(self, command: str, quiet: bool) -> None:
        self.command = command
        self.quiet = quiet
        self.bars: dict = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        bar = self.bars.get(stage)
        if bar is None:
            from tqdm import tqdm

            desc, unit = self.BARS.get(stage, (stage, "it"))
            bar = self.bars[stage] = tqdm(
                total=total or None, desc=desc or self.command, unit=unit, file=sys.stderr, dynamic_ncols=True,
                position=len(self.bars), leave=stage == job.STAGE_WRITE,
            )
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        for bar in self.bars.values():
            bar.close()


def lipsync(args: argparse.Namespace) -> job.JobResult:
    """Run ``lipsync``: check the inputs, find (download) and load the models, run :class:`job.LipSyncJob`
    (:class:`job.SpeakersJob` with ``--speaker``)."""
    from .media.audio_io import read_audio

    if bool(args.audio) == bool(args.speaker):
        raise BadInputError("Give either --audio (one speaker) or one --speaker FACE SPEECH per speaker, not both.")
    if args.mix and not args.speaker:
        raise BadInputError("--mix goes with --speaker; with --audio the speech is the sound written.")
    if args.speaker:
        return lipsync_speakers(args)
    options = job_options(args)
    source = job.open_source(args.video)
    check_output_path(args.output, args.video)
    speech = read_audio(args.audio)
    host = _host(args)
    dtypes = lipsync_dtypes(host, args.dtype)
    files = run_files(host, args.version, args.superres, args.bg_upscale)
    models, resolution = load_lipsync_models(files, args.version, host.device, dtypes)
    restorers = load_restorers(files, host)
    aligner = _aligner(args, host, resolution)
    with contextlib.closing(aligner.backend), Progress("lipsync", args.quiet) as progress:
        run = job.LipSyncJob(
            source, speech.waveform, speech.sample_rate, models, aligner, options, restorers,
            load_background(files, host.device), on_progress=progress,
        )
        run.prepare()
        if not run.alignment.has_face.any():
            raise BadInputError(
                f"No face was found in any frame of '{args.video}'. Use a video where a face is visible "
                "(front or three-quarter view), or try --backend insightface."
            )
        result = run.write(args.output)
    if not args.quiet:
        restored = f", {result.restored} mouths restored" if restorers else ""
        print(f"wrote {result.path}: {result.frames} frames at {float(result.fps):g} fps, {result.faces} lip-synced"
              f"{restored}, {result.audio_seconds:.2f} s of speech", file=sys.stderr)
    if args.eval:  # the new sound track is the speech; an upscaled output has no same-size source to compare
        source = None if args.bg_upscale else args.video
        print_report(evaluate_files(args, result.path, source=source, audio=None, device=host.device), args.json)
    return result


def lipsync_speakers(args: argparse.Namespace) -> job.JobResult:
    """``lipsync --speaker FACE SPEECH ...``: every speaker's face to their own speech (:class:`job.SpeakersJob`)."""
    from .face.identity import FaceDescriber, parse_reference
    from .media.audio_io import read_audio

    options = job_options(args)
    source = job.open_source(args.video)
    check_output_path(args.output, args.video)
    speakers = []
    for face, speech_path in args.speaker:
        speech = read_audio(speech_path)
        speakers.append(job.Speaker(parse_reference(face), speech.waveform, speech.sample_rate))
    mix = read_audio(args.mix) if args.mix else None
    host = _host(args)
    dtypes = lipsync_dtypes(host, args.dtype)
    files = run_files(host, args.version, args.superres, args.bg_upscale)
    models, resolution = load_lipsync_models(files, args.version, host.device, dtypes)
    restorers = load_restorers(files, host)
    aligner = _aligner(args, host, resolution)
    with contextlib.closing(aligner.backend), Progress("lipsync", args.quiet) as progress:
        run = job.SpeakersJob(
            source, speakers, models, aligner, options, job.Recognition(FaceDescriber()), mix, restorers,
            load_background(files, host.device), on_progress=progress,
        )
        result = run.write(args.output)
    if not args.quiet:
        restored = f", {result.restored} mouths restored" if restorers else ""
        print(f"wrote {result.path}: {result.frames} frames at {float(result.fps):g} fps, {len(speakers)} speakers, "
              f"{result.faces} faces lip-synced{restored}, {result.audio_seconds:.2f} s of speech", file=sys.stderr)
    if args.eval:
        source = None if args.bg_upscale else args.video
        print_report(evaluate_files(args, result.path, source=source, audio=None, device=host.device), args.json)
        if not args.no_sync:  # each speaker's face against their own track
            model = load_syncnet_model(args, host.device)
            again = lambda: (w.frames for w in read_windows(probe(result.path), options.window))  # noqa: E731
            for k, (sync, note) in enumerate(run.speaker_sync(model, again, host.device)):
                print(format_speaker_sync(k, sync, note))
    return result


def enhance(args: argparse.Namespace) -> job.JobResult:
    """Run ``enhance``: check the inputs, find (download) and load the restorers, run :class:`job.EnhanceJob`."""
    options = job_options(args)
    source = job.open_source(args.input)
    check_output_path(args.output, args.input)
    host = _host(args)
    files = run_files(host, None, args.superres, args.bg_upscale)
    nets = load_restorers(files, host)
    aligner = _aligner(args, host, args.resolution)
    with contextlib.closing(aligner.backend), Progress("enhance", args.quiet) as progress:
        run = job.EnhanceJob(source, aligner, options, nets, load_background(files, host.device), on_progress=progress)
        result = run.write(args.output)
    if not args.quiet:
        restored = f", {result.restored} mouths restored" if nets else ""
        print(f"wrote {result.path}: {result.frames} frames, {result.faces} with a face{restored}", file=sys.stderr)
    if args.eval:
        source = None if args.bg_upscale else args.input
        print_report(evaluate_files(args, result.path, source=source, audio=None, device=host.device), args.json)
    return result


def evaluate(args: argparse.Namespace) -> None:
    """Run ``eval`` (see :mod:`latentsync_core.metrics.cli`) on the checked ``--device``."""
    run_eval(args, _device(args.device))


COMMANDS = {"lipsync": lipsync, "enhance": enhance, "eval": evaluate, FACES: run_faces}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already printed
        return int(stop.code or 0)
    prog = f"latentsync {args.command}"
    for library in ("diffusers", "transformers"):  # a normal run is quiet: progress bars and one summary line
        logging.getLogger(library).setLevel(logging.ERROR)
    try:
        COMMANDS[args.command](args)
    except MissingModelError as exc:
        print(f"{prog}: missing model: {_one_line(exc)}", file=sys.stderr)
        return EXIT_MISSING_MODEL
    except MissingDependencyError as exc:
        print(f"{prog}: missing package: {_one_line(exc)}", file=sys.stderr)
        return EXIT_MISSING_DEPENDENCY
    except BadInputError as exc:
        print(f"{prog}: bad input: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except LatentSyncError as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; no output written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the command line reports every failure as one line
        if os.environ.get("LATENTSYNC_DEBUG"):
            raise
        print(f"{prog}: error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
