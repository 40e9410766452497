"""``python -m latentsync_core enhance``: exit codes, one-line errors, no partial output,
and the ``--superres none`` stream (align -> mouth ROI -> paste) on a real face.

Clips are synthesised in ``tmp_path``: a few frames of ``tests/data/astronaut.png``
(NASA, public domain) seen by a slowly panning camera, with a 440 Hz tone.
"""
from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from cli_errors import assert_one_line_error
from clips import face_frames
from latentsync_core import cli, job
from latentsync_core.media.video_io import probe
from repo_paths import ROOT
from video_files import assert_same_frames, decode_video, frame_times, make_clip, packets


def run(capsys, *args: str) -> tuple[int, str]:
    code = cli.main(["enhance", *args, "--quiet"])
    return code, capsys.readouterr().err


@pytest.fixture
def face_clip(tmp_path):
    folder = tmp_path / "clips à voir"
    folder.mkdir()
    path = folder / "visage 1.mp4"
    make_clip(path, frames=face_frames(), fps=Fraction(30000, 1001), time_base=Fraction(1, 30000), pts=[i * 1001 for i in range(5)])
    return path


def test_superres_none_streams_whole_path_and_changes_nothing(face_clip, tmp_path, capsys):
    out_dir = tmp_path / "résultats"
    out_dir.mkdir()
    out = out_dir / "sortie 1.mp4"
    before = sorted(os.listdir(face_clip.parent))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code = cli.main(["enhance", "--input", str(face_clip), "--output", str(out), "--superres", "none", "--window", "2"])
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    assert code == cli.EXIT_OK, err
    assert "5 frames, 5 with a face" in err
    assert os.listdir(out_dir) == ["sortie 1.mp4"]
    assert sorted(os.listdir(face_clip.parent)) == before
    assert sorted(os.listdir(tmp_path)) == sorted(["clips à voir", "résultats"])
    assert_same_frames(decode_video(out), decode_video(face_clip))
    assert probe(out).fps == Fraction(30000, 1001)
    assert frame_times(out) == frame_times(face_clip)
    assert [bytes(p) for p in packets(out, "audio")] == [bytes(p) for p in packets(face_clip, "audio")]


def test_enhance_job_without_restorer_is_identity_across_windows():
    from latentsync_core.face.aligner import FaceAligner
    from latentsync_core.face.landmarks import get_backend

    frames = face_frames(6)
    source = job.IterableSource(lambda: [frames], 25, frames.shape[2], frames.shape[1])
    enhancer = job.EnhanceJob(source, FaceAligner(get_backend("mediapipe")), job.JobOptions(window=4))
    windows = list(enhancer.windows())
    assert [len(w) for w in windows] == [4, 2]
    out = np.concatenate([w.frames for w in windows])
    assert out.dtype == np.uint8 and np.array_equal(out, frames)
    assert enhancer.faces == 6


def test_clip_without_faces_or_audio_passes_through(tmp_path, capsys):
    src, out = tmp_path / "ramps.mp4", tmp_path / "out.mp4"
    make_clip(src, n=4, audio=None)
    code, err = run(capsys, "--input", str(src), "--output", str(out), "--superres", "none")
    assert code == cli.EXIT_OK, err
    assert_same_frames(decode_video(out), decode_video(src))
    assert not probe(out).has_audio


def _text_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video\n")
    return path


def _empty_mp4(tmp_path):
    import av

    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    return path


