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
import dataclasses
import logging
import os
import sys
from typing import TYPE_CHECKING, Sequence

import torch

from . import job
from .errors import BadInputError, LatentSyncError, MissingDependencyError, MissingModelError
from .files.model_files import VERSIONS
from .files.run_files import SUPERRES_CHOICES, RunFiles, run_files
from .lipsync.audio import LENGTH_MODES
from .lipsync.dtypes import DTYPES
from .lipsync.settings import SamplerSettings
from .media.video_io import check_output_path
from .metrics.cli import add_eval_flag, add_eval_parser, evaluate_files, print_report, run_eval
from .run.host import RESTORER, FolderHost, LipSyncDtypes, landmark_backend, lipsync_dtypes, model_dtype

if TYPE_CHECKING:
    from .restorers import FaceRestorer
    from .restorers.upscaler import FrameUpscaler

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_MISSING_MODEL = 3
EXIT_MISSING_DEPENDENCY = 4
EXIT_INTERRUPTED = 130

DEFAULT_SUPERRES = "GFPGAN"
DEFAULT_VERSION = "1.5"
"""LatentSync version of ``lipsync`` (1.5: 256 px faces, runs on 8 GB cards; 1.6: 512 px)."""
LANDMARK_BACKENDS = ("mediapipe", "insightface", "face_alignment")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
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
    return parser


def _add_lipsync(commands: argparse._SubParsersAction) -> None:
    """The ``lipsync`` subcommand; every default comes from :class:`latentsync_core.job.JobOptions`."""
    sampler = SamplerSettings()
    p = commands.add_parser(
        "lipsync",
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
    p.add_argument("--audio", required=True, help="speech: wav, mp3, m4a, flac, or a video whose sound track is used")
    p.add_argument("--output", required=True, help="video to write (.mp4, .m4v, .mov or .mkv); replaced only on success")
    p.add_argument("--version", choices=VERSIONS, default=DEFAULT_VERSION,
                   help="LatentSync version: 1.5 (256 px faces) or 1.6 (512 px faces: sharper, 4x the pixels to sample); "
                        "default %(default)s")
    _add_restore_options(p)
    p.add_argument("--inference_steps", type=int, default=sampler.steps, help="DDIM steps per chunk of frames (default %(default)s)")
    p.add_argument("--guidance_scale", type=float, default=sampler.guidance_scale,
                   help="audio guidance: higher follows the audio more closely, 1 turns guidance off (default %(default)s)")
    p.add_argument("--seed", type=int, default=sampler.seed, help="random seed; the same seed gives the same frames (default %(default)s)")
    p.add_argument("--length_mode", choices=LENGTH_MODES, default=job.DEFAULT_LENGTH_MODE,
                   help="when audio and video lengths differ: pingpong (follow the audio, the video plays forward then "
                        "backward), loop (follow the audio, the video repeats), trim (cut the longer one), pad_audio "
                        "(follow the video, pad the speech with silence); default %(default)s")
    p.add_argument("--deepcache", "--enable_deepcache", dest="deepcache", type=int, nargs="?", const=3,
                   default=sampler.deep_cache_interval, metavar="N",
                   help="DeepCache: reuse the UNet's deep features on all but every N-th step (N = 3 when given without "
                        "a value): faster, slightly different frames; off by default")
    p.add_argument("--chunk_size", type=int, default=sampler.chunk_size, help="frames sampled together, 1..24 (default %(default)s)")
    p.add_argument("--dtype", choices=("auto", *DTYPES), default="auto", help="UNet precision: auto = fp16 on CUDA, fp32 on the CPU")
    _add_run_options(p, "the LatentSync UNet, Whisper and VAE in latentsync/ and vae/, restorers in facerestore_models/")


def _add_enhance(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "enhance",
        help="restore the mouth region of a (lip-synced) video with GFPGAN/CodeFormer (streaming)",
        description=(
            "Restore the mouth of the face in every frame with GFPGAN and/or CodeFormer and blend it back; audio "
            "is copied, the frame rate kept. Missing restorer files are downloaded on first use (not with "
            f"--offline or HF_HUB_OFFLINE=1). {EXIT_CODES}"
        ),
    )
    p.add_argument("--input", required=True, help="source video (mp4, mov, mkv, ...)")
    p.add_argument("--output", required=True, help="video to write (.mp4, .m4v, .mov or .mkv); replaced only on success")
    _add_restore_options(p)
    p.add_argument("--resolution", type=int, choices=(256, 512), default=256, help="aligned face size: 256 (LatentSync 1.5) or 512 (1.6)")
    _add_run_options(p, "restorers in facerestore_models/ (or the folder itself)")


def _add_restore_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--superres", choices=SUPERRES_CHOICES, default=DEFAULT_SUPERRES,
                   help="mouth restorer: GFPGAN, CodeFormer, both (GFPGAN then CodeFormer) or none; default %(default)s")
    p.add_argument("--sr_ratio", type=float, default=job.DEFAULT_SR_RATIO,
                   help="restore a mouth only when its crop was enlarged more than this from the source (mouth side in "
                        "source pixels x sr_ratio < 512); the other frames are left exactly as they are; 0 restores every "
                        "face frame (default %(default)s)")
    p.add_argument("--fidelity", type=float, default=job.DEFAULT_FIDELITY,
                   help="CodeFormer fidelity, 0 (most restoration) .. 1 (closest to input); default %(default)s")
    p.add_argument("--mask_smooth", type=float, default=job.DEFAULT_MASK_SMOOTH,
                   help="feathering of the pasted mouth, 0 (hard edge) .. 1 (default %(default)s)")


