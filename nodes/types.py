"""Custom socket types that carry the pack's records between nodes."""
from comfy_api.latest import io

Alignment = io.Custom("LATENTSYNC_ALIGNMENT")
"""Value: :class:`latentsync_core.alignment.Alignment`."""

MouthROI = io.Custom("LATENTSYNC_MOUTH_ROI")
"""Value: :class:`latentsync_core.mouth_roi.MouthROI`."""

Whisper = io.Custom("LATENTSYNC_WHISPER")
"""Value: ``comfy.model_patcher.ModelPatcher`` around :class:`latentsync_core.whisper.WhisperAudioEncoder`."""

AudioEmbeds = io.Custom("LATENTSYNC_AUDIO_EMBEDS")
"""Value: :class:`latentsync_core.audio.AudioEmbeds`."""

CATEGORY = "LatentSync"
