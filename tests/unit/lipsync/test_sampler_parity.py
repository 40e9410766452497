"""The sampler against LatentSync's own pipeline (bytedance/LatentSync a229c39).

Fixtures ``tests/data/sampler_parity_*.npz`` hold outputs only; weights and inputs are
regenerated here from the seeds stored in them. They were made on CPU in float32 (torch
2.14.1, diffusers 0.42.1, one thread) by running ``LipsyncPipeline.__call__`` of the
reference, unmodified, with I/O replaced: ``read_video``/``loop_video`` hand it the
aligned faces below as uint8 (as its face alignment would), the audio encoder returns the
embeddings below, ``restore_video`` captures its input (the decoded frames pasted over the
reference faces, in [-1, 1], before any uint8 quantisation), and the ffmpeg/file writers do
nothing; decord/soundfile/insightface were stubbed modules (I/O only, never called).

* UNet: reference ``UNet3DConditionModel`` with configs/unet/stage2.yaml's model section and
  ``block_out_channels [32, 64, 64, 64]``, weights ``unet_fixtures.reference_weights(keys, weight_seed)``.
* VAE: ``sampler_fixtures.tiny_vae(vae_seed)``, ``scaling_factor 0.18215``, ``shift_factor 0``.
* Scheduler: ``DDIMScheduler.from_pretrained("configs")``; mask: the reference's
  ``latentsync/utils/mask.png`` at ``size`` (``load_fixed_mask``), passed to our sampler as
  ``keep`` so the loop is compared on the same mask (the template mask in code is tested
  against it separately in test_mask.py).
* Faces ``parity_faces(frames, size)``, audio ``parity_embeddings(audio_seed, frames)``,
  ``num_frames = chunk_size``, ``guidance_scale 1.5``, ``set_seed(seed)`` (CPU global RNG).
* ``..._deepcache``: also ``DeepCacheSDHelper(pipe).set_params(cache_interval=3,
  cache_branch_id=0)`` (DeepCache 0.1.1).

Stored: the output ``(N, R, R, 3)`` ``(x / 2 + 0.5).clamp(0, 1)`` sampled every 4th pixel
(``grid``) and per-frame float64 sums and sums of squares of the whole frames.
"""
import os

import cv2
import numpy as np
import pytest
import torch

from latentsync_core.lipsync.sampler import SamplerSettings, sample_video
import unet_fixtures
from latentsync_core.lipsync import unet as unet_module
from sampler_fixtures import DATA, parity_embeddings, parity_faces, sample_grid, tiny_vae

TOLERANCE = 1e-4


def _reference_keep(size: int) -> np.ndarray:
    img = cv2.imread(os.path.join(DATA, "mask_reference.png"))
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LANCZOS4)
    return img[..., 0].astype(np.float32) / 255.0


def _run(name: str, calls: dict | None = None):
    with np.load(os.path.join(DATA, name)) as f:
        fx = {k: f[k] for k in f.files}
    weights = unet_fixtures.reference_weights(unet_fixtures.reference_key_shapes("tiny"), int(fx["weight_seed"]))
    unet = unet_module.build_unet(unet_module.LatentSyncUNetConfig.tiny(), device="meta")
    unet.load_state_dict(unet_module.map_reference_state_dict(weights), strict=True, assign=True)
    if calls is not None:
        watched = {"down1": unet.down_blocks[1].resnets[0], "mid": unet.mid_block.resnets[0],
                   "last": unet.up_blocks[-1].resnets[-1]}
        for key, module in watched.items():
            calls[key] = 0
            module.register_forward_hook(lambda *_, key=key: calls.__setitem__(key, calls[key] + 1))
    frames, size = int(fx["frames"]), int(fx["size"])
    faces = torch.from_numpy(parity_faces(frames, size)).float() / 255
    settings = SamplerSettings(
        steps=int(fx["steps"]),
        guidance_scale=float(fx["guidance"]),
        seed=int(fx["seed"]),
        chunk_size=int(fx["chunk_size"]),
        deep_cache_interval=int(fx["deep_cache_interval"]),
    )
    out = sample_video(
        unet, tiny_vae(int(fx["vae_seed"])), faces, parity_embeddings(int(fx["audio_seed"]), frames),
        settings=settings, keep=_reference_keep(size),
    ).numpy()
    return out, fx


def _max_diff(out: np.ndarray, fx: dict) -> float:
    grid = float(np.abs(sample_grid(out) - fx["grid"]).max())
    sums = out.astype(np.float64).sum(axis=(1, 2, 3))
    squares = (out.astype(np.float64) ** 2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(sums, fx["frame_sums"], rtol=1e-5)
    np.testing.assert_allclose(squares, fx["frame_sq_sums"], rtol=1e-5)
    return grid


def test_sampler_matches_reference_pipeline():
    out, fx = _run("sampler_parity_128.npz")
    assert out.shape == (10, 128, 128, 3)
    diff = _max_diff(out, fx)
    print(f"sampler parity (128 px, 10 frames, chunks 8+2, 3 steps): max abs diff {diff:.3g}")
    assert diff <= TOLERANCE


def test_deep_cache_matches_reference_deepcache_helper():
    calls: dict = {}
    out, fx = _run("sampler_parity_128_deepcache.npz", calls)
    diff = _max_diff(out, fx)
    print(f"DeepCache parity (interval 3, 4 steps): max abs diff {diff:.3g}")
    assert diff <= TOLERANCE
    # 2 chunks x 4 steps: deep layers run on steps 0 and 3 only, the last up-block layer on every step.
    assert calls == {"down1": 4, "mid": 4, "last": 8}


@pytest.mark.slow
def test_sampler_matches_reference_pipeline_256():
    out, fx = _run("sampler_parity_256.npz")
    assert out.shape == (18, 256, 256, 3)
    diff = _max_diff(out, fx)
    print(f"sampler parity (256 px, 18 frames, chunks 16+2, 3 steps): max abs diff {diff:.3g}")
    assert diff <= TOLERANCE
