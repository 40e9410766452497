"""Every option a user can set, defined once: the command line, the nodes and :class:`JobOptions` read it from here.

Each :class:`Option` holds the name (the :class:`JobOptions` / :class:`SamplerSettings` field it sets, when it
sets one), type, default, valid range or choices and one help text, plus its form on each front-end that shows
it: :class:`CliForm` (flags, metavar, a bare-flag value, which subcommands) and :class:`NodeForm` (input name,
widget, slider range, which nodes, how a widget value becomes the option's value). ``cli.build_parser`` and
``nodes/widgets.py`` build the argparse arguments and the widgets from these descriptors, so a default, a
range or a help text changes in one line. ``tests/test_options.py`` compares all three with the table.

The sampler's and face aligner's defaults live with them (``lipsync/`` and ``face/`` never import ``run/``);
the table reads them from there.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping

import torch

from ..errors import BadInputError
from ..face.aligner import SELECTION_MODES, FaceAligner
from ..face.colour import COLOUR_MODES
from ..face.geometry import SUPPORTED_RESOLUTIONS
from ..face.landmark_cache import DEFAULT_MAX_BYTES
from ..face.landmarks import BACKENDS
from ..face.mouth_roi import crop_mouth
from ..face.paste import PASTE_REGIONS
from ..files.model_files import VERSIONS
from ..files.run_files import SUPERRES_CHOICES
from ..lipsync.audio import LENGTH_MODES, LengthMode
from ..lipsync.dtypes import DTYPES
from ..lipsync.settings import MAX_CHUNK, SamplerSettings

LIPSYNC, ENHANCE = "lipsync", "enhance"
"""The command line's subcommands that run a job."""
JOB, SAMPLER = "job", "sampler"
"""Where an option's value goes: a :class:`JobOptions` field or a :class:`SamplerSettings` field."""
INT, FLOAT, COMBO, BOOLEAN = "INT", "FLOAT", "COMBO", "BOOLEAN"
"""Widget kinds (ComfyUI's type names)."""

SAMPLER_NODE = "LatentSync_Sampler"
LIPSYNC_VIDEO_NODE = "LatentSync_LipSyncVideo"
FACE_ALIGN_NODE = "LatentSync_FaceAlignAffine"
MOUTH_ROI_NODE = "LatentSync_MouthROICrop"
PASTE_NODE = "LatentSync_ROIPasteBlend"
EMBEDS_NODE = "LatentSync_LoadWhisperEmbeds"
GFPGAN_NODE = "LatentSync_GFPGANRestore"
CODEFORMER_NODE = "LatentSync_CodeFormerRestore"
MODEL_LOADER_NODE = "LatentSync_ModelLoader"
RESTORE_NODES = (GFPGAN_NODE, CODEFORMER_NODE)

AUTO = "auto"
AUTO_VERSION = "auto (from folder)"
"""The model loader node's version choice that reads the version from the UNet's folder."""
DEEP_CACHE_INTERVAL = 3
"""LatentSync's DeepCache setting (``cache_interval=3, cache_branch_id=0``): ``--deepcache`` alone, the node's on."""
CUDA_BATCH_SIZE, CPU_BATCH_SIZE = 4, 1
"""Mouth crops per restorer call when ``batch_size`` is left to the run (None; 0 on the nodes)."""
SILENT_SPEAKER_MODES = ("closed_mouth", "untouched")
SILENCE_DBFS = -50.0
"""A chunk of a speaker's track whose RMS is below this (dB of full scale) is silent (``silent_speakers``)."""
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def _default_of(function: Callable, parameter: str) -> Any:
    """The default of ``parameter`` in ``function``'s signature (the core function keeps its own default)."""
    return inspect.signature(function).parameters[parameter].default


