"""The lip-sync workflows end to end in a real ComfyUI, with small random-weight models.

Each ``example_workflows/lipsync_*.json`` runs as saved from the canvas (converted to an API
prompt, only the sampler's steps lowered to 2) on a synthesised 3-frame talking-head clip and
0.16 s of speech-like sound written under the file names the workflow loads (the bundled sample
would take minutes on CPU), so the output follows the audio: 4 frames, the video played forward
then backward (pingpong). The 1.5 workflows align faces at 256, ``lipsync_both`` (1.6) at 512 on
a 2-frame clip with 3 frames of speech.

The models sit in the temp server's ``models`` folder in the official layouts
(``random_models.py``): tiny LatentSync UNets for 1.5 and 1.6 with seeded random weights,
random Whisper tiny, a full-size random SD VAE, random GFPGAN v1.4 and CodeFormer. The server
is the session's ``lipsync_server`` (tests/integration/conftest.py), started with
``random_models.TINY_UNET_SITECUSTOMIZE`` on ``PYTHONPATH`` so that both versions build the tiny
UNet architecture; everything else (the nodes, ComfyUI's
executor, model management, video decoding and encoding) is the real thing.

``lipsync_video`` also runs under ComfyUI's ``--cpu-vae``, ``--lowvram`` and ``--novram``, each
in a server of its own.

The restoration check (issue 7, deliverable 5) runs ``lipsync_gfpgan`` with ``sr_ratio`` so
high that no mouth qualifies and compares the paste node's frames (saved as PNG by an added
SaveImage node) with those of ``lipsync_video``, which has no restorer: they must be equal bit
for bit. ``lipsync_long_video`` (the streaming node, lossless in the clip's own 4:2:0 format) must give
the frames of ``lipsync_gfpgan`` once those go through the same 4:2:0 trip, and with
GFPGAN connected but skipped by ``sr_ratio`` the frames it gives without GFPGAN, bit for bit.

``lipsync_two_speakers`` (slow: about 2 minutes on a loaded 2-core CPU) runs on the first shot of the tests'
two-person clip (tests/support/speaker_clips.py, 640x360, 3 frames) with a track of its own pitch per speaker
(4 and 3 frames long): the output follows the longer track, its sound holds both voices, both mouths are
regenerated and, the output being lossless, every pixel away from the two faces is the source's within 2 levels.

ComfyUI's core ``LoadAudio`` needs ``torchaudio``. In a ComfyUI environment without it
(no ``LoadAudio`` in ``/object_info``) the speech is given as the PCM sound track of a small
.mov through ``LoadVideo -> GetVideoComponents.audio`` instead; the rest of the graph is
the workflow as saved.
"""
from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from comfyui_client import ComfyUIClient, ComfyUIError, ComfyUIServer
from media import VIDEO_FPS, load_example, prepare_inputs, write_speech
from random_models import tiny_model_server

torch = pytest.importorskip("torch")
av = pytest.importorskip("av")

HERE = os.path.dirname(os.path.abspath(__file__))
PACK_DIR = os.path.dirname(os.path.dirname(HERE))
STEPS = 2


@dataclass(frozen=True)
class Clip:
    """The input of a run: video frames, seconds of speech, and the source frame of each output frame."""

    video_frames: int
    speech_seconds: float
    frame_map: tuple[int, ...]


CLIP = Clip(3, 0.16, (0, 1, 2, 2))
"""3 video frames, 4 frames of speech: pingpong plays 0, 1, 2, then 2 again (backwards from the end)."""
SMALL_CLIP = Clip(2, 0.12, (0, 1, 1))
"""For 1.6 at 512 px, where every frame costs four times as much in the VAE."""

LOAD_AUDIO_INFO = {"input": {"required": {"audio": [[], {"audio_upload": True}]}}, "input_order": {"required": ["audio"]}}
"""``/object_info`` of ComfyUI 0.3.64's LoadAudio (for converting the workflow where it did not import)."""

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


