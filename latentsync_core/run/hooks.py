"""The hooks a job calls: progress, interrupt and the background step; the stage names of progress."""
from __future__ import annotations

from typing import Callable

import numpy as np

STAGE_ALIGN = "align"
STAGE_SAMPLE = "sample"
STAGE_WRITE = "write"

ProgressCallback = Callable[[str, int, int], None]
"""``on_progress(stage, done, total)``; see the module docstring."""
InterruptCheck = Callable[[], None]
"""``check_interrupt()``: raises to stop the job."""
Background = Callable[[np.ndarray], np.ndarray]
"""``background(frames)``: ``(n, H, W, 3)`` uint8 source frames -> ``(n, H', W', 3)`` uint8."""