@pytest.mark.parametrize(
    "make_input, output, words",
    [
        (lambda d: d / "missing.mp4", "out.mp4", ["does not exist"]),
        (_text_mp4, "out.mp4", ["Cannot read"]),
        (_empty_mp4, "out.mp4", ["no video frames"]),
        (lambda d: make_clip(d / "ok.mp4", n=2) is not None and d / "ok.mp4", "no folder/out.mp4", ["does not exist"]),
        (lambda d: make_clip(d / "ok.mp4", n=2) is not None and d / "ok.mp4", "out.txt", ["extension"]),
        (lambda d: make_clip(d / "ok.mp4", n=2) is not None and d / "ok.mp4", "ok.mp4", ["is the input"]),
    ],
    ids=["missing", "text-file", "no-frames", "no-output-folder", "bad-extension", "output-is-input"],
)
def test_bad_input_exit_2_one_line_no_output(tmp_path, capsys, make_input, output, words):
    src = make_input(tmp_path)
    before = sorted(os.listdir(tmp_path))
    code, err = run(capsys, "--input", str(src), "--output", str(tmp_path / output), "--superres", "none")
    assert code == cli.EXIT_BAD_INPUT
    assert_one_line_error(err, "bad input", *words)
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize(
    "option",
    [["--window", "0"], ["--mask_smooth", "1.5"], ["--sr_ratio", "-1"], ["--superres", "ESRGAN"], ["--resolution", "300"],
     ["--batch_size", "0"], ["--fidelity", "2"], ["--crf", "60"], ["--device", "nonsense"]],
)
def test_bad_options_exit_2(tmp_path, capsys, option):
    src = tmp_path / "in.mp4"
    make_clip(src, n=2)
    code, err = run(capsys, "--input", str(src), "--output", str(tmp_path / "o.mp4"), *option)
    assert code == cli.EXIT_BAD_INPUT
    assert_one_line_error(err, option[0])
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_failure_while_processing_exit_1_no_partial_output(tmp_path, capsys, monkeypatch):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, n=6, audio=None)
    calls = []

    def fail_on_second_window(self, frames, alignment):
        calls.append(len(frames))
        if len(calls) == 2:
            raise RuntimeError("simulated failure")
        return frames

    monkeypatch.setattr(job.EnhanceJob, "process", fail_on_second_window)
    code, err = run(capsys, "--input", str(src), "--output", str(out), "--superres", "none", "--window", "3")
    assert code == cli.EXIT_ERROR and calls == [3, 3]
    assert_one_line_error(err, "RuntimeError", "simulated failure")
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_module_entry_point_reports_bad_input(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "latentsync_core", "enhance", "--input", str(tmp_path / "nope é.mp4"),
         "--output", str(tmp_path / "out.mp4"), "--superres", "none"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == cli.EXIT_BAD_INPUT
    assert_one_line_error(proc.stderr, "nope é.mp4", "does not exist")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("superres, file_name", [("GFPGAN", "GFPGANv1.4.pth"), ("CodeFormer", "codeformer.pth"), ("both", "GFPGANv1.4.pth")])
def test_missing_model_exit_3_names_file_folder_url(tmp_path, capsys, superres, file_name):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, n=2)
    models = tmp_path / "models"
    (models / "facerestore_models").mkdir(parents=True)
    code, err = run(capsys, "--input", str(src), "--output", str(out), "--superres", superres, "--models-dir", str(models),
                    "--offline")
    assert code == cli.EXIT_MISSING_MODEL
    assert_one_line_error(err, "missing model", file_name, str(models / "facerestore_models"), "https://github.com/")
    assert sorted(os.listdir(tmp_path)) == ["in.mp4", "models"]
    assert os.listdir(models / "facerestore_models") == []


class _Negate:
    """A stand-in network for the selection logic: ``restore`` returns ``1 - x`` (same layout)."""

    def __init__(self) -> None:
        self.calls = 0

    def restore(self, faces, fidelity: float = 0.5):
        self.calls += 1
        return 1.0 - faces


def _face_roi(n: int = 3):
    import torch

    from latentsync_core.face.aligner import FaceAligner
    from latentsync_core.face.landmarks import get_backend
    from latentsync_core.face.mouth_roi import crop_mouth

    frames = face_frames(n)
    frames[-1] = 128  # a frame with no face
    aligned, alignment = FaceAligner(get_backend("mediapipe")).align(torch.from_numpy(frames).float() / 255)
    return crop_mouth(aligned, alignment, 512)


