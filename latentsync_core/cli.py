"""Command line: ``python -m latentsync_core lipsync|enhance|batch|eval ...``.

``lipsync`` makes the face in a video speak new audio with LatentSync 1.5/1.6 and
restores the mouth with GFPGAN and/or CodeFormer; ``enhance`` restores the mouth of
an already lip-synced video; ``batch`` runs ``lipsync`` on every row of a jobs file
(:mod:`latentsync_core.batch`). They run the streamed job of :mod:`latentsync_core.job`
(memory does not grow with the length of the video); this module only parses the
arguments into the job's options, finds (downloads on first use) and loads the
models, runs the job with progress bars and maps errors to exit codes.

Exit codes: 0 done; 1 unexpected error (``batch``: a row failed); 2 bad input (file, path or option);
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
from .batch.engine import ENGINES
from .batch.jobs_file import ROW_OPTIONS
from .batch.ray_engine import add_ray_options, import_ray
from .errors import BadInputError, LatentSyncError, MissingDependencyError, MissingModelError
from .faces_cmd import FACES, add_faces_parser, run_faces
from .files.run_files import run_files
from .media.video_io import check_output_path, probe, read_windows
from .metrics.cli import (
    add_eval_flag, add_eval_parser, evaluate_files, load_syncnet_model, print_report, run_eval,
)
from .run.host import FolderHost, landmark_backend, lipsync_dtypes
from .run.lipsync_file import lip_sync_file
from .run.loading import face_aligner, load_background, load_lipsync_models, load_restorers
from .run.options import ENHANCE, LIPSYNC, TABLE, cli_values
from .run.output_record import RECORD_SUFFIX
from .run.options import job_options as options_of

if TYPE_CHECKING:
    from .batch.report import RowReport
    from .face.aligner import FaceAligner

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_MISSING_MODEL = 3
EXIT_MISSING_DEPENDENCY = 4
EXIT_INTERRUPTED = 130

LIPSYNC_LAYOUT = "the LatentSync UNet, Whisper and VAE in latentsync/ and vae/, restorers in facerestore_models/"
BATCH = "batch"
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
    _add_batch(commands)
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
    _add_run_options(p, LIPSYNC_LAYOUT)
    add_eval_flag(p)


def _add_batch(commands: argparse._SubParsersAction) -> None:
    """The ``batch`` subcommand: ``lipsync`` over the rows of a jobs file (the same options, as the rows' defaults)."""
    p = commands.add_parser(
        BATCH,
        help="lip-sync many (video, speech) pairs listed in a CSV or JSON Lines file, loading the models once",
        description=(
            "Run lipsync on every row of JOBS: a .csv (header row) or .jsonl file with the columns video, audio, "
            "optional output (default: <video>__<audio>.mp4 in --output-dir, .mkv with --crf 0) and optional "
            f"columns named like the options below ({', '.join(ROW_OPTIONS)}; inference_steps and deepcache "
            "too) that override them for that row. Every row is checked first; model files are found (downloaded) "
            "once and loaded once per version and precision. A row whose output is up to date (the record "
            f"<output>{RECORD_SUFFIX} names the same inputs, options and pack version) is skipped. A failing row "
            "never stops the others; the run ends with a table, a JSON report, and exit code 1 when a row failed. "
            f"{EXIT_CODES}"
        ),
    )
    p.add_argument("jobs", metavar="JOBS", help="the jobs file (.csv with a header row, or .jsonl)")
    p.add_argument("--output-dir", "--output_dir", dest="output_dir", required=True,
                   help="folder of the outputs (created if missing); a row's relative output path is under it")
    p.add_argument("--report", default=None, help="where the JSON report goes (default: OUTPUT_DIR/batch_report.json)")
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help="local: the rows one after another in this process; ray: on a Ray cluster (pip install ray)")
    p.add_argument("--ray-address", "--ray_address", dest="ray_address", default=None,
                   help="the Ray cluster to join with --engine ray (default: a local one)")
    add_ray_options(p)
    _add_options(p, LIPSYNC)
    _add_run_options(p, LIPSYNC_LAYOUT)


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
    add_eval_flag(p)


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


def _aligner(args: argparse.Namespace, host: FolderHost, resolution: int) -> FaceAligner:
    """A :class:`FaceAligner` on the chosen backend with the landmark cache and the human-face gate; close its
    ``backend`` when done."""
    return face_aligner(landmark_backend(host, args.backend), resolution, args.landmark_cache, args.landmark_cache_max,
                        args.allow_stylised)


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
        result = lip_sync_file(source, args.video, speech, args.output, models, aligner, options, restorers,
                               load_background(files, host.device), on_progress=progress)
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
        report = evaluate_files(args, result.path, source=source, audio=None, device=host.device)
        if not args.no_sync:  # each speaker's face against their own track, as the job found it
            model = load_syncnet_model(args, host.device)
            again = lambda: (w.frames for w in read_windows(probe(result.path), options.window))  # noqa: E731
            report.speakers = run.speaker_sync(model, again, host.device)
        print_report(report, args.json)
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


def batch(args: argparse.Namespace) -> list[RowReport]:
    """Run ``batch``: read and check every row, find (download) the model files once, run the rows on the engine,
    print the table and write the JSON report; :class:`LatentSyncError` at the end when a row failed."""
    from .batch.engine import run_batch
    from .batch.jobs_file import read_job_rows
    from .batch.plan import plan_rows
    from .batch.report import failed, print_table, write_report
    from .batch.runner import RunSettings, find_model_files

    job_options(args)  # the command line's values, checked once (errors name the --option)
    if args.engine == "ray":
        import_ray()  # installed? (before any row is checked or model file downloaded)
    rows = read_job_rows(args.jobs)
    if not rows:
        raise BadInputError(f"Jobs file '{args.jobs}' has no rows; write one row per (video, audio) pair.")
    try:
        os.makedirs(args.output_dir, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"Cannot create --output-dir '{args.output_dir}' ({exc.strerror or exc}).") from exc
    report_path = args.report or os.path.join(args.output_dir, "batch_report.json")
    settings = RunSettings(args.models_dir, not args.offline, str(_device(args.device)), args.bg_upscale, args.quiet)
    planned, bad = plan_rows(rows, cli_values(args), args.output_dir)
    if not args.quiet:
        for report in bad:
            print(f"row {report.row}: bad input: {report.error}", file=sys.stderr)
    files = find_model_files(planned, settings)
    reports = sorted(bad + run_batch(planned, settings, files, args.engine, args.ray_address,
                                     args.cpus_per_job), key=lambda r: r.row)
    write_report(reports, report_path)
    if not args.quiet:
        print_table(reports, sys.stdout)
    if failed(reports):
        raise LatentSyncError(f"{len(failed(reports))} of {len(reports)} rows failed (see the table, or {report_path}).")
    return reports


def evaluate(args: argparse.Namespace) -> None:
    """Run ``eval`` (see :mod:`latentsync_core.metrics.cli`) on the checked ``--device``."""
    run_eval(args, _device(args.device))


COMMANDS = {"lipsync": lipsync, "enhance": enhance, BATCH: batch, "eval": evaluate, FACES: run_faces}


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
        kept = "the rows finished are kept: run it again to go on" if args.command == BATCH else "no output written"
        print(f"{prog}: interrupted; {kept}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the command line reports every failure as one line
        if os.environ.get("LATENTSYNC_DEBUG"):
            raise
        print(f"{prog}: error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
