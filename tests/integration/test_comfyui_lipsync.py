"""The lip-sync workflow end to end in a real ComfyUI, with small random-weight models.

``example_workflows/lipsync_video.json`` runs as saved from the canvas (converted to an
API prompt, only the sampler's steps lowered to 2) on a synthesised 4-frame talking-head
clip and 0.24 s of speech-like sound, so the output follows the audio: 6 frames, the video
played forward then backward (pingpong), faces aligned at 256.

The models sit in the temp server's ``models`` folder in the official layout:

* ``latentsync/LatentSync-1.5/latentsync_unet.pt``: the tiny LatentSync UNet (reference key
  names, ``tests/unet_fixtures.py``) with seeded random weights, as ``{"state_dict": ...}``;
* ``latentsync/LatentSync-1.5/whisper/tiny.pt``: a random Whisper tiny in OpenAI's layout
  (``tests/whisper_checkpoint.py``);
* ``vae/vae-ft-mse-840000-ema-pruned.safetensors``: a full-size SD 1.x VAE (84 M parameters)
  with seeded random weights in the LDM key layout.

The loader builds a UNet from the release architecture of the version its folder names,
and a tiny file does not fit it. The pack has no switch for that, on purpose (users must
not be able to load a checkpoint against another architecture), so this test gives its
own server process a ``sitecustomize.py`` that maps version 1.5 to the tiny architecture
in ``latentsync_core.lipsync.checkpoints.CONFIGS`` right after that module is first imported, the
same swap ``tests/test_loader_node.py`` makes in-process with monkeypatch. Everything else,
the nodes, ComfyUI's executor, model management, video decoding and encoding, is the real
thing. The server is this module's own (not the session's shared one), started with that
file on ``PYTHONPATH``.

ComfyUI's core ``LoadAudio`` needs ``torchaudio``. In a ComfyUI environment without it
(no ``LoadAudio`` in ``/object_info``) the speech is given as the PCM sound track of a small
.mov through ``LoadVideo -> GetVideoComponents.audio`` instead; the rest of the graph is
the workflow as saved.
"""
from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile

import numpy as np
import pytest

from comfyui_client import ComfyUIClient, ComfyUIError, ComfyUIServer, make_base_dir
from media import VIDEO_FPS, load_example, prepare_inputs

torch = pytest.importorskip("torch")
av = pytest.importorskip("av")

HERE = os.path.dirname(os.path.abspath(__file__))
PACK_DIR = os.path.dirname(os.path.dirname(HERE))
VAE_FILE = "vae-ft-mse-840000-ema-pruned.safetensors"
STEPS = 2
VIDEO_FRAMES = 4
SPEECH_SECONDS = 0.24
FRAME_MAP = [0, 1, 2, 3, 3, 2]
"""Source frame of each output frame: pingpong of 4 video frames over 6 audio frames."""

LOAD_AUDIO_INFO = {"input": {"required": {"audio": [[], {"audio_upload": True}]}}, "input_order": {"required": ["audio"]}}
"""``/object_info`` of ComfyUI 0.3.64's LoadAudio (for converting the workflow where it did not import)."""

SITECUSTOMIZE = '''"""Written by tests/integration/test_comfyui_lipsync.py for its ComfyUI server only.

Maps LatentSync version 1.5 to the tiny test UNet architecture in
latentsync_core.lipsync.checkpoints.CONFIGS as soon as that module is imported.
"""
import importlib.abc
import importlib.machinery
import sys


class _TinyUNetConfig(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if not name.endswith("latentsync_core.lipsync.checkpoints"):
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            unet = sys.modules[module.__name__.rsplit(".", 1)[0] + ".unet"]
            module.CONFIGS["1.5"] = unet.LatentSyncUNetConfig.tiny

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _TinyUNetConfig())
'''


