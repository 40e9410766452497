"""``python -m latentsync_core lipsync``: end to end on the bundled sample clip, models on first run,
bad input, background upscale.

Models are random, in the official layouts, in a temporary models folder: the LatentSync UNet
with the reference key names of the tiny architecture (tests/support/unet_fixtures.py) under
``latentsync/LatentSync-1.x/``, a random Whisper tiny in OpenAI's layout
(tests/support/whisper_checkpoint.py), the tiny VAE of the sampler tests in diffusers keys under
``vae/``, full-size GFPGAN v1.4 and CodeFormer with spandrel's initial weights in
``facerestore_models/``. The released architectures are swapped for the tiny ones through
``checkpoints.CONFIGS`` (1.5 at 256 px faces, 1.6 at 512) and ``vae.SD_VAE_CONFIG``.
The output is not a real lip-sync; what is checked is the command: exit codes, frame counts,
rates and audio lengths, frames without a face bit for bit (lossless ``--crf 0`` .mkv),
where the pasted face lands on an upscaled background, and what is left on disk.

Clips: the sample (example_workflows/sample/astronaut_speech.mp4, 75 frames, a cutaway of
8 face-less frames at 45-52) and short lossless clips cut from it around the cutaway.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.server
import os
import threading
import wave

import av
import numpy as np
import pytest
import torch

from corpus import make_frames, make_text
from fake_hub import FakeHub, files_under
from latentsync_core import cli
from latentsync_core.files import model_files as mf
from latentsync_core.media.audio_io import read_audio
from lipsync_cli import FAST, SAMPLE, assert_one_line_error, speech, write_lipsync_models, write_lossless
from repo_paths import DATA
from upscaler_fixtures import nearest_state_dict
from video_files import decode_video

CUTAWAY = range(45, 53)

pytestmark = pytest.mark.usefixtures("tiny_architectures")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A complete models folder: both LatentSync versions, the VAE, GFPGAN v1.4 and CodeFormer."""
    root = tmp_path_factory.mktemp("models")
    write_lipsync_models(root)
    folder = root / "facerestore_models"
    folder.mkdir()
    torch.manual_seed(0)
    from spandrel.architectures.GFPGAN import GFPGAN

    gfpgan = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None, fix_decoder=False,
                    num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True)
    torch.save({"params_ema": gfpgan.state_dict()}, folder / "GFPGANv1.4.pth")
    del gfpgan
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormer

    torch.save({"params_ema": CodeFormer().state_dict()}, folder / "codeformer.pth")
    (root / "upscale_models").mkdir()
    torch.save(nearest_state_dict(features=4), root / "upscale_models" / "nearest_x4.pth")
    return root


def run(capsys, *args: str, quiet: bool = True) -> tuple[int, str]:
    code = cli.main(["lipsync", *args, *(["--quiet"] if quiet else [])])
    return code, capsys.readouterr().err


def assert_audio_length(path, seconds: float) -> None:
    """The decoded sound lasts ``seconds``, plus at most the AAC encoder's last partial frame (1024 samples)."""
    audio = read_audio(path)
    assert seconds - 0.01 <= audio.duration <= seconds + 1024 / audio.sample_rate + 0.01, audio.duration


def test_sample_clip_end_to_end(tmp_path, capsys, models, sample_frames):
    """The README's command on the sample (75 frames) with 0.12 s of speech, trim: 3 lip-synced frames at 25 fps
    with that speech, the mouths restored by GFPGAN, progress bars and the summary line."""
    version, superres = "1.5", "GFPGAN"
    folder = tmp_path / "sortie é"
    folder.mkdir()
    out = folder / "synced clip.mp4"
    code, err = run(capsys, "--video", SAMPLE, "--audio", speech(tmp_path / "hello.wav", 3), "--output", str(out),
                    "--version", version, "--superres", superres, "--length_mode", "trim", "--models-dir", str(models), *FAST,
                    quiet=False)
    assert code == cli.EXIT_OK, err
    frames = decode_video(out)
    assert frames.shape == (3, 512, 512, 3)
    with av.open(str(out)) as container:
        assert container.streams.video[0].average_rate == 25
    assert_audio_length(out, 0.12)
    changed = np.abs(frames.astype(int) - sample_frames[:3].astype(int)).max(axis=-1) > 40
    assert changed.mean(axis=(1, 2)).min() > 0.001, "every frame's mouth was regenerated"
    assert not changed[:, :100].any(), "nothing changed far above the face"  # the hair and the sky above it
    lines = err.strip().splitlines()
    assert "sample" in err and "step" in err  # the sampler's progress bar
    assert lines[-1] == f"wrote {out}: 3 frames at 25 fps, 3 lip-synced, 3 mouths restored, 0.12 s of speech"
    assert os.listdir(folder) == ["synced clip.mp4"]