@dataclass(frozen=True)
class CliForm:
    """How the command line shows an option.

    Attributes:
        flags: option strings, the first one naming the ``argparse`` destination.
        commands: the subcommands that take it.
        metavar: argparse's metavar (None: argparse's own).
        const: the value of the flag given without one (``nargs="?"``); None: the flag needs a value.
        help: the command line's own text where its form differs from the others' (None: the option's).
        show_default: append "(default ...)" to the help.
    """

    flags: tuple[str, ...]
    commands: tuple[str, ...] = (LIPSYNC, ENHANCE)
    metavar: str | None = None
    const: Any = None
    help: str | None = None
    show_default: bool = True

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments."""
        return self.flags[0].lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class NodeForm:
    """How the nodes show an option (the same input name, widget and range on every node in ``nodes``).

    Attributes:
        name: the input's name (saved workflows carry it: never change it).
        nodes: ids of the nodes with this input.
        widget: the widget kind where it is not the option's own (e.g. an on/off for an interval).
        default, choices: the widget's own where its form differs (None: the option's).
        min, max, step: the slider's range where it is narrower than the valid range, or the valid range is open.
        to_option: widget value -> option value (None: the same).
        tooltip: the nodes' own text where their form differs (None: the option's help).
        optional: an input added after workflows were saved without it.
        control_after_generate: ComfyUI's randomise/increment control (seeds).
    """

    name: str
    nodes: tuple[str, ...]
    widget: str | None = None
    default: Any = None
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    to_option: Callable[[Any], Any] | None = None
    tooltip: str | None = None
    optional: bool = False
    control_after_generate: bool | None = None


@dataclass(frozen=True)
class Option:
    """One user-settable option.

    Attributes:
        name: the :class:`JobOptions` / :class:`SamplerSettings` field it sets (``target``), else its own name.
        type: ``int``, ``float``, ``str`` or ``bool``.
        default: the value when the user sets none (None: decided at run time, the help says how).
        help: one text for every front-end, without a final full stop.
        min, max: the valid range (None: open); checked by :meth:`check`.
        step: the slider step of a float.
        choices: the allowed values.
        target: ``"job"``, ``"sampler"`` or None (front-end only: model loading, face detection settings).
        cli, node: its form on the command line and on the nodes (None: not shown there).
    """

    name: str
    type: type
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple | None = None
    target: str | None = None
    cli: CliForm | None = None
    node: NodeForm | None = None

    def check(self, value: Any, prefix: str = "") -> None:
        """Raise :class:`BadInputError` naming ``prefix + name`` when ``value`` is out of range or not a choice."""
        if value is None:
            return
        rule = None
        if self.choices is not None and value not in self.choices:
            rule = f"must be one of {', '.join(map(str, self.choices))}"
        elif self.min is not None and self.max is not None and not self.min <= value <= self.max:
            rule = f"must be in {self.min}..{self.max}" if self.type is int else f"must be in [{self.min:g}, {self.max:g}]"
        elif self.min is not None and value < self.min:
            rule = f"must be at least {self.min}" if self.type is int else f"must be {self.min:g} or more"
        if rule:
            raise BadInputError(f"{prefix}{self.name} {rule}, got {value!r}.")

    # The widget, resolved from the node form and the option.

    @property
    def widget(self) -> str:
        """The node widget's kind."""
        if self.node.widget:
            return self.node.widget
        if self.choices is not None:
            return COMBO
        return {bool: BOOLEAN, int: INT, float: FLOAT}[self.type]

    @property
    def widget_default(self) -> Any:
        default = self.default if self.node.default is None else self.node.default
        return str(default) if self.widget == COMBO else default

    @property
    def widget_choices(self) -> list[str]:
        """A combo's options (as strings: ComfyUI's combos hold strings)."""
        return [str(c) for c in (self.node.choices or self.choices)]

    @property
    def widget_min(self) -> float | None:
        return self.min if self.node.min is None else self.node.min

    @property
    def widget_max(self) -> float | None:
        return self.max if self.node.max is None else self.node.max

    @property
    def widget_step(self) -> float | None:
        return self.step if self.node.step is None else self.node.step

    @property
    def tooltip(self) -> str:
        return f"{self.node.tooltip or self.help}."

    def from_widget(self, value: Any) -> Any:
        """The option's value of a widget value."""
        if self.node.to_option is not None:
            return self.node.to_option(value)
        return self.type(value) if self.widget == COMBO and self.type is not str else value


_SAMPLER = SamplerSettings()
_DEEP_CACHE_NODE_HELP = "Reuse deep UNet features on 2 of every 3 steps: faster, slightly different output"
_LENGTH_MODE_HELP = (
    "When audio and video lengths differ. pingpong: follow the audio, play the video forward then backward (as "
    "LatentSync does); loop: follow the audio, restart the video; trim: cut the longer one; pad_audio: follow the "
    "video, pad the audio with silence"
)

