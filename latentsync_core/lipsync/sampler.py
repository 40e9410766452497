"""LatentSync's diffusion sampler: mouth-region inpainting of aligned faces driven by audio.

For every chunk of up to 24 (default 16) consecutive face frames:

1. the aligned faces ``x`` (``[-1, 1]``) are encoded twice with the VAE: the masked
   faces ``x * keep`` (mouth region blacked out) and the full faces as the reference;
   the template keep mask is downsampled (nearest) to the latent grid;
2. starting from one noise frame shared by every frame of the video, DDIM
   (LatentSync's scheduler config, eta 0) denoises the 4 latent channels; the UNet
   sees ``[noisy (4), keep mask (1), masked latents (4), reference latents (4)]``;
   with guidance > 1 each step runs an unconditional branch on all-zero audio
   features and mixes ``uncond + g * (cond - uncond)``;
3. the latents are decoded and the decoded mouth region is pasted over the input
   face by the keep mask.

Random numbers come from one ``torch.Generator`` seeded by ``seed`` on the compute
device, drawn in LatentSync's order: the noise frame first, then per chunk the VAE
posterior samples of the masked faces, then of the reference faces. With the same
weights and device this reproduces LatentSync's pipeline run after ``set_seed(seed)``.

Frames without a face skip the model and pass through. Face frames are chunked
within each run of consecutive face frames, so a chunk never spans a cutaway
(the UNet's temporal attention mixes all frames of a chunk).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler

from ..errors import BadInputError
from .mask import keep_mask
from .settings import DEFAULT_CHUNK, MAX_CHUNK, SamplerSettings  # noqa: F401 (re-exported)
from .vae import LATENT_CHANNELS, LATENT_SCALE, LATENT_SHIFT, VAE_DOWNSCALE

SCHEDULER_CONFIG = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
}
"""LatentSync's ``configs/scheduler_config.json`` as a diffusers ``DDIMScheduler`` config."""

StepCallback = Callable[[int, int], None]
"""``on_step(done, total)``: called after every denoising step of every chunk."""
InterruptCheck = Callable[[], None]
"""``check_interrupt()``: called before every step; raises to stop sampling."""


def make_scheduler() -> DDIMScheduler:
    """A fresh DDIM scheduler with LatentSync's configuration."""
    return DDIMScheduler(**SCHEDULER_CONFIG)


