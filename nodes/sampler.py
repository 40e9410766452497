"""ComfyUI node: LatentSync's diffusion sampler (thin adapter over ``latentsync_core.lipsync.sampler``)."""
from __future__ import annotations

import numpy as np
import torch
from typing_extensions import override

import comfy.model_management as mm
import comfy.utils
from comfy.model_patcher import ModelPatcher
from comfy_api.v0_0_2 import io

from ..latentsync_core.errors import BadInputError
from ..latentsync_core.lipsync.sampler import sample_video
from ..latentsync_core.run.stages import follow_frame_map
from .host import CONFIG_ATTACHMENT, VERSION_ATTACHMENT, load_for_sampling
from .types import CATEGORY, Alignment, AudioEmbeds, Model
from .widgets import options_of, widget


def check_face_size(model: object, faces: torch.Tensor) -> None:
    """Faces must be the size the UNet was trained on (256 for 1.5, 512 for 1.6)."""
    config = model.get_attachment(CONFIG_ATTACHMENT) if isinstance(model, ModelPatcher) else None
    if config is None or faces.shape[1] == config.resolution:
        return
    version = model.get_attachment(VERSION_ATTACHMENT) or "this"
    raise BadInputError(
        f"The LatentSync {version} model works on {config.resolution} px faces but the faces are {faces.shape[1]} px; "
        f"set resolution to {config.resolution} on the LatentSync Face Align node."
    )


class LatentSync_Sampler(io.ComfyNode):
    @classmethod
    @override
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentSync_Sampler",
            display_name="LatentSync Sampler",
            category=CATEGORY,
            description="Regenerates the mouth region of aligned faces to match the audio (LatentSync diffusion).",
            inputs=[
                Model.Input("model", tooltip="LatentSync UNet (1.5 for 256 px faces, 1.6 for 512 px)."),
                io.Vae.Input("vae", tooltip="The SD 1.x VAE: vae-ft-mse-840000-ema-pruned.safetensors."),
                io.Image.Input("faces", tooltip="Aligned faces from the LatentSync face-alignment node."),
                Alignment.Input("alignment", tooltip="Alignment of those faces; frames without a face pass through."),
                AudioEmbeds.Input("audio_embeds", tooltip="Whisper audio features, one window per output frame."),
                widget("steps"),
                widget("guidance"),
                widget("seed"),
                widget("chunk_size"),
                widget("deepcache"),
            ],
            outputs=[
                io.Image.Output("synced_faces", display_name="synced_faces", tooltip="Aligned faces with the regenerated mouth, one per output frame."),
                Alignment.Output("synced_alignment", display_name="alignment", tooltip="The alignment of each output frame (the video's frames in the "
                                 "audio's order), for the paste node together with the original video frames."),
            ],
        )

    @classmethod
    @override
    def execute(cls, model, vae, faces, alignment, audio_embeds, steps, guidance, seed, chunk_size, deepcache) -> io.NodeOutput:
        settings = options_of(steps=steps, guidance=guidance, seed=seed, chunk_size=chunk_size, deepcache=deepcache).sampler
        settings.validate()
        check_face_size(model, faces)
        frames, out_alignment = follow_frame_map(faces, alignment, getattr(audio_embeds, "frame_map", None))
        models = load_for_sampling(model, vae, faces.shape[1], min(chunk_size, frames.shape[0]), guidance > 1.0)
        pbar = comfy.utils.ProgressBar(1)
        out = sample_video(
            models.unet,
            models.vae,
            frames,
            audio_embeds.embeddings,
            has_face=np.asarray(out_alignment.has_face, dtype=bool),
            settings=settings,
            device=models.device,
            dtype=models.dtype,
            on_step=lambda done, total: pbar.update_absolute(done, total),
            check_interrupt=mm.throw_exception_if_processing_interrupted,
        )
        return io.NodeOutput(out, out_alignment)


NODES = [LatentSync_Sampler]
