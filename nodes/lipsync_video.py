"""ComfyUI node: the streamed lip-sync job for long videos (thin adapter over ``latentsync_core.job``).

The video is read from its file in windows, never as one IMAGE batch, and the result is
written to a file in ComfyUI's temp folder that the returned VIDEO points to, so memory does
not grow with the video's length. The job's finished segments go to a work folder under ComfyUI's
output folder (:data:`WORK_FOLDER`; temp/ is emptied when ComfyUI starts), so queueing the same
graph again after a Cancel or a crash continues where it stopped. Its widgets come from the option table
(:mod:`latentsync_core.run.options`), the same as the command line's ``lipsync``.
"""
from __future__ import annotations

import contextlib
import inspect
import logging
import os
import shutil
import uuid

import comfy.model_management as mm
import comfy.utils
import folder_paths
from comfy.model_patcher import ModelPatcher
from comfy_api.v0_0_2 import InputImpl, io
from typing_extensions import override

from ..latentsync_core.batch.jobs_file import with_overrides
from ..latentsync_core.errors import BadInputError
from ..latentsync_core.face.aligner import FaceAligner
from ..latentsync_core.face.human_gate import HumanFaceGate
from ..latentsync_core.face.identity import FaceDescriber
from ..latentsync_core.job import FileSource, LipSyncJob, LipSyncModels, Recognition, SpeakersJob, TimeSpan, open_source
from ..latentsync_core.media.audio_io import Audio
from ..latentsync_core.media.video_io import probe
from ..latentsync_core.restorers import CODEFORMER, GFPGAN, restorer_activation_bytes
from ..latentsync_core.run.host import landmark_backend
from ..latentsync_core.run.options import OPTIONS, restorer_batch_size
from .host import CONFIG_ATTACHMENT, ComfyHost, load_for_sampling, open_landmark_cache
from .types import CATEGORY, FaceRestoreModel, JobOptions, Model, Speakers, Whisper
from .widgets import options_of, widget

log = logging.getLogger(__name__)

OUTPUT_SUBFOLDER = "latentsync"
"""Folder under ComfyUI's temp folder the node's videos are written to (emptied when ComfyUI starts)."""
WORK_FOLDER = ".latentsync-work"
"""Folder under ComfyUI's output folder holding the running jobs' finished segments (kept across restarts)."""


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


def _pending_frame_edits(video) -> bool:
    """Whether ``video`` holds frame edits its file does not contain yet (current ComfyUI's crop and resize)."""
    pending = getattr(video, "has_pending_frame_edits", None)
    return bool(pending()) if callable(pending) else False


def _in_place(video, copy: str) -> FileSource | None:
    """Core Load Video's ``video`` read from its own file (only its trim window), or None when it means other frames.

    Only ComfyUI's own VideoFromFile qualifies (another pack's subclass or wrapper may change the
    frames), with no frame edits pending and the size of its file: the coded size (what ComfyUI
    reports for a rotated phone video) or the upright one; a crop in releases before
    ``has_pending_frame_edits`` shows as another size. A file held in memory is first written to
    ``copy`` byte for byte.
    """
    if type(video) is not InputImpl.VideoFromFile or _pending_frame_edits(video):
        return None
    path = video.get_stream_source()
    if hasattr(path, "read"):
        with open(copy, "wb") as file:
            shutil.copyfileobj(path, file)
        path = copy
    info = probe(path)
    coded = (info.height, info.width) if info.rotation % 180 else (info.width, info.height)
    if tuple(video.get_dimensions()) not in {coded, (info.width, info.height)}:
        return None
    start, duration = video.get_active_trim_window() if hasattr(video, "get_active_trim_window") else (0.0, 0.0)
    return FileSource(info, TimeSpan(start, duration) if start or duration else None)