MEMORY_MODES = [("--cpu-vae",), ("--lowvram",), ("--novram",)]
"""Server flags ``lipsync_video`` must run under too: ComfyUI's VAE on the CPU, low and no VRAM modes."""


@pytest.fixture(scope="module", params=MEMORY_MODES, ids=" ".join)
def memory_mode_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[ComfyUIServer]:
    with tiny_model_server(str(tmp_path_factory.mktemp("comfyui_lipsync_mode")), PACK_DIR, request.param,
                           restorers=False) as server:
        yield server


@dataclass
class Run:
    """What one run of a lip-sync workflow gave."""

    source: np.ndarray
    """``(video_frames, H, W, 3)`` uint8: the clip given to Load Video."""
    frames: list[np.ndarray]
    """The saved video's frames, ``(H, W, 3)`` uint8."""
    fps: float
    audio: np.ndarray
    sample_rate: int
    file: bytes
    """The saved video file."""
    pasted: list[np.ndarray]
    """The paste node's frames as lossless PNGs (in-memory workflows; empty for the streaming node)."""
    reports: list[str]
    """What the restore nodes' report boxes showed."""


InputWriter = Callable[[dict, str], dict[str, np.ndarray]]
"""Writes the files a workflow loads into an input folder; returns per file name the frames or samples written."""


def run_workflow(server: ComfyUIServer, name: str, clip: Clip, widgets: dict[str, dict] | None = None,
                 write_inputs: InputWriter | None = None) -> Run:
    """Run example workflow ``name`` on ``clip``, sampler steps lowered to 2.

    ``widgets`` sets inputs by class type (``{"LatentSync_GFPGANRestore": {"sr_ratio": 16.0}}``; None disconnects
    an optional input). ``write_inputs`` replaces the clip's talking head and speech (``prepare_inputs``). A SaveImage
    node is added on the paste node's output, so its frames come back losslessly.
    """
    client = ComfyUIClient(server)
    object_info = client.object_info()
    workflow, prompt = load_example(name, {"LoadAudio": LOAD_AUDIO_INFO, **object_info})
    if write_inputs is None:
        written = prepare_inputs(workflow, server.folder("input"), clip.video_frames, clip.speech_seconds)
    else:
        written = write_inputs(workflow, server.folder("input"))
    video = next(v for file_name, v in written.items() if file_name.endswith(".mp4"))
    if "LoadAudio" not in object_info:
        speech = next(v for file_name, v in written.items() if file_name.endswith(".wav"))
        audio_through_video(prompt, server.folder("input"), speech)
    by_type = {node["class_type"]: node_id for node_id, node in prompt.items()}
    for class_type in ("LatentSync_Sampler", "LatentSync_LipSyncVideo"):
        if class_type in by_type:
            prompt[by_type[class_type]]["inputs"]["steps"] = STEPS
    for class_type, values in (widgets or {}).items():
        inputs = prompt[by_type[class_type]]["inputs"]
        inputs.update(values)
        for name in [name for name, value in values.items() if value is None]:
            del inputs[name]  # disconnected
    if "LatentSync_ROIPasteBlend" in by_type:
        prompt["save_png"] = {"class_type": "SaveImage",
                              "inputs": {"images": [by_type["LatentSync_ROIPasteBlend"], 0], "filename_prefix": name}}
    try:
        entry = client.run(prompt, timeout=900)
    except ComfyUIError as exc:
        pytest.fail(f"{exc}\n--- server log ---\n{server.log()[-6000:]}")

    (record,) = client.output_files(entry, by_type["SaveVideo"])
    saved = client.fetch(record)
    with av.open(io.BytesIO(saved)) as container:
        fps = float(container.streams.video[0].average_rate)
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        container.seek(0)
        audio = np.concatenate([frame.to_ndarray()[0] for frame in container.decode(audio=0)])
        sample_rate = container.streams.audio[0].sample_rate
    pasted = [np.asarray(Image.open(io.BytesIO(client.fetch(rec))).convert("RGB"))
              for rec in client.output_files(entry, "save_png")]
    previews = sorted((node_id for node_id, node in prompt.items() if node["class_type"] == "PreviewAny"), key=int)
    reports = [text for node_id in previews for text in entry["outputs"][node_id]["text"]]
    return Run(video, frames, fps, audio, sample_rate, saved, pasted, reports)