def audio_through_video(prompt: dict[str, dict], input_dir: str, speech: np.ndarray, sample_rate: int = 16000) -> None:
    """Replace each LoadAudio of ``prompt`` by LoadVideo -> GetVideoComponents of a .mov carrying ``speech``
    as 16-bit PCM (lossless, so the audio keeps its length to the sample)."""
    path = os.path.join(input_dir, "speech_track.mov")
    with av.open(path, "w") as container:
        video = container.add_stream("libx264", rate=VIDEO_FPS)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = container.add_stream("pcm_s16le", rate=sample_rate)
        audio.layout = "mono"
        for _ in range(round(speech.size / sample_rate * VIDEO_FPS)):
            container.mux(video.encode(av.VideoFrame.from_ndarray(np.full((64, 64, 3), 128, np.uint8), format="rgb24")))
        container.mux(video.encode())
        for start in range(0, speech.size, 1024):
            samples = (speech[None, start:start + 1024] * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate = sample_rate
            container.mux(audio.encode(frame))
        container.mux(audio.encode())
    for node_id in [i for i, node in prompt.items() if node["class_type"] == "LoadAudio"]:
        split = f"{node_id}_components"
        prompt[node_id] = {"class_type": "LoadVideo", "inputs": {"file": os.path.basename(path)}}
        prompt[split] = {"class_type": "GetVideoComponents", "inputs": {"video": [node_id, 0]}}
        for node in prompt.values():
            for name, value in node["inputs"].items():
                if value == [node_id, 0] and node is not prompt[split]:
                    node["inputs"][name] = [split, 1]


def write_models(models: str) -> None:
    """Random-weight models in the official file layout under ``models``."""
    from safetensors.torch import save_file

    from latentsync_core.lipsync.vae import SD_VAE_CONFIG, build_vae
    from sampler_fixtures import seeded_weights
    from test_sampler_vae import _ldm_state_dict
    from unet_fixtures import reference_key_shapes, reference_weights
    from whisper_checkpoint import write_tiny_checkpoint

    folder = os.path.join(models, "latentsync", "LatentSync-1.5")
    os.makedirs(os.path.join(folder, "whisper"))
    torch.save({"state_dict": reference_weights(reference_key_shapes("tiny"), 17)}, os.path.join(folder, "latentsync_unet.pt"))
    write_tiny_checkpoint(os.path.join(folder, "whisper", "tiny.pt"), seed=17)
    vae = build_vae(SD_VAE_CONFIG, device="meta")
    shapes = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
    vae.load_state_dict(seeded_weights(shapes, 17), strict=True, assign=True)
    os.makedirs(os.path.join(models, "vae"))
    save_file({k: v.contiguous() for k, v in _ldm_state_dict(vae).items()}, os.path.join(models, "vae", VAE_FILE))


MEMORY_MODES = [(), ("--cpu-vae",), ("--lowvram",), ("--novram",)]
"""Server flags the workflow must run under: ComfyUI's default, its VAE on the CPU, low and no VRAM modes."""


@pytest.fixture(scope="module", params=MEMORY_MODES, ids=lambda flags: " ".join(flags) or "default")
def lipsync_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """A ComfyUI server of its own (started with ``request.param`` flags), the random models and the tiny-UNet sitecustomize."""
    base = str(tmp_path_factory.mktemp("comfyui_lipsync"))
    make_base_dir(base, PACK_DIR)
    write_models(os.path.join(base, "models"))
    site = os.path.join(base, "test_site")
    os.makedirs(site)
    with open(os.path.join(site, "sitecustomize.py"), "w", encoding="utf-8") as f:
        f.write(SITECUSTOMIZE)
    server = ComfyUIServer(
        comfyui_path=os.path.abspath(os.environ["COMFYUI_PATH"]),
        python=os.environ.get("COMFYUI_PYTHON", sys.executable),
        base=base,
        pycache_dir=os.environ.get("COMFYUI_PYCACHE", os.path.join(tempfile.gettempdir(), "comfyui-latentsync-pycache")),
        extra_args=request.param,
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", os.pathsep.join(p for p in (site, os.environ.get("PYTHONPATH")) if p))
        server.start(timeout=float(os.environ.get("COMFYUI_START_TIMEOUT", "300")))
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(os.path.join(base, "models"), ignore_errors=True)  # 0.4 GB of random weights


def test_lipsync_workflow_follows_the_audio(lipsync_server: ComfyUIServer) -> None:
    client = ComfyUIClient(lipsync_server)
    object_info = client.object_info()
    has_load_audio = "LoadAudio" in object_info
    workflow, prompt = load_example("lipsync_video", {"LoadAudio": LOAD_AUDIO_INFO, **object_info})
    written = prepare_inputs(workflow, lipsync_server.folder("input"), VIDEO_FRAMES, SPEECH_SECONDS)
    video = next(v for name, v in written.items() if name.endswith(".mp4"))
    if not has_load_audio:
        speech = next(v for name, v in written.items() if name.endswith(".wav"))
        audio_through_video(prompt, lipsync_server.folder("input"), speech)
    by_type = {node["class_type"]: node_id for node_id, node in prompt.items()}
    prompt[by_type["LatentSync_Sampler"]]["inputs"]["steps"] = STEPS

    try:
        entry = client.run(prompt, timeout=900)
    except ComfyUIError as exc:
        pytest.fail(f"{exc}\n--- server log ---\n{lipsync_server.log()[-6000:]}")

    (record,) = client.output_files(entry, by_type["SaveVideo"])
    with av.open(io.BytesIO(client.fetch(record))) as container:
        fps = float(container.streams.video[0].average_rate)
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        container.seek(0)
        audio = np.concatenate([frame.to_ndarray()[0] for frame in container.decode(audio=0)])
        sample_rate = container.streams.audio[0].sample_rate
    n_out = len(FRAME_MAP)
    assert len(video) == VIDEO_FRAMES and len(frames) == n_out, "the output follows the audio (pingpong), not the video"
    assert fps == VIDEO_FPS
    assert frames[0].shape == video[0].shape
    assert abs(audio.size / sample_rate - n_out / VIDEO_FPS) < 0.07, "the audio is not fitted to the output length"
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * sample_rate / audio.size - 140) < 10, "the audio track is not the speech input"
    for j, src in enumerate(FRAME_MAP):
        # the clip drifts 2 px a frame: the body, below the face, tells the source frames apart
        errors = [np.abs(frames[j][300:].astype(int) - v[300:].astype(int)).mean() for v in video]
        assert int(np.argmin(errors)) == src, f"output frame {j} does not show source frame {src}"
        changed = np.abs(frames[j].astype(int) - video[src].astype(int)).max(-1) > 40
        assert changed[:300].any(), f"the face of output frame {j} was not regenerated"
