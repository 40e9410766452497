"""ComfyUI nodes: load LatentSync's Whisper encoder and turn an AUDIO into per-frame audio tokens."""
from __future__ import annotations

import folder_paths
from comfy_api.v0_0_2 import io

from ..latentsync_core.files.model_files import WHISPER, ModelFileFinder, official_file, whisper_choices
from ..latentsync_core.lipsync.audio import audio_frame_count, embed_audio_for_video
from ..latentsync_core.lipsync.whisper import load_whisper
from ..latentsync_core.run.host import model_dtype
from .host import LATENTSYNC_FOLDER as MODEL_FOLDER
from .host import ComfyHost, load_fully, whisper_patcher
from .types import CATEGORY, AudioEmbeds, Whisper
from .widgets import widget

WHISPER_DEFAULT = official_file(WHISPER, "1.6")


def _whisper_choices() -> list[str]:
    return whisper_choices(folder_paths.get_filename_list(MODEL_FOLDER))


class LatentSync_WhisperLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentSync_WhisperLoader",
            display_name="LatentSync Whisper Loader",
            category=CATEGORY,
            description="Loads the Whisper tiny audio encoder that LatentSync 1.5/1.6 is conditioned on.",
            inputs=[
                io.Combo.Input(
                    "whisper_file",
                    options=_whisper_choices(),
                    default=WHISPER_DEFAULT.relative_path,
                    tooltip="OpenAI-format Whisper checkpoint under models/latentsync "
                    f"(official: {WHISPER_DEFAULT.relative_path} from {WHISPER_DEFAULT.url}).",
                ),
            ],
            outputs=[Whisper.Output(display_name="whisper")],
        )

    @classmethod
    def execute(cls, whisper_file: str) -> io.NodeOutput:
        host = ComfyHost()
        finder = ModelFileFinder(host)
        path = finder.named(MODEL_FOLDER, whisper_file)
        if path is None:
            raise finder.missing(MODEL_FOLDER, whisper_file, WHISPER_DEFAULT.url)
        finder.fetch()
        model = load_whisper(path, device=host.offload_device(WHISPER), dtype=model_dtype(host, WHISPER))
        return io.NodeOutput(whisper_patcher(model))


class LatentSync_LoadWhisperEmbeds(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentSync_LoadWhisperEmbeds",
            display_name="LatentSync Whisper Embeds",
            category=CATEGORY,
            description="Whisper audio tokens (50 x 384) for every output video frame, and the audio fitted "
            "to the output length. Audio over 30 s is encoded in cross-faded windows, without a seam.",
            inputs=[
                Whisper.Input("whisper", tooltip="The Whisper encoder from LatentSync Whisper Loader."),
                io.Audio.Input("audio", tooltip="The speech to lip-sync to (any sample rate, mono or stereo)."),
                io.Float.Input("fps", default=25.0, min=1.0, max=240.0, step=0.001,
                               tooltip="Frame rate of the video (LatentSync was trained at 25 fps)."),
                widget("length_mode"),
                io.Image.Input("frames", optional=True,
                               tooltip="The video frames; only their count is used. Overrides frame_count."),
                io.Int.Input("frame_count", default=0, min=0, max=1_000_000, optional=True,
                             tooltip="Number of video frames when no frames are connected; "
                             "0 uses as many frames as the audio lasts."),
            ],
            outputs=[
                AudioEmbeds.Output(display_name="audio_embeds",
                                   tooltip="Per-frame tokens, source frame map and fps, for the LatentSync sampler."),
                io.Audio.Output(display_name="audio", tooltip="The audio cut or padded to the output length."),
                io.Int.Output(display_name="frame_count", tooltip="Number of output frames."),
            ],
        )

    @classmethod
    def execute(cls, whisper, audio: dict, fps: float, length_mode: str, frames=None,
                frame_count: int = 0) -> io.NodeOutput:
        waveform, sample_rate = audio["waveform"], int(audio["sample_rate"])
        if frames is not None:
            n_video = int(frames.shape[0])
        elif frame_count > 0:
            n_video = int(frame_count)
        else:  # no video given: as many frames as the audio lasts, in order
            n_video, length_mode = audio_frame_count(waveform.shape[-1], sample_rate, fps), "trim"
        load_fully([whisper], memory_required=0)  # one 30 s window of Whisper tiny at a time
        embeds, fitted = embed_audio_for_video(whisper.model, waveform, sample_rate, n_video, fps, length_mode)
        out_audio = {"waveform": fitted, "sample_rate": sample_rate}
        return io.NodeOutput(embeds, out_audio, int(embeds.embeddings.shape[0]))


NODES = [LatentSync_WhisperLoader, LatentSync_LoadWhisperEmbeds]
