"""LatentSync inference: UNet, checkpoints, VAE, Whisper, audio windows, mask and sampler."""
