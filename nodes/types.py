"""Custom socket types that carry the pack's records between nodes."""
from comfy_api.v0_0_2 import io

Alignment = io.Custom("LATENTSYNC_ALIGNMENT")
"""Value: :class:`latentsync_core.face.alignment.Alignment`."""

MouthROI = io.Custom("LATENTSYNC_MOUTH_ROI")
"""Value: :class:`latentsync_core.face.mouth_roi.MouthROI`."""

Whisper = io.Custom("LATENTSYNC_WHISPER")
"""Value: ``comfy.model_patcher.ModelPatcher`` around :class:`latentsync_core.lipsync.whisper.WhisperAudioEncoder`."""

AudioEmbeds = io.Custom("LATENTSYNC_AUDIO_EMBEDS")
"""Value: :class:`latentsync_core.lipsync.audio.AudioEmbeds` (``embeddings`` [N, 50, 384], ``frame_map`` [N])."""

Model = io.Custom("LATENTSYNC_MODEL")
"""Value: ``comfy.model_patcher.ModelPatcher`` whose ``.model`` is a :class:`nodes.host.PatcherHost`
holding a :class:`latentsync_core.lipsync.unet.LatentSyncUNet` (a bare UNet module is wrapped on use)."""

FaceRestoreModel = io.Custom("LATENTSYNC_FACE_RESTORE_MODEL")
"""Value: :class:`nodes.restore.PatchedFaceRestorer` (a GFPGAN or CodeFormer restorer and its ModelPatcher)."""

CATEGORY = "LatentSync"

JobOptions = io.Custom("LATENTSYNC_JOB_OPTIONS")
"""Value: ``dict`` option name -> value, a jobs-file row's options (``LatentSync Job List`` -> the streaming node)."""
Speakers = io.Custom("LATENTSYNC_SPEAKERS")
"""Value: a list of :class:`latentsync_core.run.speakers_job.Speaker` (LatentSync Speaker nodes chained)."""