TABLE: tuple[Option, ...] = (
    # Order: the command line's --help order.
    Option("version", str, "1.5", "LatentSync version: 1.5 (256 px faces) or 1.6 (512 px faces: sharper, 4x the "
           "pixels to sample)", choices=VERSIONS,
           cli=CliForm(("--version",), (LIPSYNC,)),
           node=NodeForm("version", (MODEL_LOADER_NODE,), default=AUTO_VERSION, choices=(AUTO_VERSION, *VERSIONS),
                         tooltip="1.5 works on 256 px faces, 1.6 on 512 px. auto: read from the UNet's folder "
                         "(LatentSync-1.5 / LatentSync-1.6); a UNet stored elsewhere needs an explicit choice")),
    Option("superres", str, "GFPGAN", "Mouth restorer: GFPGAN, CodeFormer, both (GFPGAN then CodeFormer) or none",
           choices=SUPERRES_CHOICES, cli=CliForm(("--superres",))),
    Option("sr_ratio", float, 1.0, "Restore a mouth only when its crop was enlarged more than this from the source "
           "(mouth side in source pixels x sr_ratio < crop side, 512): 1 restores every crop the source cannot fill, "
           "0 every face frame. The other frames are left exactly as they are", min=0.0, step=0.1, target=JOB,
           cli=CliForm(("--sr_ratio",)), node=NodeForm("sr_ratio", (LIPSYNC_VIDEO_NODE, *RESTORE_NODES), max=16.0)),
    Option("fidelity", float, 0.5, "CodeFormer's fidelity w: 0 = strongest restoration, 1 = closest to the input",
           min=0.0, max=1.0, step=0.05, target=JOB,
           cli=CliForm(("--fidelity",)), node=NodeForm("fidelity", (LIPSYNC_VIDEO_NODE, CODEFORMER_NODE))),
    Option("mask_smooth", float, 0.5, "Feather width of the pasted mouth and face: 0 is a hard edge, 1 the softest",
           min=0.0, max=1.0, step=0.05, target=JOB,
           cli=CliForm(("--mask_smooth",)), node=NodeForm("mask_smooth", (LIPSYNC_VIDEO_NODE, PASTE_NODE))),
    Option("steps", int, _SAMPLER.steps, "DDIM steps per chunk of frames; LatentSync uses 20", min=1, target=SAMPLER,
           cli=CliForm(("--inference_steps",), (LIPSYNC,)),
           node=NodeForm("steps", (SAMPLER_NODE, LIPSYNC_VIDEO_NODE), max=200)),
    Option("guidance_scale", float, _SAMPLER.guidance_scale, "Audio guidance scale: higher follows the audio more "
           "closely; 1 turns guidance off (faster), LatentSync uses 1.5", min=1.0, step=0.1, target=SAMPLER,
           cli=CliForm(("--guidance_scale",), (LIPSYNC,)),
           node=NodeForm("guidance", (SAMPLER_NODE, LIPSYNC_VIDEO_NODE), max=10.0)),
    Option("seed", int, _SAMPLER.seed, "Seed of the initial noise and VAE sampling; the same seed gives the same frames",
           min=0, max=0xFFFFFFFFFFFFFFFF, target=SAMPLER, cli=CliForm(("--seed",), (LIPSYNC,)),
           node=NodeForm("seed", (SAMPLER_NODE, LIPSYNC_VIDEO_NODE), control_after_generate=True)),
    Option("length_mode", str, "pingpong", _LENGTH_MODE_HELP, choices=LENGTH_MODES, target=JOB,
           cli=CliForm(("--length_mode",), (LIPSYNC,)),
           node=NodeForm("length_mode", (LIPSYNC_VIDEO_NODE, EMBEDS_NODE))),
    Option("silent_speakers", str, SILENT_SPEAKER_MODES[0], "With several speakers, a speaker whose track is silent "
           f"over a chunk of frames (RMS below {SILENCE_DBFS:g} dBFS): closed_mouth samples their face with that "
           "silence; untouched leaves their face as it is", choices=SILENT_SPEAKER_MODES, target=JOB,
           cli=CliForm(("--silent_speakers",), (LIPSYNC,)),
           node=NodeForm("silent_speakers", (LIPSYNC_VIDEO_NODE,), optional=True)),
    Option("deep_cache_interval", int, _SAMPLER.deep_cache_interval, _DEEP_CACHE_NODE_HELP, min=0, target=SAMPLER,
           cli=CliForm(("--deepcache", "--enable_deepcache"), (LIPSYNC,), metavar="N", const=DEEP_CACHE_INTERVAL,
                       show_default=False,
                       help="DeepCache: reuse the UNet's deep features on all but every N-th step (N = "
                       f"{DEEP_CACHE_INTERVAL} when given without a value): faster, slightly different frames; "
                       "off by default"),
           node=NodeForm("deepcache", (SAMPLER_NODE, LIPSYNC_VIDEO_NODE), widget=BOOLEAN, default=False,
                         to_option=lambda on: DEEP_CACHE_INTERVAL if on else 0)),
    Option("chunk_size", int, _SAMPLER.chunk_size, f"Frames denoised together (temporal attention), 1 to {MAX_CHUNK}; "
           "LatentSync uses 16", min=1, max=MAX_CHUNK, target=SAMPLER, cli=CliForm(("--chunk_size",), (LIPSYNC,)),
           node=NodeForm("chunk_size", (SAMPLER_NODE, LIPSYNC_VIDEO_NODE))),
    Option("dtype", str, AUTO, "Precision of the UNet: auto = fp16 on CUDA, fp32 on the CPU", choices=(AUTO, *DTYPES),
           cli=CliForm(("--dtype",), (LIPSYNC,)),
           node=NodeForm("dtype", (MODEL_LOADER_NODE,),
                         tooltip="Precision of the UNet. auto: ComfyUI's choice for the device (fp16 on most GPUs, "
                         "fp32 on CPU; fp8 flags give fp16/bf16). bf16 only on GPUs that run it natively (RTX 30xx / "
                         "A100 and newer), else fp16. The VAE and Whisper follow ComfyUI's choices")),
    Option("resolution", int, _default_of(FaceAligner, "resolution"), "Aligned face size: 256 for LatentSync 1.5, "
           "512 for 1.6", choices=SUPPORTED_RESOLUTIONS, cli=CliForm(("--resolution",), (ENHANCE,)),
           node=NodeForm("resolution", (FACE_ALIGN_NODE,))),
    Option("backend", str, BACKENDS[0], "Landmark detector. mediapipe: offline default (bundled). insightface: the "
           "detector LatentSync itself uses (buffalo_l ONNX files in models/insightface, non-commercial licence). "
           "face_alignment: needs the face-alignment package (fetches its own weights on first use)",
           choices=tuple(BACKENDS), cli=CliForm(("--backend",)),
           node=NodeForm("backend", (FACE_ALIGN_NODE, LIPSYNC_VIDEO_NODE))),
    Option("window", int, 32, "Source frames decoded and aligned at a time: the memory bound (720p: 32 is about "
           "0.1 GB)", min=1, target=JOB, cli=CliForm(("--window",)),
           node=NodeForm("window", (LIPSYNC_VIDEO_NODE,), max=1024)),
    Option("batch_size", int, None, f"Mouth crops per restorer call: {CUDA_BATCH_SIZE} on CUDA, {CPU_BATCH_SIZE} on "
           "the CPU unless set (each adds about 1 GB on the CPU); lower it if memory runs out", min=1, target=JOB,
           cli=CliForm(("--batch_size",), show_default=False),
           node=NodeForm("batch_size", (LIPSYNC_VIDEO_NODE, *RESTORE_NODES), default=0, min=0, max=64,
                         to_option=lambda n: n or None,
                         tooltip=f"Mouth crops per restorer call, 0 = auto: {CUDA_BATCH_SIZE} on CUDA, "
                         f"{CPU_BATCH_SIZE} on the CPU (each adds about 1 GB on the CPU); lower it if memory runs out")),
    Option("crf", int, 18, "H.264 quality of the written video, 1 .. 51 (18: visually lossless); 0 = lossless RGB "
           "(FFV1 in .mkv), frames kept bit for bit", min=0, max=51, target=JOB, cli=CliForm(("--crf",)),
           node=NodeForm("crf", (LIPSYNC_VIDEO_NODE,))),
    Option("preset", str, "medium", "H.264 speed preset: faster = bigger file", choices=X264_PRESETS, target=JOB,
           cli=CliForm(("--preset",))),
    Option("segment_seconds", float, 10.0, "Seconds of output per finished segment in the work folder beside the "
           "output, so a run that was killed or cancelled continues after its last segment when run again (at most "
           "this much sampling is redone); 0 = write in one go, no resume", min=0.0, target=JOB,
           cli=CliForm(("--segment_seconds",), commands=(LIPSYNC,), metavar="S")),
    Option("landmark_cache", str, None, "Keep the detected face landmarks on disk, so the same frames with the same "
           "detection settings skip detection next time", cli=CliForm(
               ("--landmark_cache",), show_default=False,
               help="folder of the face landmark cache (default $LATENTSYNC_LANDMARK_CACHE or "
               "~/.cache/comfyui-latentsync/landmarks); off = detect every time"),
           node=NodeForm("landmark_cache", (FACE_ALIGN_NODE, LIPSYNC_VIDEO_NODE), widget=BOOLEAN, default=True,
                         optional=True,
                         tooltip="Keep the detected landmarks on disk (ComfyUI/user/latentsync/landmark_cache; delete "
                         "the folder to clear it) so the same frames with the same detection settings skip detection "
                         "next time, even after a restart")),
    Option("landmark_cache_max", float, DEFAULT_MAX_BYTES / 1024**3, "Size cap of the landmark cache folder in GB; the "
           "least recently used entries are deleted past it", min=0.0,
           cli=CliForm(("--landmark_cache_max",), metavar="GB"),
           node=NodeForm("landmark_cache_max", (FACE_ALIGN_NODE, LIPSYNC_VIDEO_NODE), max=1024.0, step=0.5,
                         optional=True)),
    Option("allow_stylised", bool, False, "Also lip-sync faces that are not real human faces (cartoon, animated, 3D "
           "characters); by default only human faces are changed and every other frame passes untouched",
           cli=CliForm(("--allow_stylised",), show_default=False),
           node=NodeForm("allow_stylised", (FACE_ALIGN_NODE, LIPSYNC_VIDEO_NODE), optional=True)),
    # Shown on the nodes only (the command line uses the defaults).
    Option("colour_match", str, COLOUR_MODES[0], "Match a restored mouth's colours to the face around it: per-channel "
           "mean/std, full histogram, or none", choices=COLOUR_MODES, target=JOB,
           node=NodeForm("color_match", (LIPSYNC_VIDEO_NODE, PASTE_NODE))),
    Option("paste_region", str, PASTE_REGIONS[0], "auto: paste only the pixels that changed (keeps the rest of the face "
           "sharp). full_face: paste the whole aligned crop, as LatentSync does", choices=PASTE_REGIONS, target=JOB,
           node=NodeForm("region", (LIPSYNC_VIDEO_NODE, PASTE_NODE))),
    Option("roi_size", int, _default_of(crop_mouth, "target_size"), "Side of the mouth crops given to the restorers; "
           "512 for GFPGAN and CodeFormer", min=16, target=JOB,
           node=NodeForm("target_size", (MOUTH_ROI_NODE,), min=64, max=2048, step=64)),
    Option("margin", float, _default_of(crop_mouth, "margin"), "Border added around the lips on every side, as a "
           "fraction of the lip width", min=0.0, max=1.0, step=0.05, node=NodeForm("margin", (MOUTH_ROI_NODE,))),
    Option("face_selection", str, _default_of(FaceAligner, "selection"), "Which face to follow when there are several: "
           "the largest on each new shot, the face_index-th from the left, or the face chosen in the first frame, "
           "found again after cuts", choices=SELECTION_MODES, node=NodeForm("face_selection", (FACE_ALIGN_NODE,))),
    Option("face_index", int, _default_of(FaceAligner, "face_index"), "For face_selection=index: 0 is the leftmost "
           "face", min=0, node=NodeForm("face_index", (FACE_ALIGN_NODE,), max=16)),
    Option("smoothing", float, _default_of(FaceAligner, "smoothing"), "Weight of the previous frame in the moving "
           "average of the face position (LatentSync uses 0.2). Higher is steadier but lags fast motion", min=0.0,
           max=0.95, step=0.05, node=NodeForm("smoothing", (FACE_ALIGN_NODE,))),
    Option("max_gap", int, _default_of(FaceAligner, "max_gap"), "Longest run of frames with a missed detection, inside "
           "one shot, that is bridged by interpolating its neighbours", min=0,
           node=NodeForm("max_gap", (FACE_ALIGN_NODE,), max=30)),
    Option("strength", float, 1.0, "Blend of the restored crop over the original (1 = fully restored)", min=0.0,
           max=1.0, step=0.05, node=NodeForm("strength", RESTORE_NODES)),
)
OPTIONS: dict[str, Option] = {option.name: option for option in TABLE}
"""The table by option name."""
NODE_OPTIONS: dict[str, Option] = {option.node.name: option for option in TABLE if option.node}
"""The table by node input name."""

