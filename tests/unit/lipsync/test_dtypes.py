"""The dtype policy, and the sampler in the half dtypes a GPU would run (on CPU)."""
import pytest
import torch

from latentsync_core.lipsync import dtypes
from latentsync_core.lipsync.dtypes import HALF_OK, NO_FP16, bf16_native, resolve_dtype
from latentsync_core.lipsync.sampler import SamplerSettings, sample_video
from latentsync_core.lipsync.unet import LatentSyncUNetConfig, build_unet, map_reference_state_dict
from latentsync_core.lipsync.vae import SubBatchedVAE
from sampler_fixtures import parity_embeddings, parity_faces, tiny_vae
from unet_fixtures import reference_key_shapes, reference_weights

CUDA = torch.device("cuda", 0)
HALF_TOLERANCE = 0.05
"""Largest |half - fp32| of an output pixel in [0, 1], 3 steps, tiny UNet and VAE. Observed on CPU:
fp16 UNet + bf16 VAE 0.018, bf16 UNet + fp32 VAE 0.033 (bf16 keeps 8 mantissa bits)."""


@pytest.fixture
def capability(monkeypatch):
    """Pretend a CUDA card of a given compute capability is present."""
    def set_capability(major: int, minor: int = 0) -> None:
        monkeypatch.setattr(dtypes.torch.cuda, "get_device_capability", lambda device=None: (major, minor))
    return set_capability


def test_bf16_only_where_native(capability):
    capability(7, 5)  # T4 / RTX 20xx: is_bf16_supported() says yes by emulation
    assert not bf16_native(CUDA)
    assert resolve_dtype(torch.bfloat16, CUDA, HALF_OK).dtype == torch.float16
    assert resolve_dtype(torch.bfloat16, CUDA, NO_FP16).dtype == torch.float32
    capability(8, 0)
    assert bf16_native(CUDA)
    assert resolve_dtype(torch.bfloat16, CUDA) == dtypes.DtypeChoice(torch.bfloat16)
    assert bf16_native("cpu")


@pytest.mark.parametrize("fp8", [torch.float8_e4m3fn, torch.float8_e5m2])
def test_fp8_and_fp64_map_to_the_nearest_supported_dtype(capability, fp8):
    capability(8, 9)
    choice = resolve_dtype(fp8, CUDA, HALF_OK, "the UNet")
    assert choice.dtype == torch.bfloat16
    assert "the UNet in bfloat16 instead of float8" in choice.note
    capability(7, 0)
    assert resolve_dtype(fp8, CUDA, HALF_OK).dtype == torch.float16
    assert resolve_dtype(torch.float64, CUDA).dtype == torch.float32


def test_float16_restorers_are_refused(capability):
    capability(8, 6)
    assert resolve_dtype(torch.float16, CUDA, NO_FP16).dtype == torch.bfloat16
    capability(6, 1)
    assert resolve_dtype(torch.float16, CUDA, NO_FP16).dtype == torch.float32
    assert resolve_dtype(torch.float16, CUDA, HALF_OK).note is None


def _tiny_unet(dtype: torch.dtype) -> torch.nn.Module:
    unet = build_unet(LatentSyncUNetConfig.tiny(), device="meta")
    weights = reference_weights(reference_key_shapes("tiny"), 3)
    unet.load_state_dict(map_reference_state_dict(weights), strict=True, assign=True)
    return torch.nn.Module.to(unet, dtype=dtype)


def _sample(unet_dtype: torch.dtype, vae_dtype: torch.dtype, frames: int = 3, size: int = 64) -> torch.Tensor:
    faces = torch.from_numpy(parity_faces(frames, size)).float() / 255
    settings = SamplerSettings(steps=3, guidance_scale=1.5, seed=11, chunk_size=frames)
    return sample_video(_tiny_unet(unet_dtype), torch.nn.Module.to(tiny_vae(5), vae_dtype), faces, parity_embeddings(7, frames),
                        settings=settings, dtype=unet_dtype)


@pytest.fixture(scope="module")
def fp32_output():
    return _sample(torch.float32, torch.float32)


@pytest.mark.parametrize("unet_dtype, vae_dtype", [(torch.float16, torch.bfloat16), (torch.bfloat16, torch.float32)])
def test_sampler_runs_in_half_dtypes_close_to_fp32(fp32_output, unet_dtype, vae_dtype):
    out = _sample(unet_dtype, vae_dtype)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    diff = float((out - fp32_output).abs().max())
    print(f"{unet_dtype} UNet, {vae_dtype} VAE: max |diff| vs fp32 = {diff:.4f}")
    assert 0 < diff <= HALF_TOLERANCE


def test_sub_batched_vae_gives_the_one_batch_result():
    faces = torch.from_numpy(parity_faces(5, 64)).float() / 255
    emb = parity_embeddings(7, 5)
    settings = SamplerSettings(steps=2, guidance_scale=1.5, seed=3, chunk_size=5)
    unet, vae = _tiny_unet(torch.float32), tiny_vae(5)
    calls = []

    def two_frames(kind, shape):
        calls.append((kind, shape[0]))
        return 2

    whole = sample_video(unet, vae, faces, emb, settings=settings)
    split = sample_video(unet, SubBatchedVAE(vae, two_frames), faces, emb, settings=settings)
    assert calls == [("encode", 5), ("encode", 5), ("decode", 5)]
    # Same random numbers in the same order (another order would differ by ~0.1); convolutions over
    # 2 frames instead of 5 round differently in the last float32 bits.
    assert float((whole - split).abs().max()) <= 1e-5
