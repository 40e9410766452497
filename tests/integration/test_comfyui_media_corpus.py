"""The media-fidelity corpus (tests/support/media_corpus.py) through the streaming node and core Save Video in a
real ComfyUI: what the user saves keeps what a viewer sees of the source.

``example_workflows/lipsync_long_video`` as saved (GFPGAN disconnected, 2 sampler steps,
``length_mode`` pad_audio so the output is the source's frames) lip-syncs a corpus clip to its own
sound track (Load Video -> Get Video Components -> audio: no torchaudio needed), in the session's
``lipsync_server`` (tests/integration/conftest.py: one start shared with test_comfyui_lipsync.py).
Save Video's file is checked with the corpus's checks (:func:`media_corpus.measure_video`,
:func:`media_corpus.measure_sound`): tags, face-less frames against a plain re-encode (lossy) or
plane by plane (``crf`` 0), frame count and timestamps, sound power and length.
"""
from __future__ import annotations

import os
import shutil

import pytest

import media_corpus as mc
from comfyui_client import ComfyUIClient, ComfyUIError, ComfyUIServer
from media import load_example

#: (video case, streaming node's crf): BT.709 HD, full range, 10-bit HLG; lossless (crf 0, also run through the
#: command line) with the slow tests: each case costs about a minute and a half of CPU (full-size random VAE).
RUNS = [pytest.param("bt709_hd", 18), pytest.param("bt709_hd", 0, marks=pytest.mark.slow),
        pytest.param("bt709_full", 18), pytest.param("hlg_10bit", 18)]


def lipsync_in_comfyui(server: ComfyUIServer, source: str, crf: int) -> tuple[bytes, str]:
    """Run the streaming workflow on ``source`` (copied into the input folder) with its own sound as the speech;
    the bytes and the extension of the file Save Video wrote."""
    name = os.path.basename(source)
    shutil.copy(source, os.path.join(server.folder("input"), name))
    client = ComfyUIClient(server)
    _, prompt = load_example("lipsync_long_video", client.object_info())
    by_type = {node["class_type"]: node_id for node_id, node in prompt.items()}
    load, job = by_type["LoadVideo"], by_type["LatentSync_LipSyncVideo"]
    prompt[load]["inputs"]["file"] = name
    prompt["components"] = {"class_type": "GetVideoComponents", "inputs": {"video": [load, 0]}}
    del prompt[by_type["LoadAudio"]], prompt[by_type["LatentSync_FaceRestoreModelLoader"]]
    inputs = prompt[job]["inputs"]
    del inputs["gfpgan"]
    inputs.update(audio=["components", 1], steps=2, length_mode="pad_audio", crf=crf)
    try:
        entry = client.run(prompt, timeout=900)
    except ComfyUIError as exc:
        pytest.fail(f"{exc}\n--- server log ---\n{server.log()[-6000:]}")
    (record,) = client.output_files(entry, by_type["SaveVideo"])
    return client.fetch(record), os.path.splitext(record["filename"])[1]


@pytest.mark.parametrize("video, crf", RUNS, ids=[f"{p.values[0]}-crf{p.values[1]}" for p in RUNS])
def test_streaming_node_and_save_video_keep_what_a_viewer_sees(lipsync_server, tmp_path, video, crf):
    source = mc.make_video(tmp_path, video)
    data, ext = lipsync_in_comfyui(lipsync_server, str(source), crf)
    output = tmp_path / f"saved{ext}"
    output.write_bytes(data)
    mode = "lossless" if crf == 0 else "lossy"
    figures, failures = mc.measure_video(source, output, mode)
    sound, sound_failures = mc.measure_sound(source, output)
    mc.record(f"comfyui-{video}-{mode}", {**figures, **sound}, failures + sound_failures)