RESTORERS = {"lipsync_video": [], "lipsync_gfpgan": ["GFPGAN"], "lipsync_codeformer": ["CodeFormer"],
             "lipsync_both": ["GFPGAN", "CodeFormer"]}
"""The lip-sync workflows and the restorers each runs, in order."""
CLIPS = {"lipsync_both": SMALL_CLIP}
WIDGETS = {"lipsync_long_video": {"LatentSync_LipSyncVideo": {"crf": 0}}}
"""The streaming node writes lossless RGB, so that its frames can be compared with the in-memory nodes'."""


@pytest.fixture(scope="module")
def runs(lipsync_server: ComfyUIServer) -> Callable[[str], Run]:
    """``runs(name)``: the run of workflow ``name`` as saved, made once per module."""
    done: dict[str, Run] = {}

    def get(name: str) -> Run:
        if name not in done:
            done[name] = run_workflow(lipsync_server, name, CLIPS.get(name, CLIP), WIDGETS.get(name))
        return done[name]

    return get


def check_follows_the_audio(run: Run, clip: Clip) -> None:
    """The output has one frame per speech frame, showing the source frame the length mode names with its face
    regenerated, at the source's fps, with the speech fitted to its length as sound track."""
    n_out = len(clip.frame_map)
    assert len(run.source) == clip.video_frames and len(run.frames) == n_out, "the output follows the audio, not the video"
    assert run.fps == VIDEO_FPS
    assert run.frames[0].shape == run.source[0].shape
    assert abs(run.audio.size / run.sample_rate - n_out / VIDEO_FPS) < 0.07, "the audio is not fitted to the output length"
    spectrum = np.abs(np.fft.rfft(run.audio))
    assert abs(np.argmax(spectrum) * run.sample_rate / run.audio.size - 140) < 10, "the audio track is not the speech input"
    for j, src in enumerate(clip.frame_map):
        # the clip drifts 2 px a frame: the body, below the face, tells the source frames apart
        errors = [np.abs(run.frames[j][300:].astype(int) - v[300:].astype(int)).mean() for v in run.source]
        assert int(np.argmin(errors)) == src, f"output frame {j} does not show source frame {src}"
        changed = np.abs(run.frames[j].astype(int) - run.source[src].astype(int)).max(-1) > 40
        assert changed[:300].any(), f"the face of output frame {j} was not regenerated"


@pytest.mark.parametrize("name", sorted(RESTORERS))
def test_lipsync_workflow_follows_the_audio(runs: Callable[[str], Run], name: str) -> None:
    run = runs(name)
    clip = CLIPS.get(name, CLIP)

    check_follows_the_audio(run, clip)
    # every mouth of the 512 px clip is enlarged to reach 512, more than sr_ratio: all are restored
    n_out = len(clip.frame_map)
    assert run.reports == [f"{arch}: restored {n_out} of {n_out} frames" for arch in RESTORERS[name]]


def test_lipsync_video_in_low_memory_modes(memory_mode_server: ComfyUIServer) -> None:
    check_follows_the_audio(run_workflow(memory_mode_server, "lipsync_video", CLIP), CLIP)


