"""Quality metrics node: lip sync (SyncNet LSE-C/LSE-D/offset), identity, mouth sharpness, flicker."""
from __future__ import annotations

import contextlib

from comfy_api.v0_0_2 import io, ui

from ..latentsync_core.face.aligner import FaceAligner
from ..latentsync_core.files.downloads import ensure_model_file
from ..latentsync_core.metrics.evaluate import evaluate_frames
from ..latentsync_core.metrics.pcm import waveform_to_pcm16k
from ..latentsync_core.metrics.report import format_table, to_json
from ..latentsync_core.metrics.speakers import SpeakerSpeech
from ..latentsync_core.metrics.syncnet import SYNCNET_FILE, SYNCNET_FOLDER, SYNCNET_URL, load_syncnet
from ..latentsync_core.run.host import landmark_backend
from .host import ComfyHost
from .types import CATEGORY, Alignment, Speakers


class LipSyncQuality(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentSync_LipSyncQuality",
            display_name="Lip-Sync Quality (LSE-C / PSNR / sharpness)",
            category=CATEGORY,
            is_output_node=True,
            description="Measures a lip-synced or restored video: SyncNet lip-sync confidence (LSE-C, higher is better), "
            "distance (LSE-D, lower is better) and audio-video offset; with the source frames, PSNR/SSIM outside the "
            "mouth, mouth sharpness and frame-to-frame mouth change against the source. Shows a table and returns it with the JSON.",
            inputs=[
                io.Image.Input("images", tooltip="The video to measure (e.g. the lip-synced frames)."),
                io.Float.Input("fps", default=25.0, min=1.0, max=240.0, step=0.001, tooltip="Frame rate of the video; SyncNet looks at it resampled to 25 fps."),
                io.Audio.Input("audio", optional=True, tooltip="The speech the lips should follow; without it lip sync is not measured."),
                io.Image.Input("source", optional=True, tooltip="The original frames (same size); frame i is compared with frame i."),
                Alignment.Input("alignment", optional=True, tooltip="The alignment of these frames (e.g. the sampler's); without it the faces are found again with MediaPipe."),
                Speakers.Input("speakers", optional=True,
                               tooltip="Several speakers (LatentSync Speaker nodes chained, as for the streaming node): adds "
                               "each one's lip sync, their face (found by recognition) against their own track."),
                io.Boolean.Input("download_models", default=False, tooltip="Download syncnet_v2.model into models/syncnet when it is missing."),
            ],
            outputs=[
                io.String.Output("table", display_name="table", tooltip="The report as a text table (also shown on the node)."),
                io.String.Output("json", display_name="json", tooltip="The numbers as JSON."),
            ],
        )

    @classmethod
    def execute(cls, images, fps, download_models, audio=None, source=None, alignment=None, speakers=None) -> io.NodeOutput:
        host = ComfyHost(download_models)
        device = host.device
        speeches = [SpeakerSpeech.of(s.face, s.waveform, s.sample_rate) for s in speakers or []]
        model, pcm, note = None, None, "no audio connected"
        if audio is not None:
            pcm = waveform_to_pcm16k(audio["waveform"][0].float().cpu().numpy(), int(audio["sample_rate"]))
        if audio is not None or speeches:
            folder = host.folder_root(SYNCNET_FOLDER)
            model = load_syncnet(ensure_model_file(SYNCNET_FILE, folder, SYNCNET_URL, host.download), device)
        measure = dict(source=source, model=model, pcm16k=pcm, sync_note=note, device=device, speakers=speeches)
        needs_faces = alignment is None or bool(speeches)
        with contextlib.closing(landmark_backend(host, "mediapipe")) if needs_faces else contextlib.nullcontext() as backend:
            if alignment is not None:
                report = evaluate_frames(images, fps, alignment=alignment, backend=backend, **measure)
            else:
                aligner = FaceAligner(backend)
                report = evaluate_frames(images, fps, align=lambda frames: aligner.align(frames)[1], backend=backend, **measure)
        table = format_table(report)
        return io.NodeOutput(table, to_json(report), ui=ui.PreviewText(table))


NODES = [LipSyncQuality]
