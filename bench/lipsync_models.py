"""Random-weight lip-sync models and test speech shared by the lip-sync memory benches.

The tiny LatentSync UNet (``LatentSyncUNetConfig.tiny()``), the VAE at the real
sd-vae-ft-mse size (``"real"``) or the tiny test VAE (``"tiny"``), and a Whisper
encoder at Whisper tiny's real size (so the audio features are as large as the real
model's: 5 layers x 384 values per 20 ms step).
"""
from __future__ import annotations

import math

WHISPER_TINY = {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 384, "n_audio_head": 6, "n_audio_layer": 4}


def tiny_models(vae: str = "real", device: str = "cpu"):
    """:class:`~latentsync_core.job.LipSyncModels` with random weights (seeded)."""
    import torch

    from latentsync_core.job import LipSyncModels
    from latentsync_core.lipsync.unet import LatentSyncUNetConfig, build_unet
    from latentsync_core.lipsync.vae import SD_VAE_CONFIG, TINY_VAE_CONFIG, build_vae
    from latentsync_core.lipsync.whisper import WhisperAudioEncoder

    torch.manual_seed(0)
    where = torch.device(device)
    unet = build_unet(LatentSyncUNetConfig.tiny(), device=where).eval()
    autoencoder = build_vae(SD_VAE_CONFIG if vae == "real" else TINY_VAE_CONFIG, device=where).eval()
    return LipSyncModels(unet, autoencoder, WhisperAudioEncoder(WHISPER_TINY).eval(), where)


def tone(seconds: float, rate: int = 16000, channels: int = 1):
    """``[C, T]`` float32: a 220 Hz tone with a 4 Hz tremolo, ``seconds`` long (the same in every channel),
    made a minute at a time so that making an hour of it does not raise the peak memory."""
    import torch

    n = round(seconds * rate)
    out = torch.empty(channels, n)
    for first in range(0, n, 60 * rate):
        t = torch.arange(first, min(n, first + 60 * rate)) / rate
        out[:, first:first + t.shape[0]] = 0.2 * torch.sin(2 * math.pi * 220 * t) * (0.6 + 0.4 * torch.sin(2 * math.pi * 4 * t))
    return out


def reset_peak_rss() -> bool:
    """Start the peak resident memory (``VmHWM``) afresh (Linux); False where it cannot be."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss(since_reset: bool) -> int:
    """Peak resident bytes: ``VmHWM`` since :func:`reset_peak_rss`, else the process's ``ru_maxrss``."""
    import resource

    if since_reset:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
