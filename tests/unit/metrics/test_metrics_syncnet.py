"""SyncNet parity with the reference evaluation (joonson/syncnet_python), MFCC equality, file layouts."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from latentsync_core.errors import BadInputError
from latentsync_core.metrics.mfcc import mfcc
from latentsync_core.metrics.sync_eval import (
    LipEmbedder, embed_audio, face_crop, offset_scores, smooth_track, window_count,
)
from latentsync_core.metrics.syncnet import SyncNet, load_syncnet
from syncnet_fixtures import load_parity, random_weights


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    return load_parity()


@pytest.fixture(scope="module")
def model(ref) -> SyncNet:
    net = SyncNet()
    net.load_state_dict(random_weights(net.state_dict(), int(ref["seed"])))
    return net.eval()


def test_mfcc_equals_python_speech_features(ref):
    ours = mfcc(ref["audio"])
    assert ours.shape == ref["mfcc"].shape
    np.testing.assert_allclose(ours, ref["mfcc"], rtol=0, atol=1e-8)


def test_embeddings_and_scores_match_reference(ref, model):
    """Same weights, crops and audio as the reference run: embeddings within 1e-4, LSE-C/D within 1e-3, same offset."""
    torch.set_num_threads(1)
    crops_rgb = ref["crops_base_bgr"].repeat(8, axis=1).repeat(8, axis=2)[..., ::-1]
    n = window_count(len(crops_rgb), len(ref["audio"]))
    assert n == len(ref["dists"])
    lips = LipEmbedder(model, n, batch_size=20)
    for start in range(0, len(crops_rgb), 7):  # fed in uneven pieces, as a video is read
        lips.add(crops_rgb[start:start + 7])
    lip = lips.finish()
    aud = embed_audio(model, ref["audio"], n)
    rows = ref["embedding_rows"]
    np.testing.assert_allclose(lip.numpy()[rows], ref["lip_embeddings"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(aud.numpy()[rows], ref["audio_embeddings"], rtol=0, atol=1e-4)

    scores = offset_scores(lip, aud)
    np.testing.assert_allclose(scores.mean_distances, ref["dists"].mean(axis=0), rtol=0, atol=1e-3)
    assert scores.offset == int(ref["offset"])
    assert scores.confidence == pytest.approx(float(ref["confidence"]), abs=1e-3)
    assert scores.distance == pytest.approx(float(ref["min_dist"]), abs=1e-3)


def test_crop_matches_reference_crop_video(ref):
    smoothed = smooth_track(ref["crop_boxes"])
    x, y, s = smoothed.T
    np.testing.assert_allclose(smoothed, ref["crop_smoothed"], rtol=0, atol=1e-9)
    for frame, index, expected in zip(ref["crop_frames"], ref["crop_keep"], ref["crop_out_bgr"]):
        crop = face_crop(frame, x[index], y[index], s[index])
        np.testing.assert_array_equal(crop, expected)


@pytest.mark.parametrize("layout", ["legacy_no_counters", "nested_prefixed"])
def test_official_layouts_load(tmp_path, layout):
    """The official file: an old-torch state dict without BatchNorm counters; also nested/prefixed copies."""
    net = SyncNet()
    weights = random_weights(net.state_dict(), 7)
    path = tmp_path / "syncnet_v2.model"
    if layout == "legacy_no_counters":
        state = {k: v for k, v in weights.items() if not k.endswith("num_batches_tracked")}
        torch.save(state, path, _use_new_zipfile_serialization=False)
    else:
        torch.save({"state_dict": {f"__S__.{k}": v for k, v in weights.items()}}, path)
    loaded = load_syncnet(path)
    for key, value in loaded.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(value, weights[key]), key
    assert not loaded.training


def test_wrong_file_is_one_line_error(tmp_path):
    path = tmp_path / "syncnet_v2.model"
    torch.save({"netcnnaud.0.weight": torch.zeros(3)}, path)
    with pytest.raises(BadInputError, match="syncnet_v2.model"):
        load_syncnet(path)
