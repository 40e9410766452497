"""``bench_lipsync_node_memory.py --vae tiny``: its sitecustomize makes ComfyUI build the tests' tiny VAE.

A ComfyUI Python (``COMFYUI_PYTHON``) started with the script's ``sitecustomize.py`` on
``PYTHONPATH`` loads the tiny VAE file that ``random_models.write_latentsync_models`` writes for
``TINY_VAE_CONFIG``: the pack's check accepts it (it refuses it without the sitecustomize), and
ComfyUI's ``comfy.sd.VAE`` decodes a latent to the same picture as the pack's diffusers
``AutoencoderKL`` built from the same file, so the server runs the VAE the script says it does.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from random_models import VAE_FILE, write_latentsync_models

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench"))
try:
    from bench_lipsync_node_memory import sitecustomize
finally:
    sys.path.remove(os.path.join(ROOT, "bench"))

from latentsync_core.lipsync.vae import TINY_VAE_CONFIG  # noqa: E402

CHECK = """
import json
import sys
import torch
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from comfy.cli_args import args
args.cpu = not torch.cuda.is_available()
import comfy.sd
import comfy.utils
from latentsync_core.lipsync.models import check_sd_vae
from latentsync_core.lipsync.vae import TINY_VAE_CONFIG, load_vae
try:
    check_sd_vae(comfy.utils.load_torch_file(sys.argv[3], safe_load=True), "tiny")
except Exception as error:
    print(json.dumps({"refused": type(error).__name__}))
    sys.exit(0)
comfy_vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(sys.argv[3], safe_load=True))
pack_vae = load_vae(sys.argv[3], TINY_VAE_CONFIG)
z = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    ours = pack_vae.decode(z).sample
    theirs = comfy_vae.first_stage_model.to(torch.float32).decode(z)
print(json.dumps({"shape": list(theirs.shape), "diff": float((ours - theirs).abs().max()), "scale": float(ours.abs().max())}))
"""


def _check(site: str | None, vae_file: str) -> dict:
    """Run :data:`CHECK` in the ComfyUI Python, with ``site`` (a sitecustomize folder) on PYTHONPATH."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if site is not None:
        env["PYTHONPATH"] = site
    result = subprocess.run(
        [os.environ.get("COMFYUI_PYTHON", sys.executable), "-c", CHECK, os.path.abspath(os.environ["COMFYUI_PATH"]),
         ROOT, vae_file], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tiny_vae_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The VAE file of ``write_latentsync_models`` at the tests' tiny size (official name, LDM keys)."""
    models = str(tmp_path_factory.mktemp("models"))
    write_latentsync_models(models, vae_config=TINY_VAE_CONFIG)
    return os.path.join(models, "vae", VAE_FILE)


def test_without_the_sitecustomize_the_tiny_vae_is_refused(tiny_vae_file):
    assert _check(None, tiny_vae_file) == {"refused": "BadInputError"}


def test_comfyui_builds_the_tiny_vae_the_pack_builds(tiny_vae_file, tmp_path):
    with open(tmp_path / "sitecustomize.py", "w", encoding="utf-8") as f:
        f.write(sitecustomize(TINY_VAE_CONFIG))
    result = _check(str(tmp_path), tiny_vae_file)
    assert result["shape"] == [2, 3, 64, 64]
    assert result["scale"] > 0.01
    assert result["diff"] <= 1e-5 * max(1.0, result["scale"])
