"""Every option of a job, with its default (:class:`JobOptions`)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BadInputError
from ..face.colour import COLOUR_MODES
from ..face.paste import PASTE_REGIONS
from ..lipsync.audio import LENGTH_MODES, LengthMode
from ..lipsync.settings import SamplerSettings

DEFAULT_SR_RATIO = 1.0
"""Restore a mouth only when its crop was enlarged more than this (source side x ratio < crop side);
1: every crop the source cannot fill, 0: every face frame. The other frames are left alone."""
DEFAULT_FIDELITY = 0.5
"""CodeFormer's ``w``: 0 most restoration .. 1 closest to the input."""
DEFAULT_MASK_SMOOTH = 0.5
"""Feather of the pasted mouth and face, 0 (hard edge) .. 1."""
DEFAULT_WINDOW = 32
"""Source frames decoded and aligned at a time (the memory bound)."""
DEFAULT_ROI_SIZE = 512
"""Side of the mouth crops given to the restorers (GFPGAN and CodeFormer work at 512)."""
DEFAULT_CRF = 18
"""H.264 quality (0 lossless RGB .. 51)."""
DEFAULT_PRESET = "medium"
DEFAULT_LENGTH_MODE: LengthMode = "pingpong"


@dataclass(frozen=True)
class JobOptions:
    """Every option of a job, with its default (field names are the command line's option names).

    Attributes:
        sampler: steps, guidance scale, seed, chunk size, DeepCache (LatentSync's defaults).
        length_mode: how audio and video lengths are matched: ``pingpong``, ``loop``,
            ``trim`` or ``pad_audio`` (see :func:`latentsync_core.lipsync.audio.plan_length`).
        sr_ratio: restore a mouth only when its crop was enlarged more than this.
        fidelity: CodeFormer's fidelity weight.
        batch_size: mouth crops per restorer call; None: 4 on CUDA, 1 on the CPU.
        mask_smooth: feather of the pasted mouth and face, 0..1.
        paste_region: ``"auto"`` (only changed pixels) or ``"full_face"`` (as the reference).
        colour_match: colour matching of a restored mouth: ``mean_std``, ``histogram``, ``none``.
        roi_size: side of the mouth crops for the restorers.
        window: source frames decoded and aligned at a time.
        crf, preset: H.264 quality and speed of the output (``crf=0``: lossless RGB).
    """

    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    length_mode: LengthMode = DEFAULT_LENGTH_MODE
    sr_ratio: float = DEFAULT_SR_RATIO
    fidelity: float = DEFAULT_FIDELITY
    batch_size: int | None = None
    mask_smooth: float = DEFAULT_MASK_SMOOTH
    paste_region: str = "auto"
    colour_match: str = "mean_std"
    roi_size: int = DEFAULT_ROI_SIZE
    window: int = DEFAULT_WINDOW
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET

    def validate(self, prefix: str = "") -> None:
        """Raise :class:`BadInputError` naming the first bad option (as ``prefix + name``, e.g. ``--window``)."""
        checks = [
            ("window", self.window >= 1, "must be at least 1"),
            ("mask_smooth", 0.0 <= self.mask_smooth <= 1.0, "must be in [0, 1]"),
            ("sr_ratio", self.sr_ratio >= 0, "must be 0 or more"),
            ("fidelity", 0.0 <= self.fidelity <= 1.0, "must be in [0, 1]"),
            ("batch_size", self.batch_size is None or self.batch_size >= 1, "must be at least 1"),
            ("crf", 0 <= self.crf <= 51, "must be in 0..51"),
            ("roi_size", self.roi_size >= 16, "must be at least 16"),
            ("length_mode", self.length_mode in LENGTH_MODES, f"must be one of {', '.join(LENGTH_MODES)}"),
            ("paste_region", self.paste_region in PASTE_REGIONS, f"must be one of {', '.join(PASTE_REGIONS)}"),
            ("colour_match", self.colour_match in COLOUR_MODES, f"must be one of {', '.join(COLOUR_MODES)}"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise BadInputError(f"{prefix}{name} {rule}, got {getattr(self, name)!r}.")
        self.sampler.validate()