def test_skipped_restoration_leaves_frames_bit_identical(lipsync_server: ComfyUIServer,
                                                         runs: Callable[[str], Run]) -> None:
    """GFPGAN loaded but no mouth needing it (sr_ratio 16): the frames equal the no-restorer workflow's, bit for bit."""
    skipped = run_workflow(lipsync_server, "lipsync_gfpgan", CLIP, {"LatentSync_GFPGANRestore": {"sr_ratio": 16.0}})
    plain, restored = runs("lipsync_video"), runs("lipsync_gfpgan")

    n_out = len(CLIP.frame_map)
    assert skipped.reports == [f"GFPGAN: restored 0 of {n_out} frames"]
    assert len(plain.pasted) == len(skipped.pasted) == n_out
    for j, (a, b) in enumerate(zip(plain.pasted, skipped.pasted)):
        assert np.array_equal(a, b), f"frame {j} changed although no mouth was restored ({np.count_nonzero(a != b)} values)"
    assert any(not np.array_equal(a, b) for a, b in zip(plain.pasted, restored.pasted)), "restoring changed nothing"


LOSSLESS = WIDGETS["lipsync_long_video"]["LatentSync_LipSyncVideo"]


def as_written(rgb: np.ndarray, like: av.VideoFrame) -> np.ndarray:
    """``rgb`` through the pixel format and colour tags of the written frame ``like``, decoded as the test decodes it."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    planar = frame.reformat(format=like.format.name, dst_colorspace=like.colorspace or None,
                            dst_color_range=like.color_range or None)
    planar.colorspace, planar.color_range = like.colorspace, like.color_range
    return planar.to_ndarray(format="rgb24")


def test_long_video_workflow_streams_the_frames_of_the_in_memory_nodes(runs: Callable[[str], Run]) -> None:
    """``lipsync_long_video`` (the streaming node, GFPGAN connected) gives the frames of ``lipsync_gfpgan`` (the
    in-memory nodes, same seed and options). The streaming node writes the source's own pixel format (4:2:0 here):
    unchanged pixels exactly as decoded, the pasted mouth through 4:2:0 chroma; so each in-memory frame is compared
    after the same trip, within a few levels (SaveImage truncates ``255 * x``, the job rounds, the chroma of a
    block at the mouth's edge mixes source and pasted pixels)."""
    streamed, in_memory = runs("lipsync_long_video"), runs("lipsync_gfpgan")

    check_follows_the_audio(streamed, CLIP)
    with av.open(io.BytesIO(streamed.file)) as container:
        written = next(container.decode(video=0))
    for j, (a, b) in enumerate(zip(streamed.frames, in_memory.pasted)):
        # measured: at most 17 levels (chroma blocks at the mouth's edge), 99 % within 3; the 4:2:0 trip itself
        # moves the RGB of the random-weight mouth by up to 151 levels, so a wrong or shifted frame cannot pass
        diff = np.abs(a.astype(int) - as_written(b, written).astype(int))
        assert diff.max() <= 24 and np.percentile(diff, 99) <= 3, (
            f"frame {j}: streamed differs from in-memory by up to {diff.max()} ({np.count_nonzero(diff > 3)} values over 3)")


def test_long_video_skipped_restoration_leaves_frames_bit_identical(lipsync_server: ComfyUIServer) -> None:
    """The streaming node with GFPGAN connected but no mouth needing it (sr_ratio 16) writes the frames it writes
    without a restorer, bit for bit."""
    skipped = run_workflow(lipsync_server, "lipsync_long_video", CLIP,
                           {"LatentSync_LipSyncVideo": {**LOSSLESS, "sr_ratio": 16.0}})
    plain = run_workflow(lipsync_server, "lipsync_long_video", CLIP, {"LatentSync_LipSyncVideo": {**LOSSLESS, "gfpgan": None}})

    assert len(skipped.frames) == len(plain.frames) == len(CLIP.frame_map)
    for j, (a, b) in enumerate(zip(skipped.frames, plain.frames)):
        assert np.array_equal(a, b), f"frame {j} changed although no mouth was restored ({np.count_nonzero(a != b)} values)"


TWO_SPEAKERS = Clip(3, 0.16, (0, 1, 2, 2))
"""The two-person shot held for 3 frames; the first speaker's track lasts 4 frames, the second's 3 (``TRACKS``)."""
TRACKS = ((0.16, 140.0), (0.12, 220.0))
"""Seconds and pitch of each speaker's track, in the order of the workflow's Speaker nodes."""
PLACES = ("left", "right")
"""Where each speaker's face is (``face_from_left`` 0 and 1 in the workflow)."""


def write_two_speakers_inputs(workflow: dict, input_dir: str) -> dict[str, np.ndarray]:
    """The first shot of the tests' two-person clip (tests/support/speaker_clips.py) under the sample clip's name, and
    a speech-like track of its own pitch per speaker under the workflow's track names. The frames returned are
    those decoded from the written file."""
    from speaker_clips import shot
    from workflows import TWO_SPEAKERS_SPEECH, TWO_SPEAKERS_VIDEO

    path = os.path.join(input_dir, TWO_SPEAKERS_VIDEO)
    image = shot(dict(zip(("astronaut", "hopper"), PLACES)), level=70)
    with av.open(path, "w") as container:
        video = container.add_stream("libx264", rate=VIDEO_FPS)
        video.width, video.height, video.pix_fmt = image.shape[1], image.shape[0], "yuv420p"
        video.options = {"crf": "12"}
        for _ in range(TWO_SPEAKERS.video_frames):
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode())
    with av.open(path) as container:
        written = {TWO_SPEAKERS_VIDEO: np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])}
    for name, (seconds, pitch) in zip(TWO_SPEAKERS_SPEECH, TRACKS):
        written[name] = write_speech(os.path.join(input_dir, name), seconds, pitch=pitch)
    return written


