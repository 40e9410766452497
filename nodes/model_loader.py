"""Model loader node: LatentSync UNet, Whisper encoder and SD VAE from ComfyUI's models folder."""
from __future__ import annotations

import comfy.sd
import comfy.utils
import folder_paths
from comfy_api.v0_0_2 import io

from ..latentsync_core.files.model_files import (
    LATENTSYNC_FOLDER,
    UNET,
    VAE_FOLDER,
    WHISPER,
    ModelRequest,
    official_file,
    resolve_paths,
    unet_choices,
    vae_choices,
    whisper_choices,
)
from ..latentsync_core.lipsync.models import check_sd_vae, load_models
from ..latentsync_core.run.host import model_dtype
from ..latentsync_core.run.options import AUTO_VERSION
from .host import CONFIG_ATTACHMENT, VERSION_ATTACHMENT, ComfyHost, PatcherHost, model_patcher, whisper_patcher
from .types import CATEGORY, Model, Whisper
from .widgets import widget

AUTO_WHISPER = "auto (next to the UNet)"


def _listed(folder: str) -> list[str]:
    return [name.replace("\\", "/") for name in folder_paths.get_filename_list(folder)]


def _default(options: list[str], present: list[str]) -> str:
    """Default of a file combo: the first option on disk, else the first option."""
    on_disk = set(present)
    return next((o for o in options if o in on_disk), options[0])


class LatentSyncModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        listed, vae_listed = _listed(LATENTSYNC_FOLDER), _listed(VAE_FOLDER)
        unets, whispers, vaes = unet_choices(listed), whisper_choices(listed), vae_choices(vae_listed)
        return io.Schema(
            node_id="LatentSync_ModelLoader",
            display_name="LatentSync Model Loader",
            category=CATEGORY,
            description="Loads the LatentSync 1.5 / 1.6 UNet, its Whisper audio encoder and the SD VAE from "
            "models/latentsync and models/vae, downloading the official files from Hugging Face when asked.",
            inputs=[
                widget("version"),
                io.Combo.Input("unet_name", options=unets, default=_default(unets, listed),
                               tooltip="latentsync_unet.pt under models/latentsync. The official files go to "
                               f"LatentSync-1.5/ and LatentSync-1.6/ ({official_file(UNET, '1.6').url})."),
                io.Combo.Input("whisper_name", options=[AUTO_WHISPER, *whispers], default=AUTO_WHISPER,
                               tooltip="Whisper tiny audio encoder (whisper/tiny.pt). auto: the one next to the UNet, "
                               "else any official copy (the file is the same for 1.5 and 1.6)."),
                io.Combo.Input("vae_name", options=vaes, default=_default(vaes, vae_listed),
                               tooltip="The SD 1.x VAE (sd-vae-ft-mse) under models/vae, the file ComfyUI's Load VAE "
                               "also lists. Other VAEs (SDXL, ...) give wrong colours or noise."),
                widget("dtype"),
                io.Boolean.Input("download", default=False,
                                 tooltip="Download missing official files from Hugging Face into models/latentsync and "
                                 "models/vae (the UNet is about 5 GB). Off: a missing file stops with its URL."),
            ],
            outputs=[
                Model.Output("model", display_name="model", tooltip="The LatentSync UNet, for the LatentSync sampler."),
                Whisper.Output("whisper", display_name="whisper", tooltip="The Whisper encoder, for LatentSync Whisper Embeds."),
                io.Vae.Output("vae", display_name="vae", tooltip="The SD VAE, for the LatentSync sampler."),
            ],
        )

    @classmethod
    def execute(cls, version, unet_name, whisper_name, vae_name, dtype, download) -> io.NodeOutput:
        request = ModelRequest(
            unet=unet_name,
            version=None if version == AUTO_VERSION else version,
            whisper=None if whisper_name == AUTO_WHISPER else whisper_name,
            vae=vae_name,
        )
        host = ComfyHost(download)
        paths = resolve_paths(request, host)

        vae_weights = comfy.utils.load_torch_file(paths.vae, safe_load=True)
        check_sd_vae(vae_weights, vae_name)  # before the 5 GB UNet: ComfyUI's VAE would take any weights

        models = load_models(paths, request.version, device=host.offload_device(UNET), dtype=model_dtype(host, UNET, dtype),
                             whisper_dtype=model_dtype(host, WHISPER))
        model = model_patcher(PatcherHost(models.unet), host, UNET)
        model.set_attachments(VERSION_ATTACHMENT, models.version)
        model.set_attachments(CONFIG_ATTACHMENT, models.config)
        vae = comfy.sd.VAE(sd=vae_weights)  # ComfyUI picks the VAE's device (--cpu-vae) and dtype
        return io.NodeOutput(model, whisper_patcher(models.whisper), vae)


NODES = [LatentSyncModelLoader]
