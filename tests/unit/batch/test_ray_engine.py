"""``batch --engine ray`` on a real local Ray cluster (``ray.init(num_cpus=2)``, one for the whole module, started
through the engine's own :func:`connect`): rows on tiny random models give the same frames as ``--engine local``,
a worker that dies mid-row has its row run again to the same frames, a row that fails is reported while the others
finish, a file a worker cannot see stops the run with one line naming the shared-folder requirement, and without
Ray ``--engine ray`` names ``pip install ray``.

The workers are other processes: the cluster's ``worker_process_setup_hook`` (tests/support/ray_workers.py) gives
them the tiny architectures and the armed crash of the retry test. Two actors of one CPU each (``--cpus-per-job 1``).
Clips: 6 lossless frames of the sample (2 face frames, 4 of its cutaway), and 6 frames of the cutaway alone (no face:
the row that fails in its worker, after the rows were checked).
"""
from __future__ import annotations

import functools
import os
import sys

import numpy as np
import pytest

import ray_workers
from batch_cli import run_batch, write_jobs
from latentsync_core import cli
from latentsync_core.batch import ray_engine
from latentsync_core.errors import BadInputError
from lipsync_cli import FAST, speech, write_lossless
from repo_paths import ROOT
from video_files import decode_video

pytestmark = pytest.mark.usefixtures("tiny_architectures")

SUPPORT = os.path.join(ROOT, "tests", "support")
ROWS = [{"video": "clip.mkv", "audio": "en.wav"}, {"video": "clip.mkv", "audio": "fr.wav"},
        {"video": "no_face.mkv", "audio": "en.wav"},
        {"video": "clip.mkv", "audio": "en.wav", "output": "seed7.mkv", "seed": "7"},
        {"video": "clip.mkv", "audio": "fr.wav", "output": "steps3.mkv", "inference_steps": "3"}]
"""Four rows that run and one (row 3) whose video has no face."""
OUTPUTS = {1: "clip__en.mkv", 2: "clip__fr.mkv", 4: "seed7.mkv", 5: "steps3.mkv"}


@pytest.fixture(scope="module")
def kill_file(tmp_path_factory):
    """The one local Ray cluster of the module (2 CPUs), started by the engine; yields the retry test's kill file."""
    ray = pytest.importorskip("ray")
    kill = tmp_path_factory.mktemp("kill") / "kill once"
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join([SUPPORT, ROOT]), ray_workers.KILL_FILE_ENV: str(kill)},
           "worker_process_setup_hook": ray_workers.setup_worker}
    assert ray_engine.connect(num_cpus=2, runtime_env=env)
    yield kill
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, sample_frames):
    folder = tmp_path_factory.mktemp("inputs é")
    write_lossless(folder / "clip.mkv", sample_frames[43:49])
    write_lossless(folder / "no_face.mkv", sample_frames[45:51])
    speech(folder / "en.wav", 6), speech(folder / "fr.wav", 5)
    return folder


@pytest.fixture(scope="module")
def local_outputs(tmp_path_factory, inputs, lipsync_models, one_thread):
    """The rows run by ``--engine local`` (on one thread, as the actors): output frames by row."""
    from latentsync_core.lipsync import checkpoints
    from latentsync_core.lipsync import vae as vae_module

    out = tmp_path_factory.mktemp("local")
    jobs = write_jobs(inputs / "jobs.csv", ROWS)
    with pytest.MonkeyPatch.context() as patch:
        ray_workers.use_tiny_architectures(functools.partial(patch.setitem, checkpoints.CONFIGS),
                                           functools.partial(patch.setattr, vae_module, "SD_VAE_CONFIG"))
        assert cli.main(["batch", jobs, "--output-dir", str(out), "--models-dir", str(lipsync_models), "--crf", "0",
                         "--superres", "none", "--quiet", *FAST]) == cli.EXIT_ERROR
    return {row: decode_video(out / name) for row, name in OUTPUTS.items()}


@pytest.mark.ray
def test_rows_on_ray_equal_local_a_failing_row_is_reported_the_others_finish(
    tmp_path, capfd, kill_file, inputs, lipsync_models, local_outputs
):
    jobs, out = write_jobs(inputs / "jobs.csv", ROWS), tmp_path / "ray"
    code, printed, err, report = run_batch(capfd, jobs, out, lipsync_models, "--quiet", "--engine", "ray", "--cpus-per-job", "1")

    assert code == cli.EXIT_ERROR
    # Nothing of Ray's (the run is quiet): only the run's last line.
    assert printed == ""
    assert err.strip().splitlines() == [
        f"latentsync batch: error: 1 of 5 rows failed (see the table, or {out / 'batch_report.json'})."], err
    assert [report[n]["status"] for n in range(1, 6)] == ["done", "done", "failed", "done", "done"]
    assert report[3]["error"].startswith("No face was found in any frame of ") and report[3]["frames"] == 0
    for row, name in OUTPUTS.items():
        assert report[row]["frames"] == len(local_outputs[row])
        assert np.array_equal(decode_video(out / name), local_outputs[row]), f"row {row} differs from --engine local"
    assert not np.array_equal(local_outputs[1], local_outputs[4]), "the seed column changed nothing"
    assert sorted(os.listdir(out)) == sorted(["batch_report.json", *OUTPUTS.values(),
                                              *(f"{name}.latentsync.json" for name in OUTPUTS.values())])