def plan_chunks(has_face: np.ndarray, chunk_size: int) -> list[np.ndarray]:
    """Split the face frames into chunks for the UNet.

    Args:
        has_face: ``(N,)`` bool.
        chunk_size: most frames per chunk.

    Returns:
        Index arrays (int64, increasing) of consecutive face frames: every run of
        consecutive face frames is cut into pieces of ``chunk_size`` from its start
        (the last piece may be shorter). With faces everywhere this is LatentSync's
        chunking of the video.
    """
    flags = np.asarray(has_face, dtype=bool)
    padded = np.concatenate([[False], flags, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    chunks: list[np.ndarray] = []
    for start, stop in zip(edges[0::2], edges[1::2]):
        for s in range(start, stop, chunk_size):
            chunks.append(np.arange(s, min(s + chunk_size, stop), dtype=np.int64))
    return chunks


def _unet_output(out: Any) -> torch.Tensor:
    """The noise prediction of a UNet call that returns a tensor, a tuple or an object with ``.sample``."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return out[0]
    return out.sample


class DeepCache:
    """DeepCache (branch 0) on a diffusers-style UNet (``down_blocks``, ``mid_block``, ``up_blocks``).

    On a *full* step every block runs and its output is stored. On a *reuse* step
    every down block, the mid block, every up block but the last, and every layer
    of the last up block but its final resnet/attention return their stored outputs;
    only ``conv_in``, the time embedding, the last up block's final resnet and
    attention (fed by the fresh ``conv_in`` skip connection), its temporal modules
    and the output head run. This is what LatentSync's ``DeepCacheSDHelper``
    (``cache_interval=3, cache_branch_id=0``) does to its UNet. Which steps reuse is set by :meth:`set_step`: step ``i`` of a chunk is
    full when ``i % interval == 0``.
    """

    def __init__(self, unet: torch.nn.Module, interval: int) -> None:
        self.interval = interval
        self.reuse = False
        self._outputs: dict[int, Any] = {}
        last = unet.up_blocks[-1]
        modules: list[torch.nn.Module] = [*unet.down_blocks, unet.mid_block, *unet.up_blocks[:-1]]
        modules += list(last.resnets[:-1]) + list(getattr(last, "attentions", None) or [])[:-1]
        self._modules = modules

    def set_step(self, index: int) -> None:
        """Select full or reuse mode for step ``index`` (0-based within a chunk)."""
        self.reuse = index % self.interval != 0
        if not self.reuse:
            self._outputs.clear()

    @contextmanager
    def attached(self) -> Iterator["DeepCache"]:
        """Patch the cached modules' ``forward`` for the duration of the block."""
        saved = [module.__dict__.get("forward") for module in self._modules]
        for module in self._modules:
            module.forward = self._wrap(module)
        try:
            yield self
        finally:
            for module, forward in zip(self._modules, saved):
                if forward is None:
                    del module.forward
                else:
                    module.forward = forward
            self._outputs.clear()

    def _wrap(self, module: torch.nn.Module) -> Callable[..., Any]:
        original = module.forward
        key = id(module)

        def forward(*args: Any, **kwargs: Any) -> Any:
            if self.reuse and key in self._outputs:
                return self._outputs[key]
            out = original(*args, **kwargs)
            self._outputs[key] = out
            return out

        return forward


@contextmanager
def _maybe_deep_cache(unet: torch.nn.Module, interval: int) -> Iterator[DeepCache | None]:
    if interval <= 1:
        yield None
        return
    if not all(hasattr(unet, name) for name in ("down_blocks", "mid_block", "up_blocks")):
        raise BadInputError("DeepCache needs a diffusers-style UNet (down_blocks, mid_block, up_blocks); turn it off.")
    with DeepCache(unet, interval).attached() as cache:
        yield cache


def faces_to_pixels(faces: torch.Tensor) -> torch.Tensor:
    """``(f, R, R, 3)`` float ``[0, 1]`` -> ``(f, 3, R, R)`` in ``[-1, 1]``."""
    return (faces.permute(0, 3, 1, 2) - 0.5) / 0.5


def pixels_to_faces(pixels: torch.Tensor) -> torch.Tensor:
    """``(f, 3, R, R)`` in ``[-1, 1]`` -> ``(f, R, R, 3)`` float ``[0, 1]`` (clamped)."""
    return (pixels / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)


def encode(vae: torch.nn.Module, pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Sample scaled latents of ``(f, 3, R, R)`` pixels in ``[-1, 1]``: ``(f, 4, R/8, R/8)``.

    Draws ``f * 4 * (R/8)^2`` normals from ``generator`` (one posterior sample per frame).
    """
    posterior = vae.encode(pixels).latent_dist
    return (posterior.sample(generator=generator) - LATENT_SHIFT) * LATENT_SCALE


def decode(vae: torch.nn.Module, latents: torch.Tensor) -> torch.Tensor:
    """Scaled latents ``(f, 4, h, w)`` -> pixels ``(f, 3, 8h, 8w)`` in about ``[-1, 1]``."""
    return vae.decode(latents / LATENT_SCALE + LATENT_SHIFT).sample


@dataclass
class ChunkConditioning:
    """The UNet's fixed inputs for one chunk of ``f`` frames (batch ``b`` = 2 with guidance, else 1).

    Attributes:
        mask: ``(b, 1, f, h, w)`` keep mask on the latent grid (1 keep, 0 mouth).
        masked: ``(b, 4, f, h, w)`` latents of the masked faces.
        reference: ``(b, 4, f, h, w)`` latents of the full faces.
        audio: ``(b*f, T, D)`` audio features; the first ``f`` all zero with guidance.
        pixels: ``(f, 3, R, R)`` the faces in ``[-1, 1]`` (for the paste).
        keep: ``(1, 1, R, R)`` keep mask at face resolution (for the paste).
    """

    mask: torch.Tensor
    masked: torch.Tensor
    reference: torch.Tensor
    audio: torch.Tensor
    pixels: torch.Tensor
    keep: torch.Tensor


def prepare_chunk(
    vae: torch.nn.Module,
    faces: torch.Tensor,
    audio: torch.Tensor,
    keep: torch.Tensor,
    generator: torch.Generator,
    guidance: bool,
    dtype: torch.dtype,
) -> ChunkConditioning:
    """Encode one chunk's faces and stack its conditioning.

    Args:
        vae: diffusers ``AutoencoderKL``-like module (``encode(x).latent_dist``, ``decode(z).sample``).
        faces: ``(f, R, R, 3)`` float ``[0, 1]`` on the compute device.
        audio: ``(f, T, D)`` audio features on the compute device.
        keep: ``(R, R)`` keep mask (1 keep, 0 mouth) on the compute device.
        generator: the sampler's generator (masked faces are sampled first, then the references).
        guidance: add the zero-audio branch.
        dtype: UNet compute dtype.
    """
    vae_dtype = next(vae.parameters()).dtype
    pixels = faces_to_pixels(faces.to(vae_dtype))
    keep4 = keep.to(vae_dtype)[None, None]
    masked = encode(vae, pixels * keep4, generator).to(dtype)
    reference = encode(vae, pixels, generator).to(dtype)
    mask = F.interpolate(keep4.to(dtype), size=masked.shape[-2:])  # nearest, as LatentSync
    f = faces.shape[0]
    batch = 2 if guidance else 1

    def to_video(x: torch.Tensor) -> torch.Tensor:  # (f, c, h, w) -> (batch, c, f, h, w)
        return x.permute(1, 0, 2, 3).unsqueeze(0).expand(batch, -1, -1, -1, -1)

    audio = audio.to(dtype)
    if guidance:
        audio = torch.cat([torch.zeros_like(audio), audio])
    return ChunkConditioning(
        mask=to_video(mask.expand(f, -1, -1, -1)),
        masked=to_video(masked),
        reference=to_video(reference),
        audio=audio,
        pixels=pixels,
        keep=keep4,
    )


def denoise_chunk(
    unet: torch.nn.Module,
    scheduler: DDIMScheduler,
    latents: torch.Tensor,
    cond: ChunkConditioning,
    guidance_scale: float,
    deep_cache: DeepCache | None = None,
    before_step: Callable[[], None] | None = None,
    after_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Run the DDIM loop on one chunk.

    Args:
        unet: ``unet(sample (b, 13, f, h, w), t, encoder_hidden_states=(b*f, T, D))``
            -> noise ``(b, 4, f, h, w)`` (tensor, tuple or ``.sample``).
        scheduler: DDIM scheduler with ``set_timesteps`` already called.
        latents: ``(1, 4, f, h, w)`` initial noise.
        cond: from :func:`prepare_chunk` (its batch decides whether guidance runs).
        guidance_scale: mix of the audio and zero-audio predictions.
        deep_cache: optional :class:`DeepCache` attached to ``unet``.
        before_step, after_step: called around every step (interrupt check, progress).

    Returns:
        ``(1, 4, f, h, w)`` denoised latents.
    """
    guidance = cond.masked.shape[0] == 2
    for index, t in enumerate(scheduler.timesteps):
        if before_step is not None:
            before_step()
        if deep_cache is not None:
            deep_cache.set_step(index)
        noisy = torch.cat([latents] * 2) if guidance else latents
        noisy = scheduler.scale_model_input(noisy, t)
        model_input = torch.cat([noisy, cond.mask, cond.masked, cond.reference], dim=1)
        noise = _unet_output(unet(model_input, t, encoder_hidden_states=cond.audio))
        if guidance:
            uncond, audio = noise.chunk(2)
            noise = uncond + guidance_scale * (audio - uncond)
        latents = scheduler.step(noise, t, latents, eta=0.0).prev_sample
        if after_step is not None:
            after_step()
    return latents


def decode_and_paste(vae: torch.nn.Module, latents: torch.Tensor, cond: ChunkConditioning) -> torch.Tensor:
    """Decode ``(1, 4, f, h, w)`` latents and paste the mouth region over the input faces.

    Returns:
        ``(f, R, R, 3)`` float ``[0, 1]``.
    """
    vae_dtype = next(vae.parameters()).dtype
    frames = latents[0].permute(1, 0, 2, 3).to(vae_dtype)
    decoded = decode(vae, frames)
    pasted = decoded * (1 - cond.keep) + cond.pixels * cond.keep
    return pixels_to_faces(pasted)


def _check_inputs(faces: torch.Tensor, embeddings: torch.Tensor, has_face: np.ndarray) -> None:
    if faces.ndim != 4 or faces.shape[-1] != 3 or faces.shape[1] != faces.shape[2]:
        raise BadInputError(
            f"Aligned faces must be an IMAGE batch [N, R, R, 3] of square faces; got shape {tuple(faces.shape)}. "
            "Connect the aligned faces output of the LatentSync face-alignment node."
        )
    res = faces.shape[1]
    if res % VAE_DOWNSCALE != 0:
        raise BadInputError(f"Face resolution {res} is not a multiple of {VAE_DOWNSCALE}; align faces at 256 or 512 px.")
    n = faces.shape[0]
    if embeddings.ndim != 3 or embeddings.shape[0] != n:
        raise BadInputError(
            f"Audio embeddings must be [N={n}, tokens, dim], one window per video frame; got shape "
            f"{tuple(embeddings.shape)}. Encode the audio for the same frame count and fps as the video."
        )
    if has_face.shape != (n,):
        raise BadInputError(
            f"The alignment covers {has_face.shape[0] if has_face.ndim else 0} frames but {n} faces were given; "
            "use the alignment made with these faces."
        )


class ChunkSampler:
    """Samples a video chunk by chunk, in order, with one generator: the chunk-level API.

    Use as a context manager (it attaches DeepCache to the UNet while entered; it may be entered
    again, e.g. around each call, so that samplers sharing a UNet take turns).
    Creating it seeds the generator and draws the noise frame shared by every chunk;
    each call then samples the next chunk, drawing its VAE posterior samples, so
    calling it on the chunks of :func:`plan_chunks` in order gives exactly the frames
    :func:`sample_video` gives for the whole video, without holding the whole video.

    Args:
        unet, vae: as for :func:`sample_video`.
        resolution: side ``R`` of the aligned faces (a multiple of 8).
        chunks: number of chunks that will be sampled (for the progress total).
        settings: steps, guidance, seed, chunk size, DeepCache.
        device, dtype: compute device (the generator lives there) and UNet dtype.
        on_step: progress callback ``(done, total)``, total = steps x ``chunks``.
        check_interrupt: called before every step; raise from it to stop.
        keep: ``(R, R)`` keep mask replacing the template's (see :func:`sample_video`).
    """

    def __init__(
        self,
        unet: torch.nn.Module,
        vae: torch.nn.Module,
        resolution: int,
        chunks: int,
        settings: SamplerSettings = SamplerSettings(),
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        on_step: StepCallback | None = None,
        check_interrupt: InterruptCheck | None = None,
        keep: np.ndarray | None = None,
    ) -> None:
        settings.validate()
        if resolution % VAE_DOWNSCALE != 0:
            raise BadInputError(f"Face resolution {resolution} is not a multiple of {VAE_DOWNSCALE}; align faces at 256 or 512 px.")
        self.unet, self.vae, self.settings = unet, vae, settings
        self.resolution = resolution
        self.device, self.dtype = torch.device(device), dtype
        self.on_step, self.check_interrupt = on_step, check_interrupt
        self.total = settings.steps * chunks
        self.done = 0
        self.scheduler = make_scheduler()
        self.scheduler.set_timesteps(settings.steps, device=self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(int(settings.seed))
        latent_size = resolution // VAE_DOWNSCALE
        noise = torch.randn(
            (1, LATENT_CHANNELS, 1, latent_size, latent_size), generator=self.generator, device=self.device, dtype=dtype
        )
        self.noise = noise * self.scheduler.init_noise_sigma
        keep_np = keep_mask(resolution) if keep is None else np.asarray(keep, dtype=np.float32)
        if keep_np.shape != (resolution, resolution):
            raise BadInputError(
                f"The keep mask is {keep_np.shape}, the faces are {resolution} x {resolution}; give a mask of the face size."
            )
        self.keep = torch.from_numpy(np.array(keep_np)).to(self.device)
        self._cache_context: Any = None
        self._cache: DeepCache | None = None

    def __enter__(self) -> "ChunkSampler":
        # attached anew on every entry: samplers of one UNet can take turns (one entered at a time)
        self._cache_context = _maybe_deep_cache(self.unet, self.settings.deep_cache_interval)
        self._cache = self._cache_context.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._cache = None
        self._cache_context.__exit__(*exc)

    def _after_step(self) -> None:
        self.done += 1
        if self.on_step is not None:
            self.on_step(self.done, self.total)

    @torch.inference_mode()
    def __call__(self, faces: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        """Sample the next chunk.

        Args:
            faces: ``(f, R, R, 3)`` float ``[0, 1]`` aligned faces (1 <= f <= chunk size), any device.
            embeddings: ``(f, T, D)`` audio features of the same frames.

        Returns:
            ``(f, R, R, 3)`` float32 ``[0, 1]`` on the CPU.
        """
        f = faces.shape[0]
        if tuple(faces.shape[1:]) != (self.resolution, self.resolution, 3) or not 1 <= f <= self.settings.chunk_size:
            raise BadInputError(
                f"A chunk must be 1..{self.settings.chunk_size} aligned faces of {self.resolution} x {self.resolution}; "
                f"got shape {tuple(faces.shape)}."
            )
        if embeddings.shape[0] != f:
            raise BadInputError(f"A chunk of {f} faces needs {f} audio windows, got {embeddings.shape[0]}.")
        cond = prepare_chunk(
            self.vae, faces.to(self.device), embeddings.to(self.device), self.keep, self.generator,
            self.settings.guidance_scale > 1.0, self.dtype,
        )
        latents = self.noise.expand(-1, -1, f, -1, -1).clone()
        latents = denoise_chunk(
            self.unet, self.scheduler, latents, cond, self.settings.guidance_scale, self._cache,
            self.check_interrupt, self._after_step,
        )
        return decode_and_paste(self.vae, latents, cond).to("cpu", torch.float32)


def sample_video(
    unet: torch.nn.Module,
    vae: torch.nn.Module,
    faces: torch.Tensor,
    embeddings: torch.Tensor,
    has_face: np.ndarray | Sequence[bool] | None = None,
    settings: SamplerSettings = SamplerSettings(),
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    on_step: StepCallback | None = None,
    check_interrupt: InterruptCheck | None = None,
    keep: np.ndarray | None = None,
) -> torch.Tensor:
    """Lip-sync a video of aligned faces to per-frame audio features.

    Args:
        unet: the LatentSync UNet (or any module with its call signature; see :func:`denoise_chunk`),
            already on ``device`` in ``dtype``.
        vae: diffusers ``AutoencoderKL`` (sd-vae-ft-mse layout) on ``device``.
        faces: ``(N, R, R, 3)`` float ``[0, 1]`` aligned faces (ComfyUI IMAGE layout), any device.
        embeddings: ``(N, T, D)`` audio features, one window per frame (``(N, 50, 384)`` for Whisper tiny).
        has_face: ``(N,)`` bool; False frames are returned unchanged. Default: all True.
        settings: steps, guidance, seed, chunk size, DeepCache.
        device: compute device; the generator lives there too.
        dtype: UNet compute dtype (the VAE runs in its own dtype).
        on_step: progress callback ``(done, total)``, total = steps x chunks.
        check_interrupt: called before every step; raise from it to stop.
        keep: ``(R, R)`` keep mask in ``[0, 1]`` (1 keep, 0 regenerate) replacing the
            template's :func:`~latentsync_core.mask.keep_mask`.

    Returns:
        ``(N, R, R, 3)`` float32 ``[0, 1]`` on the CPU; each chunk is decoded and moved
        there as soon as it is done (see :class:`ChunkSampler` for the chunk-level API).
    """
    settings.validate()
    n = faces.shape[0]
    flags = np.ones(n, dtype=bool) if has_face is None else np.asarray(has_face, dtype=bool)
    _check_inputs(faces, embeddings, flags)
    out = faces.detach().to("cpu", torch.float32, copy=True)
    chunks = plan_chunks(flags, settings.chunk_size)
    if not chunks:
        return out
    with ChunkSampler(
        unet, vae, faces.shape[1], len(chunks), settings, device, dtype, on_step, check_interrupt, keep
    ) as sampler:
        for index in chunks:
            idx = torch.from_numpy(index)
            out[idx] = sampler(faces[idx], embeddings[idx])
    return out
