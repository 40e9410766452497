"""ComfyUI V3 extension: the pack's nodes, all under the "LatentSync" category."""
from typing_extensions import override

from comfy_api.v0_0_2 import ComfyExtension, io

from . import audio, face, job_list, lipsync_video, model_loader, quality, restore, sampler, speakers
from .host import register_model_folders


class LatentSyncExtension(ComfyExtension):
    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [*face.NODES, *audio.NODES, *model_loader.NODES, *sampler.NODES, *restore.NODES, *quality.NODES,
                *lipsync_video.NODES, *job_list.NODES, *speakers.NODES]


async def comfy_entrypoint() -> LatentSyncExtension:
    register_model_folders()
    return LatentSyncExtension()