def cartoon_frame(size: int, emoji: str = "emoji_1F466.png") -> np.ndarray:
    """A cartoon face (a Noto emoji, tests/data/face_gate) filling most of a ``size`` x ``size`` grey frame."""
    import cv2

    rgba = cv2.cvtColor(cv2.imread(os.path.join(DATA, "face_gate", emoji), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    side = int(size * 0.8)
    rgba = cv2.resize(rgba, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
    frame = np.full((size, size, 3), 96.0, np.float32)
    top = (size - side) // 2
    alpha = rgba[..., 3:] / 255.0
    frame[top:top + side, top:top + side] = alpha * rgba[..., :3] + (1 - alpha) * frame[top:top + side, top:top + side]
    return frame.round().astype(np.uint8)


def test_animated_cutaway_passes_untouched_and_the_head_around_it_is_lip_synced(tmp_path, capsys, models, sample_frames):
    """A talking head, a cartoon face the landmark detector takes for a face, the head again: the human-face gate
    leaves every cartoon frame bit-identical (lossless output) and every head frame is lip-synced."""
    from latentsync_core.face.landmarks import get_backend

    cartoon = cartoon_frame(sample_frames.shape[1])
    with contextlib.closing(get_backend("mediapipe")) as backend:
        assert backend.detect(cartoon), "the detector must see a face in the cartoon for this test to mean anything"
    frames = np.concatenate([sample_frames[40:43], np.stack([cartoon] * 3), sample_frames[40:43]])
    clip = write_lossless(tmp_path / "head_cartoon_head.mkv", frames)
    out = tmp_path / "out.mkv"
    code, err = run(capsys, "--video", clip, "--audio", speech(tmp_path / "s.wav", 9), "--output", str(out),
                    "--superres", "none", "--length_mode", "trim", "--crf", "0", "--models-dir", str(models), *FAST)
    assert code == cli.EXIT_OK, err
    got = decode_video(out)
    assert got.shape == frames.shape
    for i in range(3, 6):
        assert np.array_equal(got[i], frames[i]), f"cartoon frame {i} changed"
    for i in (0, 1, 2, 6, 7, 8):
        assert (got[i] != frames[i]).any(), f"head frame {i} was not lip-synced"
    # with stylised characters allowed, the cartoon gets a mouth too
    code, err = run(capsys, "--video", clip, "--audio", speech(tmp_path / "s.wav", 9), "--output", str(tmp_path / "all.mkv"),
                    "--superres", "none", "--length_mode", "trim", "--crf", "0", "--allow_stylised", "--models-dir",
                    str(models), *FAST)
    assert code == cli.EXIT_OK, err
    assert any((decode_video(tmp_path / "all.mkv")[i] != frames[i]).any() for i in range(3, 6))


@pytest.fixture(scope="module")
def cutaway_clips(tmp_path_factory, sample_frames) -> dict[str, tuple[str, np.ndarray, int]]:
    """Lossless clips cut from the sample around its cutaway: ``long`` = frames 42-55 (3 face frames, the
    8 cutaway frames, 3 face frames), ``short`` = frames 43-48 (2 face frames, 4 cutaway frames);
    name -> (path, frames, index of the first frame in the sample)."""
    folder = tmp_path_factory.mktemp("clips")
    return {name: (write_lossless(folder / f"{name}.mkv", sample_frames[a:b]), sample_frames[a:b], a)
            for name, (a, b) in {"long": (42, 56), "short": (43, 49)}.items()}


# Full-size GFPGAN / CodeFormer take seconds per mouth on the CPU: the default suite restores with GFPGAN
# on the sample (above); CodeFormer and "both" run with the slow tests (pytest -m slow).
@pytest.mark.parametrize("version, superres, clip, mode, audio_frames, frame_map", [
    ("1.5", "none", "long", "pingpong", 20, list(range(14)) + list(range(13, 7, -1))),
    ("1.6", "none", "short", "pad_audio", 4, list(range(6))),
    pytest.param("1.5", "CodeFormer", "short", "trim", 6, list(range(6)), marks=pytest.mark.slow),
    pytest.param("1.6", "both", "short", "pad_audio", 4, list(range(6)), marks=pytest.mark.slow),
])
def test_every_restorer_and_version_length_modes_faceless_frames_bit_identical(
    tmp_path, capsys, models, cutaway_clips, version, superres, clip, mode, audio_frames, frame_map
):
    """Lossless in and out: output length and sound as the length mode says, cutaway frames exactly as
    decoded, face frames lip-synced (and restored: every mouth crop of these frames is enlarged)."""
    src, frames, first = cutaway_clips[clip]
    out = tmp_path / "out.mkv"
    code, err = run(capsys, "--video", src, "--audio", speech(tmp_path / "s.wav", audio_frames), "--output", str(out),
                    "--version", version, "--superres", superres, "--length_mode", mode, "--crf", "0",
                    "--models-dir", str(models), *FAST, quiet=False)
    assert code == cli.EXIT_OK, err
    got = decode_video(out)
    assert len(got) == len(frame_map)
    assert_audio_length(out, len(frame_map) / 25)
    faces = [j for j, i in enumerate(frame_map) if first + i not in CUTAWAY]
    for j, i in enumerate(frame_map):
        if j in faces:
            assert not np.array_equal(got[j], frames[i]), f"output frame {j} (source {i}) was not lip-synced"
        else:
            assert np.array_equal(got[j], frames[i]), f"output frame {j} (source {i}, no face) was changed"
    restored = f", {len(faces)} mouths restored" if superres != "none" else ""
    assert err.strip().splitlines()[-1].endswith(f"{len(faces)} lip-synced{restored}, {len(frame_map) / 25:.2f} s of speech")


def test_background_upscale_pastes_the_face_where_it_belongs(tmp_path, capsys, models, sample_frames):
    """x4 nearest-neighbour background: face-less frames are exactly the upscaled source; the face changes
    where it changes without the upscaler, scaled by 4."""
    small = np.stack([f[::2, ::2] for f in sample_frames[42:48]])  # 256x256: 3 face frames, 3 cutaway frames
    src = write_lossless(tmp_path / "small.mkv", small)
    audio = speech(tmp_path / "s.wav", 6)
    plain, big = tmp_path / "plain.mkv", tmp_path / "big.mkv"
    common = ["--video", src, "--audio", audio, "--superres", "none", "--length_mode", "trim", "--crf", "0",
              "--models-dir", str(models), *FAST]
    assert run(capsys, *common, "--output", str(plain))[0] == cli.EXIT_OK
    code, err = run(capsys, *common, "--output", str(big), "--bg_upscale", "nearest_x4.pth")
    assert code == cli.EXIT_OK, err
    a, b = decode_video(plain), decode_video(big)
    upscaled = small.repeat(4, axis=1).repeat(4, axis=2)
    assert b.shape == (6, 1024, 1024, 3)
    assert np.array_equal(b[3:], upscaled[3:])
    for i in range(3):
        moved = np.abs(a[i].astype(int) - small[i].astype(int)).max(-1) > 24
        moved_big = np.abs(b[i].astype(int) - upscaled[i].astype(int)).max(-1) > 24
        assert moved.sum() > 50 and moved_big.sum() > 50 * 16 * 0.5
        centre = np.argwhere(moved).mean(axis=0)
        centre_big = (np.argwhere(moved_big).mean(axis=0) + 0.5) / 4 - 0.5
        assert np.abs(centre - centre_big).max() < 1.5, (centre, centre_big)


class ModelHub(FakeHub):
    """Serves the Hub's resolve URLs and GitHub's release URLs from ``files``."""


def test_first_run_downloads_missing_models_then_runs(tmp_path, capsys, monkeypatch, cutaway_clips):
    served = write_lipsync_models(tmp_path / "upstream")
    ModelHub.files = {
        f"ByteDance/LatentSync-1.5/resolve/main/{path[len('latentsync/LatentSync-1.5/'):]}": body
        for path, body in served.items() if path.startswith(os.path.join("latentsync", "LatentSync-1.5"))
    }
    ModelHub.files["stabilityai/sd-vae-ft-mse-original/resolve/main/vae-ft-mse-840000-ema-pruned.safetensors"] = served[
        os.path.join("vae", "vae-ft-mse-840000-ema-pruned.safetensors")]
    digests = {name.rsplit("/", 1)[-1]: hashlib.sha256(body).hexdigest() for name, body in ModelHub.files.items()}
    monkeypatch.setattr(mf, "OFFICIAL_FILES", tuple(dataclasses.replace(e, sha256=digests.get(e.file_name, e.sha256))
                                                    for e in mf.OFFICIAL_FILES))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ModelHub)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{httpd.server_port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    models = tmp_path / "models"
    try:
        code, err = run(capsys, "--video", cutaway_clips["short"][0], "--audio", speech(tmp_path / "s.wav", 3), "--output",
                        str(tmp_path / "out.mp4"), "--superres", "none", "--length_mode", "trim", "--models-dir", str(models),
                        "--inference_steps", "1", "--device", "cpu", "--landmark_cache", "off")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert code == cli.EXIT_OK, err
    assert files_under(models) == sorted(os.path.join(*p.split("/")) for p in [
        "latentsync/LatentSync-1.5/latentsync_unet.pt", "latentsync/LatentSync-1.5/whisper/tiny.pt",
        "vae/vae-ft-mse-840000-ema-pruned.safetensors"])
    assert len(decode_video(tmp_path / "out.mp4")) == 3


@pytest.mark.parametrize("how", ["--offline", "HF_HUB_OFFLINE", "no network"])
def test_offline_missing_models_exit_3_one_line_naming_files_folders_urls(tmp_path, capsys, monkeypatch, how):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv(mf.GITHUB_ENDPOINT_ENV, raising=False)
    if how == "no network":  # nothing listens there: one line, no download client's retry lines
        monkeypatch.setenv(mf.GITHUB_ENDPOINT_ENV, "http://127.0.0.1:9")
    if how == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    video = write_lossless(tmp_path / "v.mkv", np.zeros((2, 64, 64, 3), np.uint8))
    audio = speech(tmp_path / "s.wav", 2)
    models = tmp_path / "models"
    before = files_under(tmp_path)
    args = ["--video", video, "--audio", audio, "--output", str(tmp_path / "o.mp4"), "--models-dir", str(models), "--superres", "both"]
    code, err = run(capsys, *args, *(["--offline"] if how == "--offline" else []))
    assert code == cli.EXIT_MISSING_MODEL
    github = "http://127.0.0.1:9" if how == "no network" else "https://github.com"
    assert_one_line_error(
        err, "missing model", "latentsync_unet.pt", str(models / "latentsync" / "LatentSync-1.5"),
        "http://127.0.0.1:9/ByteDance/LatentSync-1.5/resolve/main/latentsync_unet.pt", "'tiny.pt'",
        "vae-ft-mse-840000-ema-pruned.safetensors", f"{github}/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth",
        f"{github}/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth", str(models / "facerestore_models"),
    )
    assert files_under(tmp_path) == before  # no file; a tried download may leave its (empty) model folders
    assert how == "no network" or not models.exists()


def _faceless_clip(tmp_path, sample_frames) -> str:
    return write_lossless(tmp_path / "shuttle.mkv", sample_frames[45:48])


def _empty_wav(tmp_path) -> str:
    path = tmp_path / "empty.wav"
    with wave.open(str(path), "wb") as w:  # a valid header, no samples
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    return str(path)


@pytest.mark.parametrize("case, words", [
    ("missing video", ["does not exist", "Check the path"]),
    ("text file named .mp4", ["Cannot read", "notes.mp4"]),
    ("video with no frames", ["no video frames"]),
    ("audio with no samples", ["holds no samples", "Give a wav"]),
    ("video with no face", ["No face was found", "Use a video where a face is visible"]),
    ("unwritable output", ["does not exist", "choose another output path"]),
])
def test_bad_input_exit_2_one_line_nothing_left(tmp_path, capsys, models, sample_frames, case, words):
    video, audio, output = SAMPLE, None, tmp_path / "out.mp4"
    if case == "missing video":
        video = str(tmp_path / "nope.mp4")
    elif case == "text file named .mp4":
        video = str(make_text(tmp_path))
    elif case == "video with no frames":
        video = str(make_frames(tmp_path, 0))
    elif case == "audio with no samples":
        audio = _empty_wav(tmp_path)
    elif case == "video with no face":
        video = _faceless_clip(tmp_path, sample_frames)
    else:
        output = tmp_path / "no such folder" / "out.mp4"
    audio = audio or speech(tmp_path / "s.wav", 3)
    before = files_under(tmp_path)
    code, err = run(capsys, "--video", video, "--audio", audio, "--output", str(output), "--superres", "none",
                    "--models-dir", str(models), *FAST)
    assert code == cli.EXIT_BAD_INPUT
    assert_one_line_error(err, "bad input", *words)
    assert files_under(tmp_path) == before


def test_help_explains_every_option(capsys):
    assert cli.main(["lipsync", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--video", "--audio", "--output", "--version", "--superres", "--sr_ratio", "--mask_smooth",
                   "--inference_steps", "--guidance_scale", "--seed", "--length_mode", "--deepcache", "--models-dir",
                   "--device", "--offline", "--crf", "--bg_upscale"):
        assert option in text
    assert "default 20" in text and "default 1.5" in text and "default 1247" in text and "default pingpong" in text
    assert cli.main(["lipsync", "--video", "v.mp4"]) == cli.EXIT_BAD_INPUT
