"""Command line: ``python -m latentsync_core enhance --input in.mp4 --output out.mp4 ...``.

``enhance`` restores the mouth region of every face in a video with GFPGAN
and/or CodeFormer and blends it back, streaming: a window of frames is
decoded, aligned, restored, pasted back and encoded before the next is read,
so memory does not grow with the length of the video. Audio is copied.

Exit codes: 0 done; 1 unexpected error; 2 bad input (file, path or option);
3 a model file is missing; 4 an optional Python package is missing. Errors
are one line on stderr (set ``LATENTSYNC_DEBUG=1`` for the traceback of an
unexpected one); the output path is only written on success.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from .errors import BadInputError, LatentSyncError, MissingDependencyError, MissingModelError
from .media.video_io import VideoWriter, check_output_path, probe, read_windows

if TYPE_CHECKING:
    from .restorers import FaceRestorer

    from .face.mouth_roi import MouthROI

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_MISSING_MODEL = 3
EXIT_MISSING_DEPENDENCY = 4

SUPERRES_CHOICES = ("GFPGAN", "CodeFormer", "both", "none")
LANDMARK_BACKENDS = ("mediapipe", "insightface", "face_alignment")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")

#: Restores the mouth crops of a window: ``MouthROI -> MouthROI`` (same shapes).
Restorer = Callable[["MouthROI"], "MouthROI"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and the bad-input exit code."""

    def error(self, message: str) -> None:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m latentsync_core", description="LatentSync command line tools.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    enhance = commands.add_parser(
        "enhance",
        help="restore the mouth region of a video with GFPGAN/CodeFormer (streaming)",
        description=(
            "Restore the mouth of the face in every frame with GFPGAN and/or CodeFormer and blend it "
            "back; audio is copied, the frame rate kept. Exit codes: 0 done, 1 unexpected error, "
            "2 bad input, 3 missing model file, 4 missing Python package."
        ),
    )
    enhance.add_argument("--input", required=True, help="source video (mp4, mov, mkv, ...)")
    enhance.add_argument("--output", required=True, help="video to write (.mp4, .m4v, .mov or .mkv); replaced only on success")
    enhance.add_argument("--superres", choices=SUPERRES_CHOICES, default="GFPGAN", help="mouth restorer (default GFPGAN); none = align and paste only")
    enhance.add_argument(
        "--sr_ratio", type=float, default=2.0,
        help="restore a mouth crop only when it was enlarged more than this factor from the source "
             "(mouth side in source pixels x sr_ratio < 512); 0 restores every face frame (default 2)",
    )
    enhance.add_argument("--fidelity", type=float, default=0.5, help="CodeFormer fidelity, 0 (most restoration) .. 1 (closest to input); default 0.5")
    enhance.add_argument(
        "--batch_size", type=int, default=None,
        help="mouth crops per restorer call (default 4 on CUDA, 1 on CPU; each adds about 1 GB on CPU)",
    )
    enhance.add_argument("--mask_smooth", type=float, default=0.5, help="feathering of the pasted mouth, 0 (hard edge) .. 1 (default 0.5)")
    enhance.add_argument(
        "--models-dir", "--models_dir", dest="models_dir", default=None,
        help="folder holding the GFPGAN/CodeFormer files, or a ComfyUI models folder with a facerestore_models "
             "subfolder (default: ./models)",
    )
    enhance.add_argument("--resolution", type=int, choices=(256, 512), default=256, help="aligned face size: 256 (LatentSync 1.5) or 512 (1.6)")
    enhance.add_argument(
        "--backend", choices=LANDMARK_BACKENDS, default="mediapipe",
        help="face landmark detector: mediapipe (default, bundled), insightface (buffalo_l ONNX files in the models "
             "folder, non-commercial licence) or face_alignment (fetches its own weights on first use)",
    )
    enhance.add_argument("--window", type=int, default=32, help="frames decoded and processed at a time (memory bound; default 32)")
    enhance.add_argument("--device", default=None, help="torch device for the restorers, e.g. cpu or cuda (default: cuda when available)")
    enhance.add_argument("--crf", type=int, default=18, help="H.264 quality, 0 (lossless) .. 51 (default 18)")
    enhance.add_argument("--preset", choices=X264_PRESETS, default="medium", help="H.264 speed preset: faster = bigger file (default medium)")
    enhance.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def models_folder(models_dir: str | None) -> str:
    """The folder the restorer files are looked up in.

    ``models_dir`` itself, or its ``facerestore_models`` subfolder when it has
    one (so a ComfyUI ``models`` folder works as is); default ``./models``.
    """
    root = os.path.abspath(models_dir or "models")
    sub = os.path.join(root, "facerestore_models")
    return sub if os.path.isdir(sub) else root