@pytest.mark.ray
def test_a_worker_that_dies_mid_row_is_restarted_and_its_row_run_again_to_the_same_frames(
    tmp_path, capfd, kill_file, inputs, lipsync_models, local_outputs
):
    kill_file.write_text("the first worker that has written part of its output ends its process")
    jobs, out = write_jobs(inputs / "one.csv", ROWS[:1]), tmp_path / "ray"
    code, printed, err, report = run_batch(capfd, jobs, out, lipsync_models, "--quiet", "--engine", "ray", "--cpus-per-job", "1")

    assert not kill_file.exists() and os.path.exists(f"{kill_file}{ray_workers.FIRED_SUFFIX}"), "no worker died"
    assert code == cli.EXIT_OK and err == "", err
    # Ray's driver prints the death of a worker on stdout, whatever it is told: the only lines of Ray's in a run
    assert all("(raylet)" in line for line in printed.splitlines() if line.strip()), printed
    assert report[1]["status"] == "done"
    assert np.array_equal(decode_video(out / OUTPUTS[1]), local_outputs[1])


@pytest.mark.ray
def test_a_file_a_worker_cannot_see_stops_the_run_with_one_line_naming_the_shared_folder(
    tmp_path, kill_file, inputs, lipsync_models
):
    from latentsync_core.batch.jobs_file import read_job_rows
    from latentsync_core.batch.plan import plan_rows
    from latentsync_core.batch.progress import BatchProgress
    from latentsync_core.batch.runner import RunSettings, find_model_files

    gone = tmp_path / "only here.wav"
    gone.write_bytes((inputs / "en.wav").read_bytes())
    settings = RunSettings(str(lipsync_models), download=False, quiet=True)
    rows = read_job_rows(write_jobs(tmp_path / "jobs.csv", [{"video": str(inputs / "clip.mkv"), "audio": str(gone)}]))
    planned, bad = plan_rows(rows, {"superres": "none"}, str(tmp_path))
    assert not bad
    files = find_model_files(planned, settings)
    gone.unlink()  # checked here, gone before the workers look: as on a machine that does not share the folder
    with pytest.raises(BadInputError) as error, BatchProgress(1, quiet=True) as progress:
        ray_engine.run_rows(planned, settings, files, progress, cpus_per_job=1)
    message = str(error.value)
    assert "\n" not in message and f"row 1's speech '{gone}'" in message
    assert "shared by all machines" in message and "same path" in message


def test_without_ray_engine_ray_names_pip_install_ray(tmp_path, capsys, monkeypatch, inputs, lipsync_models):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as when it is not installed
    jobs = write_jobs(inputs / "one.csv", ROWS[:1])
    code = cli.main(["batch", jobs, "--output-dir", str(tmp_path / "out"), "--models-dir", str(lipsync_models),
                     "--superres", "none", "--quiet", "--engine", "ray", *FAST])
    err = capsys.readouterr().err
    assert code == cli.EXIT_MISSING_DEPENDENCY, err
    assert len(err.strip().splitlines()) == 1 and "pip install ray" in err, err
    assert not os.path.exists(tmp_path / "out" / OUTPUTS[1])


def test_one_actor_per_gpu_else_per_cpus_per_job_of_each_machine():
    """The pool's size from the cluster's nodes as ``ray.nodes()`` lists them (dead nodes left out)."""
    def node(cpus: int, gpus: int = 0, alive: bool = True) -> dict:
        return {"Alive": alive, "Resources": {"CPU": float(cpus), **({"GPU": float(gpus)} if gpus else {})}}

    assert ray_engine.actor_shape([node(16, 2), node(8, 1), node(64, 4, alive=False)], 4) == (
        3, {"num_gpus": 1, "num_cpus": 1})
    assert ray_engine.actor_shape([node(16), node(6), node(2)], 4) == (5, {"num_cpus": 4})  # 4 + 1 + 0
    with pytest.raises(BadInputError, match=r"--cpus-per-job 8 is more than .* \(at most 6 CPUs\); give .* 6 or less"):
        ray_engine.actor_shape([node(6), node(2)], 8)