def _save_lossless(video, path: str) -> None:
    """``video.save_to(path)``, losslessly (``crf=0``) where its ``save_to`` takes a ``crf`` (ComfyUI 0.3.64's does not)."""
    takes_crf = "crf" in inspect.signature(video.save_to).parameters
    video.save_to(path, **({"crf": 0} if takes_crf else {}))


def _source(video, temp_dir: str) -> tuple[FileSource, str | None]:
    """A job source reading the frames ``video`` means, and a temp copy to delete after the run (or None).

    Core Load Video's VIDEO is read from its file in place (rotated phone videos too), only the
    frames in its trim window (current ComfyUI's ``as_trimmed``). Anything else (a crop or resize
    pending, VideoFromComponents, VideoFromList, another pack's class) is first written to a temp
    file in ``temp_dir`` by its own ``save_to``. A copy is removed here when writing or opening it fails.
    """
    copy = os.path.join(temp_dir, f"source_{uuid.uuid4().hex}.mp4")
    try:
        source = _in_place(video, copy)
        if source is None:
            _save_lossless(video, copy)
            source = open_source(copy)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(copy)
        raise
    return source, (copy if os.path.exists(copy) else None)


class LatentSync_LipSyncVideo(io.ComfyNode):
    @classmethod
    @override
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentSync_LipSyncVideo",
            display_name="LatentSync Lip-Sync Video (long videos)",
            category=CATEGORY,
            description="The whole lip-sync in one node, streamed: reads the video in windows, aligns, samples, "
            "restores the mouth where needed and pastes it back, writing the result to a file. Memory does not "
            "grow with the video's length; connect Save Video (or Preview) to the output.",
            inputs=[
                io.Video.Input("video", tooltip="The video from core Load Video; it is read from its file in windows."),
                io.Audio.Input("audio", optional=True,
                               tooltip="The speech to lip-sync to (any sample rate, mono or stereo). With speakers "
                               "connected: the sound to write (left out: the speakers' tracks mixed)."),
                Model.Input("model", tooltip="LatentSync UNet from LatentSync Model Loader (1.5: 256 px faces, 1.6: 512 px)."),
                Whisper.Input("whisper", tooltip="The Whisper encoder from LatentSync Model Loader."),
                io.Vae.Input("vae", tooltip="The SD 1.x VAE from LatentSync Model Loader (or core Load VAE)."),
                FaceRestoreModel.Input("gfpgan", optional=True,
                                       tooltip="Optional GFPGAN model: restores mouths enlarged more than sr_ratio."),
                FaceRestoreModel.Input("codeformer", optional=True,
                                       tooltip="Optional CodeFormer model (non-commercial licence); runs after GFPGAN."),
                widget("steps"),
                widget("guidance"),
                widget("seed"),
                widget("chunk_size"),
                widget("deepcache"),
                widget("length_mode"),
                widget("sr_ratio"),
                widget("fidelity"),
                widget("mask_smooth"),
                widget("color_match"),
                widget("region"),
                widget("backend"),
                widget("batch_size"),
                widget("window"),
                widget("crf"),
                widget("landmark_cache"),
                widget("landmark_cache_max"),
                widget("allow_stylised"),
                JobOptions.Input("job_options", optional=True,
                                 tooltip="Optional: a jobs-file row's options from LatentSync Job List; they replace "
                                 "the widgets' values."),
                Speakers.Input("speakers", optional=True,
                               tooltip="Several speakers (LatentSync Speaker nodes chained): each face is lip-synced to "
                               "its own speaker's track; faces of no speaker are left as they are."),
                widget("silent_speakers"),
            ],
            outputs=[io.Video.Output(display_name="video",
                                     tooltip="The lip-synced video with the speech fitted to its length, written to "
                                     "ComfyUI's temp folder; connect Save Video to keep it.")],
        )

    @classmethod
    @override
    def execute(cls, video, model, whisper, vae, steps, guidance, seed, chunk_size, deepcache, length_mode,
                sr_ratio, fidelity, mask_smooth, color_match, region, backend, batch_size, window, crf, audio=None,
                gfpgan=None, codeformer=None, landmark_cache=True,
                landmark_cache_max=OPTIONS["landmark_cache_max"].default, allow_stylised=False, speakers=None,
                silent_speakers=OPTIONS["silent_speakers"].default, job_options=None) -> io.NodeOutput:
        options = options_of(
            steps=steps, guidance=guidance, seed=seed, chunk_size=chunk_size, deepcache=deepcache, length_mode=length_mode,
            sr_ratio=sr_ratio, fidelity=fidelity, mask_smooth=mask_smooth, color_match=color_match, region=region,
            batch_size=batch_size, window=window, crf=crf, silent_speakers=silent_speakers,
        )
        options = with_overrides(options, job_options or {})
        options.validate()
        if audio is None and not speakers:
            raise BadInputError("Connect the speech to the audio input, or LatentSync Speaker nodes to speakers.")
        restore_models = _restorers(gfpgan, codeformer)
        config = model.get_attachment(CONFIG_ATTACHMENT) if isinstance(model, ModelPatcher) else None
        if config is None:
            raise BadInputError("The model input is not a LatentSync model; connect LatentSync Model Loader's model output.")
        restore_memory = max((restorer_activation_bytes(r.restorer.arch, restorer_batch_size(options.batch_size, r.patcher.load_device),
                                                        next(r.restorer.net.parameters()).dtype, options.roi_size)
                              for r in restore_models), default=0)
        sampling = load_for_sampling(model, vae, config.resolution, options.sampler.chunk_size,
                                     options.sampler.guidance_scale > 1.0,
                                     others=[whisper, *(r.patcher for r in restore_models)], other_memory=restore_memory)
        models = LipSyncModels(unet=sampling.unet, vae=sampling.vae, whisper=whisper.model, device=sampling.device,
                               dtype=sampling.dtype)
        landmarks = landmark_backend(ComfyHost(), backend)
        aligner = FaceAligner(landmarks, resolution=config.resolution, cache=open_landmark_cache(landmark_cache, landmark_cache_max),
                              human_gate=HumanFaceGate(allow_stylised=allow_stylised))

        temp_dir = os.path.join(folder_paths.get_temp_directory(), OUTPUT_SUBFOLDER)
        os.makedirs(temp_dir, exist_ok=True)
        bar = comfy.utils.ProgressBar(1)
        source, copy = _source(video, temp_dir)
        try:
            hooks = {
                "restorers": [r.restorer for r in restore_models],
                "on_progress": lambda stage, done, total: bar.update_absolute(done, max(total, done, 1)),
                "check_interrupt": mm.throw_exception_if_processing_interrupted,
            }
            with contextlib.closing(landmarks):
                if speakers:
                    mix = Audio(audio["waveform"][0], int(audio["sample_rate"])) if audio is not None else None
                    job = SpeakersJob(source, speakers, models, aligner, options, Recognition(FaceDescriber()), mix,
                                      **hooks)
                else:
                    job = LipSyncJob(source, audio["waveform"][0], int(audio["sample_rate"]), models, aligner, options,
                                     **hooks)
                # a resumable job's file is named after the job, so the same graph queued again finds its work folder
                name = job.resume_key() if job.resumable else uuid.uuid4().hex
                output = os.path.join(temp_dir, f"lipsync_{name}.mp4")
                result = job.write(output, os.path.join(folder_paths.get_output_directory(), WORK_FOLDER))
        finally:
            if copy is not None:
                os.remove(copy)
        log.info("LatentSync: %d frames (%d with a face, %d mouths restored) from %d source frames at %s fps",
                 result.frames, result.faces, result.restored, result.source_frames, result.fps)
        return io.NodeOutput(InputImpl.VideoFromFile(result.path))


NODES = [LatentSync_LipSyncVideo]