def _add_run_options(p: argparse.ArgumentParser, layout: str) -> None:
    p.add_argument("--models-dir", "--models_dir", dest="models_dir", default=None,
                   help=f"models folder in ComfyUI's layout ({layout}; upscalers in upscale_models/); a ComfyUI models "
                        "folder works as is; missing official files are downloaded into it (default: ./models)")
    p.add_argument("--offline", action="store_true", help="never download: a missing model stops the run (also HF_HUB_OFFLINE=1)")
    p.add_argument("--bg_upscale", default=None, metavar="MODEL",
                   help="upscale every frame with this upscaler before the face is pasted: RealESRGAN x2/x4 or any spandrel "
                        "upscaler, as a file path, a name in <models>/upscale_models, or RealESRGAN_x2plus.pth / "
                        "RealESRGAN_x4plus.pth to download; the output is that many times larger")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu, cuda or cuda:1 (default: cuda when available)")
    p.add_argument("--backend", choices=LANDMARK_BACKENDS, default="mediapipe",
                   help="face landmark detector: mediapipe (default, bundled), insightface (buffalo_l ONNX files in the models "
                        "folder, non-commercial licence) or face_alignment (fetches its own weights on first use)")
    p.add_argument("--window", type=int, default=job.DEFAULT_WINDOW,
                   help="source frames decoded and aligned at a time (the memory bound; default %(default)s)")
    p.add_argument("--batch_size", type=int, default=None,
                   help="mouth crops per restorer call (default 4 on CUDA, 1 on CPU; each adds about 1 GB on CPU)")
    p.add_argument("--crf", type=int, default=job.DEFAULT_CRF,
                   help="H.264 quality 1 .. 51; 0 = lossless RGB (FFV1 in .mkv), frames kept bit for bit (default %(default)s)")
    p.add_argument("--preset", choices=X264_PRESETS, default=job.DEFAULT_PRESET, help="H.264 speed preset: faster = bigger file (default %(default)s)")
    p.add_argument("--landmark_cache", default=None,
                   help="folder of the face landmark cache (default $LATENTSYNC_LANDMARK_CACHE or "
                        "~/.cache/comfyui-latentsync/landmarks); off = detect every time")
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary line")
    add_eval_flag(p)


def job_options(args: argparse.Namespace) -> job.JobOptions:
    """The job options of the parsed arguments (the names match), validated (errors name the ``--option``)."""
    options = job.JobOptions(
        sr_ratio=args.sr_ratio, fidelity=args.fidelity, batch_size=args.batch_size, mask_smooth=args.mask_smooth,
        window=args.window, crf=args.crf, preset=args.preset,
    )
    if args.command == "lipsync":
        sampler = SamplerSettings(
            steps=args.inference_steps, guidance_scale=args.guidance_scale, seed=args.seed, chunk_size=args.chunk_size,
            deep_cache_interval=args.deepcache,
        )
        options = dataclasses.replace(options, sampler=sampler, length_mode=args.length_mode)
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
    """A :class:`FaceAligner` on the chosen backend with the landmark cache; close its ``backend`` when done."""
    from .face.face_align import FaceAligner
    from .face.landmark_cache import open_cache

    return FaceAligner(landmark_backend(host, args.backend), resolution=resolution, cache=open_cache(args.landmark_cache))


def load_restorers(files: RunFiles, host: FolderHost) -> list[FaceRestorer]:
    """The GFPGAN / CodeFormer networks of ``files``, in the order they are applied."""
    from .restorers import load_face_restorer

    dtype = model_dtype(host, RESTORER)
    return [load_face_restorer(p, device=host.device, dtype=dtype) for p in files.restorers]


def load_background(files: RunFiles, device: torch.device) -> FrameUpscaler | None:
    """The ``--bg_upscale`` upscaler, the job's background step (None without one)."""
    if files.upscaler is None:
        return None
    from .restorers.upscaler import load_upscaler

    return load_upscaler(files.upscaler, device=device, dtype=torch.float16 if device.type == "cuda" else torch.float32)


def load_lipsync_models(files: RunFiles, version: str, device: torch.device, dtypes: LipSyncDtypes) -> tuple[job.LipSyncModels, int]:
    """The LatentSync models of ``files`` on ``device`` in ``dtypes`` and the face resolution of their version."""
    from .files.model_files import ModelPaths
    from .lipsync.model_loader import load_models
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
    """Run ``lipsync``: check the inputs, find (download) and load the models, run :class:`job.LipSyncJob`."""
    from .media.audio_io import read_audio

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


COMMANDS = {"lipsync": lipsync, "enhance": enhance, "eval": evaluate}


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
