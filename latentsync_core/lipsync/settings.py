"""The sampler's user-facing settings (no model code: cheap to import)."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import BadInputError

MAX_CHUNK = 24
"""Most frames per UNet call: the temporal attention's positional table has 24 entries."""
DEFAULT_CHUNK = 16
"""Frames per UNet call in LatentSync's inference (``num_frames`` of its configs)."""


@dataclass(frozen=True)
class SamplerSettings:
    """User-facing sampling parameters.

    Attributes:
        steps: DDIM steps per chunk (LatentSync: 20).
        guidance_scale: audio guidance; > 1 runs a zero-audio branch too (LatentSync: 1.5).
        seed: seed of the sampler's own ``torch.Generator``.
        chunk_size: frames per UNet call, 1..24 (LatentSync: 16).
        deep_cache_interval: DeepCache: reuse the UNet's deep features on all but
            every ``n``-th step of a chunk (LatentSync's option uses 3); 0 or 1 = off.
    """

    steps: int = 20
    guidance_scale: float = 1.5
    seed: int = 1247
    chunk_size: int = DEFAULT_CHUNK
    deep_cache_interval: int = 0

    def validate(self) -> None:
        """Raise ``BadInputError`` for values the sampler cannot run with."""
        if not 1 <= self.chunk_size <= MAX_CHUNK:
            raise BadInputError(
                f"Chunk size {self.chunk_size} is not supported: the LatentSync UNet attends over at most "
                f"{MAX_CHUNK} frames at once. Use a chunk size from 1 to {MAX_CHUNK} (LatentSync uses {DEFAULT_CHUNK})."
            )
        if self.steps < 1:
            raise BadInputError(f"Steps must be at least 1 (got {self.steps}); LatentSync uses 20.")
        if self.guidance_scale < 1.0:
            raise BadInputError(
                f"Guidance scale must be >= 1 (got {self.guidance_scale}); 1 turns guidance off, LatentSync uses 1.5."
            )
        if self.deep_cache_interval < 0:
            raise BadInputError(f"DeepCache interval must be >= 0 (got {self.deep_cache_interval}); 0 turns it off.")
