"""LatentSync lip-sync core: face geometry, audio, models and sampler.

Nothing in this package imports ComfyUI; ``nodes/`` adapts it to ComfyUI types.
"""
