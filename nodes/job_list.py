"""ComfyUI node: one row of a jobs file (CSV / JSON Lines, as ``batch`` reads it) for the streaming node; with the
index's increment control, *Queue (N)* runs the list row after row (thin adapter over ``latentsync_core.batch``)."""
from __future__ import annotations

import os

import folder_paths
from comfy_api.v0_0_2 import InputImpl, io
from typing_extensions import override

from ..latentsync_core.batch.jobs_file import NODE_ROW_OPTIONS, check_node_overrides, job_row
from ..latentsync_core.batch.plan import output_name
from ..latentsync_core.media.audio_io import read_audio
from ..latentsync_core.media.video_io import probe
from .types import CATEGORY, JobOptions


def _jobs_path(jobs_file: str) -> str:
    """``jobs_file`` as given, or under ComfyUI's input folder when it is relative."""
    path = os.path.expanduser(jobs_file.strip())
    return path if os.path.isabs(path) else os.path.join(folder_paths.get_input_directory(), path)


class LatentSync_JobList(io.ComfyNode):
    @classmethod
    @override
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentSync_JobList",
            display_name="LatentSync Job List",
            category=CATEGORY,
            description="Reads row `index` of a jobs file (the CSV / JSON Lines of the batch command: video, audio, "
            "optional output and option columns) for LatentSync Lip-Sync Video. With the index set to increment, "
            "Queue (N) runs the list row after row; after the last row the node stops with an error saying so.",
            inputs=[
                io.String.Input("jobs_file", default="jobs.csv",
                                tooltip="The .csv (header row) or .jsonl jobs file: an absolute path, or a path in "
                                "ComfyUI's input folder. Relative video and audio paths in it are relative to its "
                                f"folder. Option columns: {', '.join(NODE_ROW_OPTIONS)}."),
                io.Int.Input("index", default=1, min=1, max=1_000_000, control_after_generate=True,
                             tooltip="The row to run, 1 = the first under the header; set the control to increment "
                             "so that each queued run takes the next row."),
            ],
            outputs=[
                io.Video.Output(display_name="video", tooltip="The row's video, read from its file in windows by "
                                "LatentSync Lip-Sync Video."),
                io.Audio.Output(display_name="audio", tooltip="The row's speech."),
                JobOptions.Output(display_name="job_options", tooltip="The row's option columns; connect to LatentSync "
                                  "Lip-Sync Video's job_options, where they replace its widgets' values."),
                io.String.Output(display_name="filename_prefix", tooltip="latentsync/ + the row's output name (default "
                                 "<video>__<audio>), for Save Video's filename_prefix."),
            ],
        )

    @classmethod
    @override
    def fingerprint_inputs(cls, jobs_file: str, index: int) -> tuple:
        """The row again when the jobs file changed."""
        path = _jobs_path(jobs_file)
        stat = os.stat(path) if os.path.isfile(path) else None
        return path, index, stat and (stat.st_size, stat.st_mtime_ns)

    @classmethod
    @override
    def execute(cls, jobs_file: str, index: int) -> io.NodeOutput:
        path = _jobs_path(jobs_file)
        row = job_row(path, index)
        overrides = check_node_overrides(row, path)
        probe(row.video)
        speech = read_audio(row.audio)
        name = os.path.splitext(row.output)[0] if row.output else output_name(row.video, row.audio)
        audio = {"waveform": speech.waveform[None], "sample_rate": speech.sample_rate}
        return io.NodeOutput(InputImpl.VideoFromFile(row.video), audio, overrides, f"latentsync/{name}")


NODES = [LatentSync_JobList]
