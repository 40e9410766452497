"""LatentSync_JobList inside ComfyUI (opt-in: set COMFYUI_PATH): row ``index`` of a jobs file as the streaming
node's inputs (a VIDEO on the row's file, the speech as AUDIO, the row's options, a Save Video prefix), a path in
ComfyUI's input folder, the one-line error after the last row and for a column a row cannot set in ComfyUI."""
from __future__ import annotations

import os

import pytest

from comfy_nodes import core, node_module, requires_comfyui
from lipsync_cli import SAMPLE, speech

pytestmark = requires_comfyui


@pytest.fixture()
def jobs(tmp_path, monkeypatch):
    """A jobs file in a fake ComfyUI input folder: two rows of the sample clip, the second with options and output."""
    node_module("job_list")  # ComfyUI on the path
    import folder_paths

    monkeypatch.setattr(folder_paths, "get_input_directory", lambda: str(tmp_path))
    speech(tmp_path / "fr.wav", 5)
    (tmp_path / "jobs.csv").write_text(f"video,audio,output,seed,guidance_scale,deepcache\n{SAMPLE},fr.wav,,,,\n"
                                       f"{SAMPLE},fr.wav,dub/fr.mp4,7,1.0,3\n")
    return tmp_path


def run(jobs_file: str, index: int):
    node = node_module("job_list").LatentSync_JobList
    out = node.execute(jobs_file, index)
    return out.args if hasattr(out, "args") else out


def test_rows_become_the_streaming_nodes_inputs(jobs):
    from comfy_api.v0_0_2 import InputImpl

    video, audio, options, prefix = run("jobs.csv", 1)
    assert type(video) is InputImpl.VideoFromFile and video.get_stream_source() == SAMPLE
    rate = audio["sample_rate"]
    assert audio["waveform"].shape[0] == 1 and abs(audio["waveform"].shape[-1] / rate - 5 / 25) < 1e-3
    assert options == {} and prefix == "latentsync/astronaut_speech__fr"
    _video, _audio, options, prefix = run(str(jobs / "jobs.csv"), 2)
    assert options == {"seed": 7, "guidance_scale": 1.0, "deep_cache_interval": 3} and prefix == "latentsync/dub/fr"
    # What the streaming node makes of them: the row's values in place of its widgets'.
    with_overrides = core("batch.jobs_file").with_overrides
    job = with_overrides(core("run.options").JobOptions(), options)
    assert (job.sampler.seed, job.sampler.guidance_scale, job.sampler.deep_cache_interval) == (7, 1.0, 3)


def test_after_the_last_row_one_line_error(jobs):
    errors = core("errors")
    with pytest.raises(errors.BadInputError) as caught:
        run("jobs.csv", 3)
    assert str(caught.value).startswith(f"row 3 is past the end of {jobs / 'jobs.csv'} (2 rows); ")


def test_a_column_a_row_cannot_set_in_comfyui(jobs):
    (jobs / "versions.jsonl").write_text(f'{{"video": "{SAMPLE}", "audio": "fr.wav", "version": "1.6"}}\n')
    errors = core("errors")
    with pytest.raises(errors.BadInputError, match="sets 'version', which a row cannot set in ComfyUI"):
        run("versions.jsonl", 1)


def test_the_index_increments_and_a_changed_file_runs_again(jobs):
    node = node_module("job_list").LatentSync_JobList
    index = next(i for i in node.define_schema().inputs if i.id == "index")
    assert index.as_dict()["control_after_generate"] is True and index.default == 1
    before = node.fingerprint_inputs("jobs.csv", 1)
    os.utime(jobs / "jobs.csv", ns=(1, 1))
    assert node.fingerprint_inputs("jobs.csv", 1) != before