def backend_options(name: str, models_dir: str | None, device: torch.device) -> dict:
    """Keyword options of landmark backend ``name`` (see :func:`latentsync_core.landmarks.get_backend`).

    ``insightface`` reads ``det_10g.onnx`` and ``2d106det.onnx`` from
    ``insightface/models/buffalo_l`` under the models folder (ComfyUI's layout)
    when that exists, else from the models folder itself; it never downloads.
    ``mediapipe`` (Tasks releases only) reads ``face_landmarker.task`` from its
    ``mediapipe`` subfolder, downloading it there on first use.
    """
    root = os.path.abspath(models_dir or "models")
    if name == "insightface":
        pack = os.path.join(root, "insightface", "models", "buffalo_l")
        return {"model_dir": pack if os.path.isdir(pack) else root, "device": str(device)}
    if name == "face_alignment":
        return {"device": device.type}
    return {"model_dir": os.path.join(root, "mediapipe")}


def _restorer_file(arch: str, folder: str) -> str:
    """Path of the first official ``arch`` file present in ``folder`` (newest release first).

    Raises:
        MissingModelError: none is there; names the preferred file, the folder and its URL.
    """
    from .restorers import RESTORER_FILES

    files = [f for f in RESTORER_FILES.values() if f.arch == arch]
    for f in files:
        path = os.path.join(folder, f.file_name)
        if os.path.isfile(path):
            return path
    raise MissingModelError(files[0].file_name, folder, files[0].url)


class MouthRestorer:
    """The restore step: GFPGAN and/or CodeFormer over the mouth crops that need it.

    A crop is restored when its mouth box spans fewer than ``target / sr_ratio``
    source pixels (see :func:`restorers.frames_needing_restore`); the others,
    and frames without a face, are left as they are. With several networks
    ("both": GFPGAN, then CodeFormer) each restores the previous one's output.

    Args:
        nets: loaded :class:`restorers.FaceRestorer` networks, applied in order.
        sr_ratio: upscale factor above which a crop is restored.
        fidelity: CodeFormer's ``w``, 0 (most restoration) .. 1 (closest to input).
        batch_size: crops per network call.
    """

    def __init__(self, nets: Sequence[FaceRestorer], sr_ratio: float, fidelity: float = 0.5, batch_size: int = 4) -> None:
        self.nets = nets
        self.sr_ratio = sr_ratio
        self.fidelity = fidelity
        self.batch_size = batch_size
        self.restored = 0

    def __call__(self, roi: MouthROI) -> MouthROI:
        from .restorers import frames_needing_restore, restore_selected

        mask = frames_needing_restore(roi.source_size, roi.target_size, self.sr_ratio, roi.valid)
        if not mask.any():
            return roi
        crops = roi.crops
        for net in self.nets:
            crops = restore_selected(crops, mask, functools.partial(net.restore, fidelity=self.fidelity), self.batch_size)
        self.restored += int(mask.sum())
        return roi.replace_crops(crops)


def load_restorer(
    superres: str,
    sr_ratio: float,
    models_dir: str | None,
    device: torch.device,
    fidelity: float = 0.5,
    batch_size: int | None = None,
) -> MouthRestorer | None:
    """The restore step for ``superres`` (GFPGAN, CodeFormer, both), or None for ``"none"``.

    Raises:
        MissingModelError: a restorer file is not in the models folder.
    """
    if superres == "none":
        return None
    from .restorers import default_dtype, load_face_restorer

    folder = models_folder(models_dir)
    archs = ["GFPGAN", "CodeFormer"] if superres == "both" else [superres]
    paths = [_restorer_file(arch, folder) for arch in archs]
    nets = [load_face_restorer(p, device=device, dtype=default_dtype(device)) for p in paths]
    return MouthRestorer(nets, sr_ratio, fidelity, batch_size or (4 if device.type == "cuda" else 1))


