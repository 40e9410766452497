"""Seeded SyncNet weights and the reference fixture of the SyncNet tests.

``tests/data/syncnet_parity.npz`` was made by running joonson/syncnet_python at commit
6efbb1c (``SyncNetInstance.evaluate`` and ``run_pipeline.crop_video``, with
python_speech_features 0.6 and scipy 1.17) on the CPU, outside this repository:

* weights: :func:`random_weights` with ``seed`` (stored), loaded into the reference ``S``;
* ``evaluate``: its two ffmpeg calls were replaced by writing the 40 crops
  ``crops_base_bgr.repeat(8, 1).repeat(8, 2)`` as PNG bytes under its ``%06d.jpg`` names
  (so ``cv2.imread`` reads them losslessly) and ``audio`` (int16, 16 kHz) as its
  ``audio.wav``; ``batch_size=20, vshift=15``. Stored: the MFCCs of ``audio`` from
  ``python_speech_features.mfcc(audio, 16000)``, every 4th lip/audio embedding
  (``embedding_rows``) captured from ``forward_lip``/``forward_aud``, the returned
  distances, offset and confidence, and ``min_dist`` = the minimum over shifts of the
  mean of those distances (the value it prints as "Min dist");
* ``crop_video``: run on a 14-frame track (``crop_boxes``) of synthetic 72x96 frames with
  ``crop_scale=0.4``, its ``cv2.VideoWriter`` replaced by one that keeps the frames it is
  given. Stored: the smoothed ``x, y, s`` it returns, and for frames ``crop_keep`` the
  source frame and the 224x224 crop it wrote.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from repo_paths import DATA

PARITY = os.path.join(DATA, "syncnet_parity.npz")


def random_weights(state: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Seeded values for every key of a SyncNet state dict (numpy ``default_rng(seed)``, keys sorted).

    Conv/linear weights ~ N(0, 1/fan_in) (the first layer of each stream further /100, as
    its inputs are 0..255 pixels and MFCCs of 16-bit audio), biases ~ N(0, 0.05),
    BatchNorm scale ~ U(0.8, 1.2), running mean ~ N(0, 0.1), running var ~ U(0.5, 1.5).
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name in sorted(state):
        shape = tuple(state[name].shape)
        if name.endswith("num_batches_tracked"):
            out[name] = state[name].clone()
            continue
        if name.endswith("running_mean"):
            v = rng.normal(0.0, 0.1, shape)
        elif name.endswith("running_var"):
            v = rng.uniform(0.5, 1.5, shape)
        elif len(shape) == 1 and name.endswith("weight"):
            v = rng.uniform(0.8, 1.2, shape)
        elif name.endswith("bias"):
            v = rng.normal(0.0, 0.05, shape)
        else:
            v = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shape[1:])), shape)
            if name in ("netcnnlip.0.weight", "netcnnaud.0.weight"):
                v = v / 100.0
        out[name] = torch.from_numpy(v).float()
    return out


def load_parity() -> dict[str, np.ndarray]:
    with np.load(PARITY) as data:
        return {k: data[k] for k in data.files}
