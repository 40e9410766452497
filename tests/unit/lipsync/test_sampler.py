"""Sampler behaviour with a tiny VAE and a small stand-in denoiser (fast).

The stand-in is a real (random-weight) network with the LatentSync UNet's call
signature; reference parity with the tiny LatentSync UNet is in test_sampler_parity.py.
"""
import numpy as np
import pytest
import torch

from latentsync_core.errors import BadInputError
from latentsync_core.lipsync.sampler import MAX_CHUNK, SamplerSettings, plan_chunks, sample_video
from sampler_fixtures import StandInUNet, parity_embeddings, parity_faces, tiny_vae

SIZE = 64


@pytest.fixture(scope="module")
def vae():
    return tiny_vae(12)


def _inputs(frames: int):
    faces = torch.from_numpy(parity_faces(frames, SIZE)).float() / 255
    return faces, parity_embeddings(13, frames)


def _settings(**kw) -> SamplerSettings:
    return SamplerSettings(**{"steps": 2, "guidance_scale": 1.5, "seed": 5, "chunk_size": 4, **kw})


def test_plan_chunks_splits_runs_of_faces():
    has_face = np.array([1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1], dtype=bool)
    chunks = plan_chunks(has_face, 3)
    assert [c.tolist() for c in chunks] == [[0, 1, 2], [3, 4], [7, 8], [10]]
    assert [c.tolist() for c in plan_chunks(np.ones(5, bool), 16)] == [[0, 1, 2, 3, 4]]
    assert plan_chunks(np.zeros(4, bool), 16) == []


@pytest.mark.parametrize("chunk", [0, MAX_CHUNK + 1, 32])
def test_chunk_over_24_frames_is_refused(vae, chunk):
    faces, emb = _inputs(2)
    with pytest.raises(BadInputError, match="at most 24 frames"):
        sample_video(StandInUNet(), vae, faces, emb, settings=_settings(chunk_size=chunk))


def test_same_seed_same_output_and_seed_matters(vae):
    faces, emb = _inputs(6)
    unet = StandInUNet()
    a = sample_video(unet, vae, faces, emb, settings=_settings())
    b = sample_video(unet, vae, faces, emb, settings=_settings())
    c = sample_video(unet, vae, faces, emb, settings=_settings(seed=6))
    assert a.shape == faces.shape and a.dtype == torch.float32
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    assert torch.equal(a, b)
    assert float((a - c).abs().max()) > 1e-3


def test_only_the_mouth_region_changes(vae):
    faces, emb = _inputs(3)
    out = sample_video(StandInUNet(), vae, faces, emb, settings=_settings())
    from latentsync_core.lipsync.mask import keep_mask

    keep = torch.from_numpy(np.array(keep_mask(SIZE)))
    fully_kept = keep == 1.0
    regenerated = keep == 0.0
    assert float((out - faces)[:, fully_kept].abs().max()) < 1e-6
    assert float((out - faces)[:, regenerated].abs().mean()) > 1e-2


def test_frames_without_face_pass_through_and_chunks_stop_at_gaps(vae):
    faces, emb = _inputs(9)
    has_face = np.array([1, 1, 1, 0, 0, 1, 1, 1, 1], dtype=bool)
    unet = StandInUNet()
    out = sample_video(unet, vae, faces, emb, has_face=has_face, settings=_settings(steps=1, chunk_size=4))
    assert torch.equal(out[3:5], faces[3:5])
    assert float((out[has_face] - faces[has_face]).abs().max()) > 1e-2
    # One call per step and chunk, CFG batch of 2; chunks [0-2] and [5-8], none across the gap.
    assert [(c[0], c[2]) for c in unet.calls] == [(2, 3), (2, 4)]


def test_no_face_at_all_returns_the_input(vae):
    faces, emb = _inputs(2)
    unet = StandInUNet()
    out = sample_video(unet, vae, faces, emb, has_face=np.zeros(2, bool), settings=_settings())
    assert torch.equal(out, faces) and unet.calls == []


def test_guidance_one_runs_a_single_branch(vae):
    faces, emb = _inputs(2)
    unet = StandInUNet()
    sample_video(unet, vae, faces, emb, settings=_settings(guidance_scale=1.0, steps=1))
    assert [c[0] for c in unet.calls] == [1]


def test_progress_and_interrupt_callbacks(vae):
    faces, emb = _inputs(6)
    seen = []
    sample_video(StandInUNet(), vae, faces, emb, settings=_settings(steps=3, chunk_size=4), on_step=lambda d, t: seen.append((d, t)))
    assert seen == [(i, 6) for i in range(1, 7)]

    class Stop(Exception):
        pass

    checks = []

    def check():
        checks.append(1)
        if len(checks) == 3:
            raise Stop()

    unet = StandInUNet()
    with pytest.raises(Stop):
        sample_video(unet, vae, faces, emb, settings=_settings(steps=3), check_interrupt=check)
    assert len(unet.calls) == 2


def test_bad_inputs_are_reported(vae):
    faces, emb = _inputs(3)
    with pytest.raises(BadInputError, match="one window per video frame"):
        sample_video(StandInUNet(), vae, faces, emb[:2], settings=_settings())
    with pytest.raises(BadInputError, match="alignment covers 2 frames"):
        sample_video(StandInUNet(), vae, faces, emb, has_face=np.ones(2, bool), settings=_settings())
    with pytest.raises(BadInputError, match=r"IMAGE batch \[N, R, R, 3\]"):
        sample_video(StandInUNet(), vae, faces[..., :2], emb, settings=_settings())
