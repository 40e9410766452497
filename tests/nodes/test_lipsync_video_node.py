"""LatentSync_LipSyncVideo (the streaming node) inside ComfyUI (opt-in: set COMFYUI_PATH to a ComfyUI checkout).

The models come from the real LatentSync Model Loader node over temporary model folders: a tiny
random UNet in the official 1.5 layout (the release config swapped for the tiny one at 256 px
through ``latentsync_core.lipsync.checkpoints.CONFIGS``, as ``test_loader_node.py`` does), a
random Whisper tiny and a full-size random SD VAE. The video is a 3-frame talking-head clip
(``tests/integration/media.py``) given as core Load Video gives it: a ``VideoFromFile`` on its path.

Checked: the returned VIDEO is a file in ComfyUI's temp folder with the frames and audio the
length mode asks for; the progress bar moves; ComfyUI's Cancel (the interrupt flag, set here from
the progress hook as the UI's button sets it) stops the job with nothing left in the temp folder,
and the same inputs queued again (after temp/ was emptied, as a restart does) continue after the
finished segments kept in the output folder;
a VIDEO held in memory (Create Video's) is accepted and its temp copy removed; with the landmark
cache on, a second run with other sampler settings detects no face again.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction
import os

import numpy as np
import pytest
import torch

from comfy_nodes import core, node_module, only_model_folders, requires_comfyui
from repo_paths import ROOT

pytestmark = requires_comfyui

av = pytest.importorskip("av")

FRAMES = 3
SPEECH_SECONDS = 0.16
"""4 output frames at 25 fps: pingpong over the 3 video frames."""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The node module, models loaded by the loader node, a clip and speech, ComfyUI's temp folder."""
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(os.path.join(ROOT, "tests", "integration"))
    from media import write_speech, write_talking_head
    from random_models import write_latentsync_models

    loader = node_module("model_loader")
    node = node_module("lipsync_video")
    checkpoints = core("lipsync.checkpoints")
    tiny = dataclasses.replace(core("lipsync.unet").LatentSyncUNetConfig.tiny(), resolution=256)
    mp.setitem(checkpoints.CONFIGS, "1.5", lambda: tiny)
    import folder_paths

    base = tmp_path_factory.mktemp("lipsync_video_node")
    write_latentsync_models(str(base / "models"))
    temp, output = base / "temp", base / "output"
    temp.mkdir(), output.mkdir()
    mp.setattr(folder_paths, "get_temp_directory", lambda: str(temp))
    mp.setattr(folder_paths, "get_output_directory", lambda: str(output))
    with only_model_folders(latentsync=base / "models" / "latentsync", vae=base / "models" / "vae"):
        out = loader.LatentSyncModelLoader.execute(
            "1.5", "LatentSync-1.5/latentsync_unet.pt", loader.AUTO_WHISPER, "vae-ft-mse-840000-ema-pruned.safetensors",
            "auto", False)
        model, whisper, vae = out.args if hasattr(out, "args") else out
        clip = str(base / "clip.mp4")
        frames = write_talking_head(clip, frames=FRAMES)
        speech = write_speech(str(base / "speech.wav"), SPEECH_SECONDS)
        yield node, model, whisper, vae, clip, frames, speech, temp
    mp.undo()


def _run(env, video, **options):
    node, model, whisper, vae, *_ , speech, _temp = env
    inputs = {s.id: s.default for s in node.LatentSync_LipSyncVideo.define_schema().inputs if hasattr(s, "default")}
    inputs.update(video=video, audio={"waveform": torch.from_numpy(speech)[None, None], "sample_rate": 16000},
                  model=model, whisper=whisper, vae=vae, steps=2, **options)
    out = node.LatentSync_LipSyncVideo.execute(**inputs)
    return (out.args if hasattr(out, "args") else out)[0]


def test_returns_a_video_file_in_the_temp_folder(env):
    from comfy_api.v0_0_2 import InputImpl

    import comfy.utils

    *_, clip, frames, speech, temp = env
    updates = []
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, **_: updates.append((value, total)))
    try:
        video = _run(env, InputImpl.VideoFromFile(clip))
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
    path = video.get_stream_source()
    assert os.path.dirname(path) == os.path.join(str(temp), "latentsync")
    with av.open(path) as container:
        out = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        container.seek(0)
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
        rate = container.streams.audio[0].sample_rate
    assert len(out) == 4 and out[0].shape == frames[0].shape
    assert abs(audio.size / rate - 4 / 25) < 0.05
    assert len(updates) > 3 and updates[-1][0] == updates[-1][1]


