"""Background upscalers (RealESRGAN x2/x4, ESRGAN, SwinIR, ...) over whole frames, through spandrel.

The frames are enlarged before the lip-synced face is pasted. Not a face restorer: the
networks of :mod:`latentsync_core.restorers` work on aligned face crops. Nothing here
imports ComfyUI.
"""
from .frame_upscaler import DEFAULT_TILE, FrameUpscaler, load_upscaler, upscaler_from_state_dict

__all__ = ["DEFAULT_TILE", "FrameUpscaler", "load_upscaler", "upscaler_from_state_dict"]