def test_mouth_restorer_selects_by_sr_ratio_and_chains_nets():
    roi = _face_roi()
    assert roi.valid.tolist() == [True, True, False]
    first, second = _Negate(), _Negate()
    out = job.MouthRestorer([first], sr_ratio=0)(roi)
    assert torch_allclose(out.crops[:2], 1 - roi.crops[:2]) and torch_allclose(out.crops[2], roi.crops[2])
    # Both nets run, in order, each on the previous one's output: negating twice is the identity.
    both = job.MouthRestorer([first, second], sr_ratio=0)
    assert torch_allclose(both(roi).crops, roi.crops) and second.calls == 1 and both.restored == 2
    # The mouth spans far more than 512 / 1000 source pixels: no crop is enlarged that much.
    skip = job.MouthRestorer([_Negate()], sr_ratio=1000)
    assert skip(roi) is roi and skip.nets[0].calls == 0 and skip.restored == 0


def torch_allclose(a, b) -> bool:
    return bool((a - b).abs().max() < 1e-6)


@pytest.fixture(scope="module")
def random_restorer_models(tmp_path_factory):
    """Random-weight GFPGAN v1.4 and CodeFormer files in the official layout (``params_ema`` state dicts)."""
    import torch

    folder = tmp_path_factory.mktemp("facerestore_models")
    torch.manual_seed(0)
    from spandrel.architectures.GFPGAN import GFPGAN

    gfpgan = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None, fix_decoder=False,
                    num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True)
    torch.save({"params_ema": gfpgan.state_dict()}, folder / "GFPGANv1.4.pth")
    del gfpgan
    spandrel_extra = pytest.importorskip("spandrel_extra_arches.architectures.CodeFormer")
    torch.save({"params_ema": spandrel_extra.CodeFormer().state_dict()}, folder / "codeformer.pth")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("superres", ["GFPGAN", "CodeFormer"])
def test_restorer_changes_only_the_mouth(tmp_path, capsys, random_restorer_models, superres):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=face_frames(2))
    code, err = run(capsys, "--input", str(src), "--output", str(out), "--superres", superres,
                    "--models-dir", str(random_restorer_models), "--sr_ratio", "0", "--device", "cpu")
    assert code == cli.EXIT_OK, err
    before, after = decode_video(src).astype(int), decode_video(out).astype(int)
    assert after.shape == before.shape
    diff = np.abs(after - before).mean(axis=-1)
    # Random weights paint noise over the mouth (rows 74-128, columns 76-116 of this view);
    # the top band (background, hair) only sees the re-encoding.
    assert diff[:, 85:120, 75:115].mean() > 20.0
    assert diff[:, :40].mean() < 5.0


def test_missing_landmark_model_exit_3(tmp_path, capsys):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, n=2)
    code, err = run(capsys, "--input", str(src), "--output", str(out), "--superres", "none",
                    "--backend", "insightface", "--models-dir", str(tmp_path))
    assert code == cli.EXIT_MISSING_MODEL
    assert_one_line_error(err, "missing model", ".onnx", str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_bg_upscale_enlarges_every_frame(tmp_path, capsys):
    """A nearest-neighbour x4 RealESRGAN-layout file: frames without a face are the decoded source, enlarged, exactly."""
    import torch

    from upscaler_fixtures import nearest_state_dict

    src, out = tmp_path / "in.mp4", tmp_path / "big.mkv"
    make_clip(src, n=3, size=(40, 32))
    torch.save(nearest_state_dict(features=4), tmp_path / "nearest_x4.pth")
    code, err = run(capsys, "--input", str(src), "--output", str(out), "--superres", "none", "--crf", "0",
                    "--bg_upscale", str(tmp_path / "nearest_x4.pth"))
    assert code == cli.EXIT_OK, err
    assert np.array_equal(decode_video(out), decode_video(src).repeat(4, axis=1).repeat(4, axis=2))
