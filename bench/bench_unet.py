"""UNet step time: LatentSyncUNet vs the reference UNet3DConditionModel, same config/weights/dtype.

Needs a clone of bytedance/LatentSync (``--reference``) and a Python with einops (the
reference's dependency), e.g.::

    nice -n 10 /work/venv-ref/bin/python bench/bench_unet.py --config mid --threads 1

Prints the median step time of each model over ``--repeats`` alternating runs (after one
warm-up each), as wall-clock and as this process's CPU time (steadier on a shared machine
when run on one thread), their ratios (ours / reference) and the outputs' max abs difference.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import types

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from latentsync_core.lipsync.unet import LatentSyncUNetConfig, build_unet, map_reference_state_dict  # noqa: E402

CONFIGS = {
    "tiny": LatentSyncUNetConfig.tiny(),
    "mid": LatentSyncUNetConfig(block_out_channels=(128, 256, 512, 512), name="mid (blocks 128-512)"),
    "full": LatentSyncUNetConfig.v15(),
}


def reference_unet(repo: str, config: LatentSyncUNetConfig, dtype: torch.dtype) -> torch.nn.Module:
    """The reference model for ``config``, built from the clone at ``repo``.

    ``latentsync.utils.util`` pulls in video/audio I/O packages the model does not use; a
    stand-in providing its one used function (a logger call) is registered instead.
    """
    util = types.ModuleType("latentsync.utils.util")
    util.zero_rank_log = lambda logger, message: logger.info(message)
    sys.modules["latentsync.utils.util"] = util
    sys.path.insert(0, repo)
    from latentsync.models.unet import UNet3DConditionModel

    n = len(config.block_out_channels)
    model = UNet3DConditionModel(
        in_channels=config.in_channels,
        out_channels=config.out_channels,
        down_block_types=("CrossAttnDownBlock3D",) * (n - 1) + ("DownBlock3D",),
        up_block_types=("UpBlock3D",) + ("CrossAttnUpBlock3D",) * (n - 1),
        block_out_channels=tuple(config.block_out_channels),
        layers_per_block=config.layers_per_block,
        norm_num_groups=config.norm_num_groups,
        norm_eps=config.norm_eps,
        cross_attention_dim=config.cross_attention_dim,
        attention_head_dim=config.attention_heads,
        add_audio_layer=True,
        use_motion_module=True,
        motion_module_resolutions=(1, 2, 4, 8),
        motion_module_mid_block=False,
        motion_module_decoder_only=False,
        motion_module_type="Vanilla",
        motion_module_kwargs=dict(
            num_attention_heads=config.motion_attention_heads,
            num_transformer_block=1,
            attention_block_types=("Temporal_Self", "Temporal_Self"),
            temporal_position_encoding=True,
            temporal_position_encoding_max_len=config.motion_max_frames,
            temporal_attention_dim_div=1,
            zero_initialize=True,
        ),
    )
    return model.to(dtype).eval()


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Seeded random weights (N(0, 1/fan_in) matrices, norms near 1) in place; buffers kept."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=gen)
            if p.ndim >= 2:
                p.copy_(noise / math.sqrt(p[0].numel()))
            elif name.endswith(".weight"):
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(0.1 * noise)


def time_step(model, args) -> tuple[float, float]:
    """(wall-clock s, process CPU s) of one forward pass, waiting for the GPU if on one."""
    wall, cpu = time.perf_counter(), time.process_time()
    with torch.no_grad():
        out = model(*args)
    if out.is_cuda:
        torch.cuda.synchronize(out.device)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default="/work/ref/bytedance+LatentSync", help="bytedance/LatentSync clone")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="mid")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--latent-size", type=int, default=32, help="latent height = width (256 px faces: 32)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    a = parser.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    config, dtype = CONFIGS[a.config], getattr(torch, a.dtype)

    ref = reference_unet(a.reference, config, dtype)
    randomize(ref, seed=0)
    ours = build_unet(config, device="meta", dtype=dtype)
    ours.load_state_dict(map_reference_state_dict(ref.state_dict()), strict=True, assign=True)
    # assign=True shares the reference's tensors; clone so neither model aliases the other.
    ours = ours.to(a.device)
    for p in ours.parameters():
        p.data = p.data.clone()
    ref = ref.to(a.device)

    gen = torch.Generator().manual_seed(1)
    f, s = a.frames, a.latent_size
    sample = torch.randn((1, config.in_channels, f, s, s), generator=gen).to(a.device, dtype)
    audio = torch.randn((f, 50, config.cross_attention_dim), generator=gen).to(a.device, dtype)
    t = torch.tensor(500, device=a.device)

    def run_reference(sample, t, audio):
        return ref(sample, t, encoder_hidden_states=audio).sample

    with torch.no_grad():  # also the warm-up of both models
        diff = (ours(sample, t, audio).float() - run_reference(sample, t, audio).float()).abs().max()
    times = {"ours": [], "reference": []}
    for _ in range(a.repeats):
        times["reference"].append(time_step(run_reference, (sample, t, audio)))
        times["ours"].append(time_step(ours, (sample, t, audio)))
    params = sum(p.numel() for p in ours.parameters())
    print(f"config: {a.config} = {config.name}, {params / 1e6:.1f} M params, blocks {list(config.block_out_channels)}")
    print(f"input: 1 x {config.in_channels} x {f} frames x {s}x{s} latents, {a.dtype}, {a.device}, "
          f"{torch.get_num_threads()} threads, {a.repeats} timed runs each after 1 warm-up")
    for i, clock in enumerate(("wall", "cpu")):
        ref_runs, our_runs = [r[i] for r in times["reference"]], [r[i] for r in times["ours"]]
        ref_s, ours_s = statistics.median(ref_runs), statistics.median(our_runs)
        print(f"{clock:4} reference median {ref_s:.3f} s (runs {', '.join(f'{x:.3f}' for x in ref_runs)}); "
              f"ours median {ours_s:.3f} s (runs {', '.join(f'{x:.3f}' for x in our_runs)}); "
              f"ratio ours/reference {ours_s / ref_s:.3f}")
    print(f"max abs output difference: {float(diff):.3g}")


if __name__ == "__main__":
    main()