def test_cancel_leaves_nothing_behind(env):
    from comfy_api.v0_0_2 import InputImpl

    import comfy.model_management as mm
    import comfy.utils

    *_, clip, _frames, _speech, temp = env
    before = set(os.listdir(temp / "latentsync")) if (temp / "latentsync").exists() else set()
    calls = []

    def cancel_after_two(value, total, preview, **_):
        calls.append(value)
        if len(calls) == 2:
            mm.interrupt_current_processing(True)  # what the UI's Cancel button does

    comfy.utils.set_progress_bar_global_hook(cancel_after_two)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            _run(env, InputImpl.VideoFromFile(clip))
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
        mm.interrupt_current_processing(False)
    assert set(os.listdir(temp / "latentsync")) == before, "a partial file was left behind"


@pytest.mark.slow
def test_queued_again_after_a_cancel_continues_where_it_stopped(env, monkeypatch):
    """Segments of one frame here (chunks of 1 frame, 0.04 s), so the second run writes only those the first did
    not finish (that its frames equal an uninterrupted run's is tests/unit/run/test_resume.py's)."""
    import shutil

    from comfy_api.v0_0_2 import InputImpl

    import comfy.model_management as mm

    node, *_, clip, _frames, _speech, temp = env
    output = temp.parent / "output"
    options_of = node.options_of
    monkeypatch.setattr(node, "options_of", lambda **kw: dataclasses.replace(options_of(**kw), segment_seconds=0.04))
    streamed = core("run.streamed")
    written = []

    class Counted(streamed.VideoWriter):  # the real writer, counting the segments it starts
        def __init__(self, path, *args, **kwargs):
            written.append(os.path.basename(path))
            super().__init__(path, *args, **kwargs)
            if len(written) == 3 and cancel:
                mm.interrupt_current_processing(True)  # what the UI's Cancel button does

    monkeypatch.setattr(streamed, "VideoWriter", Counted)
    cancel = True
    try:
        with pytest.raises(mm.InterruptProcessingException):
            _run(env, InputImpl.VideoFromFile(clip), chunk_size=1)
    finally:
        mm.interrupt_current_processing(False)
    work = [p for p in (output / node.WORK_FOLDER).iterdir()]
    assert len(work) == 1 and len([f for f in os.listdir(work[0]) if f.endswith(".json")]) == 4  # manifest + 3
    shutil.rmtree(temp / "latentsync")  # ComfyUI empties temp/ when it starts
    cancel, written[:] = False, []
    video = _run(env, InputImpl.VideoFromFile(clip), chunk_size=1)
    assert written == ["000003.mp4"], "the finished segments were written again"
    assert os.listdir(output / node.WORK_FOLDER) == [], "the work folder is left after success"
    with av.open(video.get_stream_source()) as container:
        assert sum(1 for _ in container.decode(video=0)) == 4


def test_a_video_in_memory_is_read_from_a_temp_copy_that_is_removed(env):
    from comfy_api.v0_0_2 import InputImpl, Types

    *_, frames, speech, temp = env
    components = Types.VideoComponents(images=torch.from_numpy(frames).float() / 255, frame_rate=Fraction(25))
    video = _run(env, InputImpl.VideoFromComponents(components))
    with av.open(video.get_stream_source()) as container:
        assert sum(1 for _ in container.decode(video=0)) == 4
    assert not [f for f in os.listdir(temp / "latentsync") if f.startswith("source_")]


def test_landmark_cache_skips_detection_when_run_again(env, tmp_path, monkeypatch):
    from comfy_api.v0_0_2 import InputImpl

    *_, clip, _frames, _speech, _temp = env
    monkeypatch.setenv(core("face.landmark_cache").CACHE_ENV, str(tmp_path / "cache"))
    backend_class = core("face.landmarks.mediapipe_backend").MediaPipeBackend
    calls = []
    for method in ("detect", "follow"):
        real = getattr(backend_class, method)
        monkeypatch.setattr(backend_class, method, lambda self, *args, real=real: calls.append(1) or real(self, *args))
    _run(env, InputImpl.VideoFromFile(clip), seed=1)
    assert len(calls) == FRAMES and len(list((tmp_path / "cache").iterdir())) == 1
    _run(env, InputImpl.VideoFromFile(clip), seed=2, guidance=1.0)
    assert len(calls) == FRAMES, "the second run detected faces again"
    _run(env, InputImpl.VideoFromFile(clip), seed=2, landmark_cache=False)
    assert len(calls) == 2 * FRAMES


@pytest.mark.slow  # a whole run of the node (about as long as the first test of this file): with the slow tests
def test_job_options_of_a_jobs_file_row_replace_the_widgets(env):
    """LatentSync Job List's ``job_options``: a row's ``length_mode`` trim gives the 3 video frames, not the widget's
    pingpong over the 4 frames of speech."""
    from comfy_api.v0_0_2 import InputImpl

    *_, clip, _frames, _speech, _temp = env
    video = _run(env, InputImpl.VideoFromFile(clip), job_options={"length_mode": "trim", "guidance_scale": 1.0})
    with av.open(video.get_stream_source()) as container:
        assert sum(1 for _ in container.decode(video=0)) == FRAMES
