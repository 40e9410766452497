"""ComfyUI node: the streamed lip-sync job for long videos (thin adapter over ``latentsync_core.job``).

The video is read from its file in windows, never as one IMAGE batch, and the result is
written to a file in ComfyUI's temp folder that the returned VIDEO points to, so memory does
not grow with the video's length. Options and their defaults are the job's
(:class:`latentsync_core.job.JobOptions`).
"""
from __future__ import annotations

import contextlib
import logging
import os
import uuid

import comfy.model_management as mm
import comfy.utils
import folder_paths
from comfy.model_patcher import ModelPatcher
from comfy_api.v0_0_2 import InputImpl, io
from typing_extensions import override

from ..latentsync_core.errors import BadInputError
from ..latentsync_core.face.colour import COLOUR_MODES
from ..latentsync_core.face.face_align import FaceAligner
from ..latentsync_core.face.landmarks import BACKENDS
from ..latentsync_core.face.paste import PASTE_REGIONS
from ..latentsync_core.job import JobOptions, LipSyncModels, lip_sync_video, open_source
from ..latentsync_core.lipsync.audio import LENGTH_MODES
from ..latentsync_core.lipsync.sampler import MAX_CHUNK, SamplerSettings
from ..latentsync_core.restorers import CODEFORMER, GFPGAN, restorer_activation_bytes
from ..latentsync_core.run.host import landmark_backend
from .face import landmark_cache_input
from .host import CONFIG_ATTACHMENT, ComfyHost, load_for_sampling, open_landmark_cache
from .sampler import DEEP_CACHE_INTERVAL
from .types import CATEGORY, FaceRestoreModelType, Model, Whisper

log = logging.getLogger(__name__)

DEFAULTS = JobOptions()
"""The job's defaults: the node's widgets start from them."""
OUTPUT_SUBFOLDER = "latentsync"
"""Folder under ComfyUI's temp folder the node's videos are written to (emptied when ComfyUI starts)."""


def _restorers(gfpgan, codeformer) -> list:
    """The connected face-restore models in the order they run (GFPGAN, then CodeFormer), checked and loaded."""
    chosen = []
    for socket, model, arch in (("gfpgan", gfpgan, GFPGAN), ("codeformer", codeformer, CODEFORMER)):
        if model is None:
            continue
        if model.restorer.arch != arch:
            raise BadInputError(f"The {socket} input got '{model.file_name}', a {model.restorer.arch} model; "
                                f"connect a {arch} model there.")
        chosen.append(model)
    return chosen


def _source(video, temp_dir: str):
    """A job source reading ``video`` in windows, and a temp copy to delete afterwards (or None).

    A VIDEO backed by a file (core Load Video) is read from that file. Anything else, a video in
    memory or trimmed/cropped by another node, is first written to a temp file by its own
    ``save_to`` (frames already held in memory by ComfyUI are read from there).
    """
    stream = video.get_stream_source() if isinstance(video, InputImpl.VideoFromFile) else None
    trim = video.get_active_trim_window() if hasattr(video, "get_active_trim_window") else (0.0, 0.0)
    if isinstance(stream, str) and not any(trim):
        source = open_source(stream)
        if (source.info.width, source.info.height) == tuple(video.get_dimensions()):
            return source, None
    copy = os.path.join(temp_dir, f"source_{uuid.uuid4().hex}.mp4")
    video.save_to(copy)
    return open_source(copy), copy