@pytest.mark.slow
def test_two_speakers_workflow_lipsyncs_both_faces(lipsync_server: ComfyUIServer) -> None:
    """``lipsync_two_speakers`` through ``POST /prompt``: the output follows the longer track, its sound holds both
    voices, both faces' mouths are regenerated and the rest of the frame is the source's (lossless output)."""
    from speaker_clips import face_box

    if "LoadAudio" not in ComfyUIClient(lipsync_server).object_info():
        pytest.skip("this ComfyUI has no LoadAudio (it needs torchaudio)")
    run = run_workflow(lipsync_server, "lipsync_two_speakers", TWO_SPEAKERS, {"LatentSync_LipSyncVideo": LOSSLESS},
                       write_two_speakers_inputs)

    n_out = len(TWO_SPEAKERS.frame_map)
    assert len(run.frames) == n_out, f"{len(run.frames)} frames: the output does not follow the longer track"
    assert run.fps == VIDEO_FPS and run.frames[0].shape == run.source[0].shape
    # AAC decodes in frames of 1024 samples: the sound covers the output, and less than a frame more
    fitted = round(n_out / VIDEO_FPS * run.sample_rate)
    assert fitted <= run.audio.size <= fitted + 1024, f"{run.audio.size} samples of sound for {fitted}"
    spectrum = np.abs(np.fft.rfft(run.audio))
    hz = np.fft.rfftfreq(run.audio.size, 1 / run.sample_rate)
    for _, pitch in TRACKS:
        near = spectrum[np.abs(hz - pitch) < 10].max()
        assert near > 0.3 * spectrum.max(), f"the mix has no {pitch:.0f} Hz voice"
    boxes = [face_box(place) for place in PLACES]
    outside = np.ones(run.source.shape[1:3], bool)
    for x0, y0, x1, y1 in boxes:
        outside[max(y0 - 30, 0):y1 + 30, max(x0 - 30, 0):x1 + 30] = False
    for j, frame in enumerate(run.frames):
        diff = np.abs(frame.astype(int) - run.source[TWO_SPEAKERS.frame_map[j]].astype(int)).max(-1)
        for place, (x0, y0, x1, y1) in zip(PLACES, boxes):
            assert (diff[(y0 + y1) // 2:y1, x0:x1] > 40).any(), f"frame {j}: the {place} face's mouth did not change"
        assert diff[outside].max() <= 2, f"frame {j}: pixels away from the faces changed by up to {diff[outside].max()}"