DEFAULT_SR_RATIO: float = OPTIONS["sr_ratio"].default
DEFAULT_FIDELITY: float = OPTIONS["fidelity"].default
DEFAULT_MASK_SMOOTH: float = OPTIONS["mask_smooth"].default
DEFAULT_WINDOW: int = OPTIONS["window"].default
DEFAULT_ROI_SIZE: int = OPTIONS["roi_size"].default
DEFAULT_CRF: int = OPTIONS["crf"].default
DEFAULT_PRESET: str = OPTIONS["preset"].default
DEFAULT_LENGTH_MODE: LengthMode = OPTIONS["length_mode"].default


@dataclass(frozen=True)
class JobOptions:
    """Every option of a job, with its default from :data:`TABLE` (field names are the table's option names).

    Attributes:
        sampler: steps, guidance scale, seed, chunk size, DeepCache (LatentSync's defaults).
        length_mode: how audio and video lengths are matched: ``pingpong``, ``loop``,
            ``trim`` or ``pad_audio`` (see :func:`latentsync_core.lipsync.audio.plan_length`).
        silent_speakers: several speakers: ``closed_mouth`` (a silent speaker's face is sampled with their
            silence) or ``untouched`` (left as it is) where their track is silent over a chunk.
        sr_ratio: restore a mouth only when its crop was enlarged more than this.
        fidelity: CodeFormer's fidelity weight.
        batch_size: mouth crops per restorer call; None: 4 on CUDA, 1 on the CPU.
        mask_smooth: feather of the pasted mouth and face, 0..1.
        paste_region: ``"auto"`` (only changed pixels) or ``"full_face"`` (as the reference).
        colour_match: colour matching of a restored mouth: ``mean_std``, ``histogram``, ``none``.
        roi_size: side of the mouth crops for the restorers.
        window: source frames decoded and aligned at a time.
        crf, preset: H.264 quality and speed of the output (``crf=0``: lossless RGB).
        segment_seconds: output seconds per resumable segment (0: no segments, no resume; see
            :mod:`latentsync_core.run.resume`).
    """

    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    length_mode: LengthMode = DEFAULT_LENGTH_MODE
    silent_speakers: str = OPTIONS["silent_speakers"].default
    sr_ratio: float = DEFAULT_SR_RATIO
    fidelity: float = DEFAULT_FIDELITY
    batch_size: int | None = OPTIONS["batch_size"].default
    mask_smooth: float = DEFAULT_MASK_SMOOTH
    paste_region: str = OPTIONS["paste_region"].default
    colour_match: str = OPTIONS["colour_match"].default
    roi_size: int = DEFAULT_ROI_SIZE
    window: int = DEFAULT_WINDOW
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    segment_seconds: float = OPTIONS["segment_seconds"].default

    def validate(self, prefix: str = "") -> None:
        """Raise :class:`BadInputError` naming the first bad option (as ``prefix + name``, e.g. ``--window``)."""
        for f in fields(self):
            if f.name != "sampler":
                OPTIONS[f.name].check(getattr(self, f.name), prefix)
        self.sampler.validate()


def job_options(values: Mapping[str, Any]) -> JobOptions:
    """The :class:`JobOptions` of ``values`` (option name -> value); options that set no job field are skipped."""
    def of(target: str) -> dict[str, Any]:
        return {name: value for name, value in values.items() if OPTIONS[name].target == target}

    return JobOptions(sampler=SamplerSettings(**of(SAMPLER)), **of(JOB))


def cli_values(args: Any) -> dict[str, Any]:
    """Option name -> value of the parsed command-line arguments ``args`` (the options its subcommand has)."""
    return {o.name: getattr(args, o.cli.dest) for o in TABLE if o.cli and hasattr(args, o.cli.dest)}


def node_values(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Option name -> value of a node's widget values ``inputs`` (by input name; every name must be in the table)."""
    return {NODE_OPTIONS[name].name: NODE_OPTIONS[name].from_widget(value) for name, value in inputs.items()}


def restorer_batch_size(batch_size: int | None, device: torch.device | str) -> int:
    """``batch_size``, or when it is left to the run (None) the auto size for ``device``."""
    return batch_size or (CUDA_BATCH_SIZE if torch.device(device).type == "cuda" else CPU_BATCH_SIZE)
