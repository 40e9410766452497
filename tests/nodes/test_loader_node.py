"""LatentSync_ModelLoader inside ComfyUI (opt-in: set COMFYUI_PATH to a ComfyUI checkout).

Model folders are temporary: ``latentsync`` holds the official 1.6 layout with a tiny
random UNet (reference key names, tests/support/unet_fixtures.py) and a random Whisper tiny
(tests/support/whisper_checkpoint.py); ``vae`` holds a full-size SD VAE with seeded random weights
in the LDM key layout (the shapes come from ComfyUI's own SD VAE). The release config is
swapped for the tiny one through ``latentsync_core.lipsync.checkpoints.CONFIGS``.
"""
from __future__ import annotations

import math

import pytest
import torch

from comfy_nodes import core, node_module, only_model_folders, requires_comfyui

pytestmark = requires_comfyui

VAE_FILE = "vae-ft-mse-840000-ema-pruned.safetensors"


@pytest.fixture(scope="module")
def comfy_env(tmp_path_factory):
    """ComfyUI importable (CPU when there is no GPU), the pack's nodes package, temp model folders."""
    loader = node_module("model_loader")
    import folder_paths

    base = tmp_path_factory.mktemp("models")
    for name in ("latentsync", "vae"):
        (base / name).mkdir()
    with only_model_folders(latentsync=base / "latentsync", vae=base / "vae"):
        yield loader, base, folder_paths


def _write_models(base):
    import unet_fixtures
    import whisper_checkpoint

    folder = base / "latentsync" / "LatentSync-1.6"
    (folder / "whisper").mkdir(parents=True, exist_ok=True)
    state = unet_fixtures.reference_weights(unet_fixtures.reference_key_shapes("tiny"), 7)
    torch.save({"state_dict": state}, folder / "latentsync_unet.pt")
    whisper_checkpoint.write_tiny_checkpoint(str(folder / "whisper" / "tiny.pt"), seed=7)


def _write_sd_vae(path) -> dict[str, torch.Tensor]:
    """Seeded random weights for ComfyUI's SD 1.x VAE (LDM keys), saved as safetensors."""
    from safetensors.torch import save_file

    from comfy.ldm.models.autoencoder import AutoencoderKL

    ddconfig = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in AutoencoderKL(ddconfig=ddconfig, embed_dim=4).state_dict().items()}
    gen = torch.Generator().manual_seed(11)
    weights = {}
    for key in sorted(shapes):
        noise = torch.randn(shapes[key], generator=gen)
        weights[key] = noise / math.sqrt(math.prod(shapes[key][1:])) if len(shapes[key]) > 1 else 0.1 * noise
    save_file(weights, str(path))
    return weights


def test_schema_lists_official_files_first_with_tooltips(comfy_env):
    loader, base, _ = comfy_env
    schema = loader.LatentSyncModelLoader.define_schema()
    assert schema.node_id == "LatentSync_ModelLoader" and schema.category == "LatentSync"
    assert all(inp.tooltip for inp in schema.inputs)
    inputs = {inp.id: inp for inp in schema.inputs}
    assert inputs["unet_name"].options[:2] == ["LatentSync-1.5/latentsync_unet.pt", "LatentSync-1.6/latentsync_unet.pt"]
    assert inputs["whisper_name"].options[0] == loader.AUTO_WHISPER
    assert inputs["vae_name"].options[0] == VAE_FILE
    assert inputs["download"].default is False
    assert [out.io_type for out in schema.outputs] == ["LATENTSYNC_MODEL", "LATENTSYNC_WHISPER", "VAE"]
    assert not {inp.id for inp in schema.inputs} & {out.id for out in schema.outputs}  # V3 refuses shared ids


def test_missing_files_name_every_file_folder_and_url(comfy_env):
    loader, base, _ = comfy_env
    MissingModelError = core("errors").MissingModelError

    with pytest.raises(MissingModelError) as info:
        loader.LatentSyncModelLoader.execute(version=loader.AUTO_VERSION, unet_name="LatentSync-1.5/latentsync_unet.pt",
                                             whisper_name=loader.AUTO_WHISPER, vae_name=VAE_FILE, dtype="auto", download=False)
    msg = str(info.value)
    assert info.value.folder == str(base / "latentsync" / "LatentSync-1.5")
    for url_tail in ("ByteDance/LatentSync-1.5/resolve/main/latentsync_unet.pt",
                     "ByteDance/LatentSync-1.5/resolve/main/whisper/tiny.pt",
                     f"stabilityai/sd-vae-ft-mse-original/resolve/main/{VAE_FILE}"):
        assert url_tail in msg


def test_loads_unet_whisper_and_vae_into_comfyui_objects(comfy_env, monkeypatch):
    loader, base, folder_paths = comfy_env
    checkpoints = core("lipsync.checkpoints")
    from latentsync_core.lipsync.unet import LatentSyncUNetConfig

    import comfy.model_management as mm
    import comfy.sd

    torch.set_num_threads(1)
    _write_models(base)
    vae_weights = _write_sd_vae(base / "vae" / VAE_FILE)
    tiny = LatentSyncUNetConfig.tiny()
    monkeypatch.setitem(checkpoints.CONFIGS, "1.6", lambda: tiny)

    model, whisper, vae = loader.LatentSyncModelLoader.execute(
        version=loader.AUTO_VERSION, unet_name="LatentSync-1.6/latentsync_unet.pt", whisper_name=loader.AUTO_WHISPER,
        vae_name=VAE_FILE, dtype="fp32", download=False).result
    assert model.get_attachment(loader.VERSION_ATTACHMENT) == "1.6"
    assert model.get_attachment(loader.CONFIG_ATTACHMENT) == tiny
    unet = node_module("host").hosted(model)
    assert type(unet).__name__ == "LatentSyncUNet" and next(unet.parameters()).dtype == torch.float32
    # ComfyUI's memory management can move the hosted diffusers model (it assigns .device).
    mm.load_models_gpu([model, whisper], force_full_load=True)
    assert next(unet.parameters()).device == mm.get_torch_device()
    assert type(whisper.model).__name__ == "WhisperAudioEncoder"
    assert isinstance(vae, comfy.sd.VAE)
    got = vae.get_sd()
    assert all(torch.equal(got[k].float(), vae_weights[k]) for k in vae_weights)


def test_a_vae_of_another_kind_is_refused(comfy_env):
    loader, base, _ = comfy_env
    from safetensors.torch import save_file

    BadInputError = core("errors").BadInputError

    _write_models(base)
    save_file({"encoder.conv_in.weight": torch.zeros(8, 3, 3, 3), "decoder.conv_in.weight": torch.zeros(8, 16, 3, 3)},
              str(base / "vae" / "flux_ae.safetensors"))
    with pytest.raises(BadInputError, match="16 latent channels"):
        loader.LatentSyncModelLoader.execute(
            version="1.6", unet_name="LatentSync-1.6/latentsync_unet.pt", whisper_name=loader.AUTO_WHISPER,
            vae_name="flux_ae.safetensors", dtype="fp32", download=False)
