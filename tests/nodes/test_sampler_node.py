"""LatentSync_Sampler inside ComfyUI (opt-in: set COMFYUI_PATH to a ComfyUI checkout).

The node gets a ComfyUI VAE built from an SD 1.x VAE state dict (seeded random weights, LDM
layout) and must give exactly what the core sampler gives with that file loaded by
``latentsync_core.lipsync.vae``.
"""

import numpy as np
import pytest
import torch

from comfy_nodes import core, import_comfy, node_module, requires_comfyui

pytestmark = requires_comfyui

SIZE = 64


@pytest.fixture(scope="module")
def comfy():
    return import_comfy()


def _alignment(n: int, has_face: np.ndarray):
    Alignment = core("face.alignment").Alignment

    return Alignment(
        resolution=SIZE, crop_size=(SIZE, SIZE), source_size=(SIZE, SIZE),
        affines=np.tile(np.eye(2, 3), (n, 1, 1)), has_face=has_face, interpolated=np.zeros(n, bool),
        landmarks=np.full((n, 1, 2), np.nan), mouth=np.full((n, 1, 2), np.nan), backend="test",
    )


def _node_module():
    return node_module("sampler")


class _Embeds:
    def __init__(self, embeddings, frame_map):
        self.embeddings, self.frame_map = embeddings, frame_map


def test_node_matches_core_sampler(comfy):
    from latentsync_core.lipsync.sampler import SamplerSettings, sample_video
    from latentsync_core.lipsync.vae import SD_VAE_CONFIG, build_vae, vae_from_state_dict
    LatentSync_Sampler = _node_module().LatentSync_Sampler
    from sampler_fixtures import StandInUNet, parity_embeddings, parity_faces, seeded_weights
    from vae_layouts import ldm_state_dict

    diffusers_vae = build_vae(SD_VAE_CONFIG, device="meta")
    shapes = {k: tuple(v.shape) for k, v in diffusers_vae.state_dict().items()}
    diffusers_vae.load_state_dict(seeded_weights(shapes, 21), strict=True, assign=True)
    ldm = ldm_state_dict(diffusers_vae)
    comfy_vae = comfy.sd.VAE(sd=ldm, dtype=torch.float32)

    faces = torch.from_numpy(parity_faces(4, SIZE)).float() / 255
    has_face = np.array([True, False, True, True])
    frame_map = torch.tensor([0, 1, 2, 3, 3, 2])
    emb = parity_embeddings(13, 6)
    unet = StandInUNet()
    LatentSync_Sampler.GET_SCHEMA()  # validates the schema as ComfyUI does on import
    out = LatentSync_Sampler.execute(unet, comfy_vae, faces, _alignment(4, has_face), _Embeds(emb, frame_map),
                                     steps=2, guidance=1.5, seed=3, chunk_size=4, deepcache=False)
    images, alignment = out.args if hasattr(out, "args") else out
    expected = sample_video(unet, vae_from_state_dict(ldm), faces[frame_map], emb, has_face=has_face[frame_map.numpy()],
                            settings=SamplerSettings(steps=2, guidance_scale=1.5, seed=3, chunk_size=4))
    assert images.shape == (6, SIZE, SIZE, 3)
    assert torch.equal(images[1], faces[1])
    assert alignment.source_index.tolist() == frame_map.tolist() and alignment.source_frames == 4
    assert alignment.has_face.tolist() == has_face[frame_map.numpy()].tolist()
    assert float((images - expected).abs().max()) < 1e-5
