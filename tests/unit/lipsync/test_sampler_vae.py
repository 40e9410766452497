"""Loading the SD 1.x VAE from single files in the original (LDM) key layout.

The LDM-layout files are written here from a seeded diffusers ``AutoencoderKL`` with an
independent diffusers -> LDM key map (tests/support/vae_layouts.py; the layout of ``vae-ft-mse-840000-ema-pruned``:
``encoder.down.{i}.block.{j}``, ``mid.attn_1.{q,k,v,proj_out}`` as 1x1 convs, ...), so a
load must reproduce the original tensors exactly.
"""
import logging
import os

import pytest
import torch
from safetensors.torch import save_file

from latentsync_core.errors import BadInputError, MissingModelError
from latentsync_core.lipsync.vae import SD_VAE_CONFIG, TINY_VAE_CONFIG, build_vae, load_vae
from sampler_fixtures import tiny_vae
from vae_layouts import ldm_state_dict


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_ldm_safetensors_loads_exactly(tmp_path):
    vae = tiny_vae(3)
    path = os.path.join(tmp_path, "vae.safetensors")
    save_file(ldm_state_dict(vae), path)
    _assert_same_weights(load_vae(path, TINY_VAE_CONFIG), vae)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_loading_in_a_dtype_logs_nothing(tmp_path, caplog, dtype):
    # diffusers' ModelMixin.to() warns about "modules ... kept in float32" on every cast with a dtype
    path = os.path.join(tmp_path, "vae.safetensors")
    save_file(ldm_state_dict(tiny_vae(3)), path)
    with caplog.at_level(logging.WARNING, logger="diffusers"):
        vae = load_vae(path, TINY_VAE_CONFIG, dtype=dtype)
        build_vae(TINY_VAE_CONFIG, dtype=dtype)
    assert next(vae.parameters()).dtype == dtype and not vae.training
    assert caplog.records == [], [r.getMessage() for r in caplog.records]


def test_full_checkpoint_ckpt_with_prefix_loads(tmp_path):
    vae = tiny_vae(4)
    sd = {f"first_stage_model.{k}": v for k, v in ldm_state_dict(vae).items()}
    sd["model.diffusion_model.conv_in.weight"] = torch.zeros(2)
    path = os.path.join(tmp_path, "model.ckpt")
    torch.save({"state_dict": sd}, path)
    _assert_same_weights(load_vae(path, TINY_VAE_CONFIG), vae)


def test_diffusers_layout_file_loads(tmp_path):
    vae = tiny_vae(5)
    path = os.path.join(tmp_path, "diffusion_pytorch_model.safetensors")
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, path)
    _assert_same_weights(load_vae(path, TINY_VAE_CONFIG), vae)


def test_missing_file_names_file_folder_and_url(tmp_path):
    with pytest.raises(MissingModelError, match="huggingface.co") as err:
        load_vae(os.path.join(tmp_path, "vae-ft-mse-840000-ema-pruned.safetensors"))
    assert err.value.file_name == "vae-ft-mse-840000-ema-pruned.safetensors"


def test_wrong_vae_is_refused(tmp_path):
    sd = ldm_state_dict(tiny_vae(6))
    sd["decoder.conv_in.weight"] = torch.zeros(16, 16, 3, 3)
    path = os.path.join(tmp_path, "sdxl_like.safetensors")
    save_file(sd, path)
    with pytest.raises(BadInputError, match="16 latent channels"):
        load_vae(path, TINY_VAE_CONFIG)
    sd = ldm_state_dict(tiny_vae(6))
    del sd["decoder.norm_out.bias"]
    save_file(sd, path)
    with pytest.raises(BadInputError, match="1 missing keys"):
        load_vae(path, TINY_VAE_CONFIG)
    save_file(ldm_state_dict(tiny_vae(6)), path)  # narrower layers (torch would raise a bare RuntimeError)
    with pytest.raises(BadInputError, match=r"174 of another shape, e\.g\. \['encoder\.conv_in\.weight'"):
        load_vae(path, SD_VAE_CONFIG)


def test_sd_vae_config_is_the_sd_vae_ft_mse_architecture():
    vae = build_vae(SD_VAE_CONFIG, device="meta")
    assert sum(p.numel() for p in vae.parameters()) == 83_653_863
    assert len(ldm_state_dict(vae)) == len(vae.state_dict()) == 248