class LatentSync_LipSyncVideo(io.ComfyNode):
    @classmethod
    @override
    def define_schema(cls) -> io.Schema:
        sampler = DEFAULTS.sampler
        return io.Schema(
            node_id="LatentSync_LipSyncVideo",
            display_name="LatentSync Lip-Sync Video (long videos)",
            category=CATEGORY,
            description="The whole lip-sync in one node, streamed: reads the video in windows, aligns, samples, "
            "restores the mouth where needed and pastes it back, writing the result to a file. Memory does not "
            "grow with the video's length; connect Save Video (or Preview) to the output.",
            inputs=[
                io.Video.Input("video", tooltip="The video from core Load Video; it is read from its file in windows."),
                io.Audio.Input("audio", tooltip="The speech to lip-sync to (any sample rate, mono or stereo)."),
                Model.Input("model", tooltip="LatentSync UNet from LatentSync Model Loader (1.5: 256 px faces, 1.6: 512 px)."),
                Whisper.Input("whisper", tooltip="The Whisper encoder from LatentSync Model Loader."),
                io.Vae.Input("vae", tooltip="The SD 1.x VAE from LatentSync Model Loader (or core Load VAE)."),
                FaceRestoreModelType.Input("gfpgan", optional=True,
                                           tooltip="Optional GFPGAN model: restores mouths enlarged more than sr_ratio."),
                FaceRestoreModelType.Input("codeformer", optional=True,
                                           tooltip="Optional CodeFormer model (non-commercial licence); runs after GFPGAN."),
                io.Int.Input("steps", default=sampler.steps, min=1, max=200, tooltip="DDIM steps per chunk (LatentSync: 20)."),
                io.Float.Input("guidance", default=sampler.guidance_scale, min=1.0, max=10.0, step=0.1,
                               tooltip="Audio guidance scale; 1 disables guidance (faster), LatentSync uses 1.5."),
                io.Int.Input("seed", default=sampler.seed, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Seed of the initial noise and VAE sampling; same seed, same result."),
                io.Int.Input("chunk_size", default=sampler.chunk_size, min=1, max=MAX_CHUNK,
                             tooltip="Frames denoised together (temporal attention); at most 24, LatentSync uses 16."),
                io.Boolean.Input("deepcache", default=sampler.deep_cache_interval > 1,
                                 tooltip="Reuse deep UNet features on 2 of every 3 steps: faster, slightly different output."),
                io.Combo.Input("length_mode", options=list(LENGTH_MODES), default=DEFAULTS.length_mode,
                               tooltip="When audio and video lengths differ. pingpong: follow the audio, play the video "
                               "forward then backward; loop: follow the audio, restart the video; trim: cut the longer "
                               "one; pad_audio: follow the video, pad the audio with silence."),
                io.Float.Input("sr_ratio", default=DEFAULTS.sr_ratio, min=0.0, max=16.0, step=0.1,
                               tooltip="Restore a mouth only when its crop was enlarged more than this (source side x "
                               "ratio < 512); 0: every face frame. The other frames are left exactly as they are."),
                io.Float.Input("fidelity", default=DEFAULTS.fidelity, min=0.0, max=1.0, step=0.05,
                               tooltip="CodeFormer's w: 0 = strongest restoration, 1 = closest to the input."),
                io.Float.Input("mask_smooth", default=DEFAULTS.mask_smooth, min=0.0, max=1.0, step=0.05,
                               tooltip="Feather width of the pasted mouth and face: 0 is a hard edge, 1 the softest."),
                io.Combo.Input("color_match", options=list(COLOUR_MODES), default=DEFAULTS.colour_match,
                               tooltip="Match a restored mouth's colours to the face around it: mean/std, histogram or none."),
                io.Combo.Input("region", options=list(PASTE_REGIONS), default=DEFAULTS.paste_region,
                               tooltip="auto: paste only the pixels that changed (keeps the rest of the face sharp). "
                               "full_face: paste the whole aligned crop, as LatentSync does."),
                io.Combo.Input("backend", options=BACKENDS, default=BACKENDS[0],
                               tooltip="Landmark detector (see Face Align); insightface needs its models in models/insightface."),
                io.Int.Input("batch_size", default=4, min=1, max=64,
                             tooltip="Mouth crops per restorer call; lower it if memory runs out."),
                io.Int.Input("window", default=DEFAULTS.window, min=1, max=1024,
                             tooltip="Source frames decoded and aligned at a time: the memory bound (720p: 32 is about 0.1 GB)."),
                io.Int.Input("crf", default=DEFAULTS.crf, min=0, max=51,
                             tooltip="H.264 quality of the written video (0: lossless RGB, 18: visually lossless)."),
                landmark_cache_input(),
            ],
            outputs=[io.Video.Output(display_name="video",
                                     tooltip="The lip-synced video with the speech fitted to its length, written to "
                                     "ComfyUI's temp folder; connect Save Video to keep it.")],
        )

    @classmethod
    @override
    def execute(cls, video, audio, model, whisper, vae, steps, guidance, seed, chunk_size, deepcache, length_mode,
                sr_ratio, fidelity, mask_smooth, color_match, region, backend, batch_size, window, crf, gfpgan=None,
                codeformer=None, landmark_cache=True) -> io.NodeOutput:
        options = JobOptions(
            sampler=SamplerSettings(steps=steps, guidance_scale=guidance, seed=seed, chunk_size=chunk_size,
                                    deep_cache_interval=DEEP_CACHE_INTERVAL if deepcache else 0),
            length_mode=length_mode, sr_ratio=sr_ratio, fidelity=fidelity, mask_smooth=mask_smooth,
            colour_match=color_match, paste_region=region, batch_size=batch_size, window=window, crf=crf,
        )
        options.validate()
        restore_models = _restorers(gfpgan, codeformer)
        config = model.get_attachment(CONFIG_ATTACHMENT) if isinstance(model, ModelPatcher) else None
        if config is None:
            raise BadInputError("The model input is not a LatentSync model; connect LatentSync Model Loader's model output.")
        restore_memory = max((restorer_activation_bytes(r.restorer.arch, batch_size, next(r.restorer.net.parameters()).dtype, options.roi_size)
                              for r in restore_models), default=0)
        sampling = load_for_sampling(model, vae, config.resolution, chunk_size, guidance > 1.0,
                                     others=[whisper, *(r.patcher for r in restore_models)], other_memory=restore_memory)
        models = LipSyncModels(unet=sampling.unet, vae=sampling.vae, whisper=whisper.model, device=sampling.device,
                               dtype=sampling.dtype)
        landmarks = landmark_backend(ComfyHost(), backend)
        aligner = FaceAligner(landmarks, resolution=config.resolution, cache=open_landmark_cache(landmark_cache))

        temp_dir = os.path.join(folder_paths.get_temp_directory(), OUTPUT_SUBFOLDER)
        os.makedirs(temp_dir, exist_ok=True)
        output = os.path.join(temp_dir, f"lipsync_{uuid.uuid4().hex}.mp4")
        bar = comfy.utils.ProgressBar(1)
        source, copy = _source(video, temp_dir)
        try:
            with contextlib.closing(landmarks):
                result = lip_sync_video(
                    source, audio["waveform"][0], int(audio["sample_rate"]), output, models, aligner, options,
                    restorers=[r.restorer for r in restore_models],
                    on_progress=lambda stage, done, total: bar.update_absolute(done, max(total, done, 1)),
                    check_interrupt=mm.throw_exception_if_processing_interrupted,
                )
        finally:
            if copy is not None:
                os.remove(copy)
        log.info("LatentSync: %d frames (%d with a face, %d mouths restored) from %d source frames at %s fps",
                 result.frames, result.faces, result.restored, result.source_frames, result.fps)
        return io.NodeOutput(InputImpl.VideoFromFile(result.path))


NODES = [LatentSync_LipSyncVideo]