class WindowEnhancer:
    """Processes consecutive windows of one video: align -> mouth ROI -> restore -> paste.

    Alignment state (face tracking, smoothing) carries from one window to the
    next. With ``restore=None`` the faces are pasted back unchanged, which
    leaves the frames as they were (the whole path still runs).

    Args:
        aligner: a :class:`latentsync_core.face_align.FaceAligner`.
        restore: the restore step, or None.
        mask_smooth: feathering of the pasted ROI, 0..1.
        roi_size: side of the mouth crops given to ``restore``.
    """

    def __init__(self, aligner, restore: Restorer | None, mask_smooth: float, roi_size: int = 512) -> None:
        self.aligner = aligner
        self.restore = restore
        self.mask_smooth = mask_smooth
        self.roi_size = roi_size
        self.faces_seen = 0

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3)`` uint8 RGB -> the same, enhanced."""
        from .face.mouth_roi import crop_mouth
        from .face.paste import paste_back

        source = torch.from_numpy(frames).float().div_(255.0)
        aligned, alignment = self.aligner.align(source)
        self.faces_seen += int(alignment.has_face.sum())
        if not alignment.has_face.any():
            return frames
        roi = None
        if self.restore is not None:
            roi = self.restore(crop_mouth(aligned, alignment, self.roi_size))
        out = paste_back(source, aligned, alignment, roi=roi, mask_smooth=self.mask_smooth, inplace=True)
        return out.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).numpy()


def _check_options(args: argparse.Namespace) -> None:
    if args.window < 1:
        raise BadInputError(f"--window must be at least 1, got {args.window}.")
    if not 0.0 <= args.mask_smooth <= 1.0:
        raise BadInputError(f"--mask_smooth must be in [0, 1], got {args.mask_smooth}.")
    if not args.sr_ratio >= 0:
        raise BadInputError(f"--sr_ratio must be 0 or more, got {args.sr_ratio}.")
    if not 0.0 <= args.fidelity <= 1.0:
        raise BadInputError(f"--fidelity must be in [0, 1], got {args.fidelity}.")
    if args.batch_size is not None and args.batch_size < 1:
        raise BadInputError(f"--batch_size must be at least 1, got {args.batch_size}.")
    if not 0 <= args.crf <= 51:
        raise BadInputError(f"--crf must be in 0..51, got {args.crf}.")


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


def enhance(args: argparse.Namespace) -> None:
    """Run ``enhance``: validate, load models, then stream the video through :class:`WindowEnhancer`."""
    _check_options(args)
    info = probe(args.input)
    check_output_path(args.output, args.input)
    device = _device(args.device)
    restore = load_restorer(args.superres, args.sr_ratio, args.models_dir, device, args.fidelity, args.batch_size)

    from .face.face_align import FaceAligner
    from .face.landmarks import get_backend

    backend = get_backend(args.backend, **backend_options(args.backend, args.models_dir, device))
    enhancer = WindowEnhancer(FaceAligner(backend, resolution=args.resolution), restore, args.mask_smooth)
    from tqdm import tqdm

    with contextlib.closing(backend), VideoWriter(args.output, info, crf=args.crf, preset=args.preset) as writer, tqdm(
        total=info.estimated_frames(), unit="frame", desc="enhance", disable=args.quiet, file=sys.stderr, dynamic_ncols=True
    ) as bar:
        for window in read_windows(info, args.window):
            writer.write(enhancer(window.frames), window.pts)
            bar.update(len(window))
    if not args.quiet:
        restored = f", {restore.restored} mouths restored" if restore is not None else ""
        print(f"wrote {args.output}: {writer.frames_written} frames, {enhancer.faces_seen} with a face{restored}", file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already printed
        return int(stop.code or 0)
    prog = "latentsync enhance"
    try:
        enhance(args)
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
        return 130
    except Exception as exc:  # noqa: BLE001 - the command line reports every failure as one line
        if os.environ.get("LATENTSYNC_DEBUG"):
            raise
        print(f"{prog}: error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
