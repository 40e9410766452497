"""Option parity: the command line's arguments, :class:`JobOptions` and every node widget agree with the option
table (``latentsync_core/run/options.py``), and the three front-ends turn their defaults into the same job options.

The command-line half runs everywhere; the node half reads the schemas of the pack's nodes as ComfyUI loads them
(opt-in: set COMFYUI_PATH to a ComfyUI checkout).
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib

import pytest

from comfy_nodes import PACK, core, node_module, requires_comfyui
from latentsync_core import cli
from latentsync_core.errors import BadInputError
from latentsync_core.lipsync.settings import SamplerSettings
from latentsync_core.run.options import BOOLEAN, ENHANCE, JOB, LIPSYNC, OPTIONS, SAMPLER, TABLE, JobOptions

REQUIRED = {LIPSYNC: ["--video", "v.mp4", "--audio", "a.wav", "--output", "o.mp4"],
            ENHANCE: ["--input", "v.mp4", "--output", "o.mp4"]}
HOST_ARGUMENTS = {"help", "video", "audio", "speaker", "mix", "input", "output", "models_dir", "offline", "bg_upscale", "device", "quiet",
                  "eval", "json", "syncnet", "no_sync"}
"""Arguments that are not options of the table: the files of the run and where it runs (the host's settings)."""
NOT_IN_TABLE = {
    ("LatentSync_WhisperLoader", "whisper_file"), ("LatentSync_ModelLoader", "unet_name"),
    ("LatentSync_ModelLoader", "whisper_name"), ("LatentSync_ModelLoader", "vae_name"),
    ("LatentSync_FaceRestoreModelLoader", "model_name"),  # model files: the folder's listing
    ("LatentSync_ModelLoader", "download"), ("LatentSync_FaceRestoreModelLoader", "download"),
    ("LatentSync_FaceAlignAffine", "download_models"), ("LatentSync_LipSyncQuality", "download_models"),  # the host's
    ("LatentSync_FaceRestoreModelLoader", "precision"),  # the dtype policy's (run/host.py)
    ("LatentSync_LoadWhisperEmbeds", "fps"), ("LatentSync_LoadWhisperEmbeds", "frame_count"),
    ("LatentSync_LipSyncQuality", "fps"),  # facts about the connected frames, not settings
    ("LatentSync_JobList", "jobs_file"), ("LatentSync_JobList", "index"),  # which row of which list: the rows hold options
    ("LatentSync_Speaker", "frame"), ("LatentSync_Speaker", "face_from_left"),  # who the speaker is, not a setting
}
"""Node widgets that are not options of the table, and why."""


def _subparser(command: str) -> argparse.ArgumentParser:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices[command]


def _parse(command: str, *args: str) -> argparse.Namespace:
    return cli.build_parser().parse_args([command, *REQUIRED[command], *args])


def _in(command: str) -> list:
    return [o for o in TABLE if o.cli and command in o.cli.commands]


@pytest.mark.parametrize("command", [LIPSYNC, ENHANCE])
def test_every_argument_is_the_table_entry(command):
    actions = {a.dest: a for a in _subparser(command)._actions}
    assert set(actions) - HOST_ARGUMENTS == {o.cli.dest for o in _in(command)}
    for option in _in(command):
        action = actions[option.cli.dest]
        assert action.option_strings == list(option.cli.flags), option.name
        assert action.default == option.default, option.name
        assert action.metavar == option.cli.metavar, option.name
        if option.type is bool:  # an on/off flag
            expected = (0, True)
        elif option.cli.const is not None:  # a value that may be left out
            expected = ("?", option.cli.const)
        else:
            expected = (None, None)
        assert (action.nargs, action.const) == expected, option.name
        assert action.type is (None if option.type is bool else option.type), option.name
        assert action.choices == option.choices, option.name
        assert (option.cli.help or option.help)[1:] in action.help, option.name
        assert ("(default %(default)s)" in action.help) == option.cli.show_default, option.name


def test_every_job_and_sampler_field_has_its_table_default():
    job = {f.name: f for f in dataclasses.fields(JobOptions) if f.name != "sampler"}
    sampler = {f.name: f for f in dataclasses.fields(SamplerSettings)}
    assert {o.name for o in TABLE if o.target == JOB} == set(job)
    assert {o.name for o in TABLE if o.target == SAMPLER} == set(sampler)
    for name, f in {**job, **sampler}.items():
        assert f.default == OPTIONS[name].default, name


@pytest.mark.parametrize("command", [LIPSYNC, ENHANCE])
def test_command_line_defaults_are_the_default_job(command):
    assert cli.job_options(_parse(command)) == JobOptions()


@pytest.mark.parametrize(("args", "field", "value"), [
    (["--inference_steps", "7"], "steps", 7), (["--guidance_scale", "2"], "guidance_scale", 2.0),
    (["--seed", "5"], "seed", 5), (["--chunk_size", "8"], "chunk_size", 8),
    (["--deepcache"], "deep_cache_interval", 3), (["--enable_deepcache", "5"], "deep_cache_interval", 5),
    (["--length_mode", "loop"], "length_mode", "loop"), (["--sr_ratio", "0"], "sr_ratio", 0.0),
    (["--fidelity", "0.7"], "fidelity", 0.7), (["--mask_smooth", "0"], "mask_smooth", 0.0),
    (["--window", "8"], "window", 8), (["--batch_size", "2"], "batch_size", 2), (["--crf", "0"], "crf", 0),
    (["--preset", "fast"], "preset", "fast"),
])
def test_each_argument_reaches_its_job_field(args, field, value):
    options = cli.job_options(_parse(LIPSYNC, *args))
    got = getattr(options.sampler, field) if OPTIONS[field].target == SAMPLER else getattr(options, field)
    assert got == value and got != OPTIONS[field].default


@pytest.mark.parametrize("option", [o for o in TABLE if o.target == JOB and (o.min is not None or o.choices)],
                         ids=lambda o: o.name)
def test_job_options_reject_what_the_table_rules_out(option):
    bad = "nonsense" if option.choices else option.min - 1
    with pytest.raises(BadInputError, match=f"^--{option.name} "):
        JobOptions(**{option.name: bad}).validate(prefix="--")
    if option.max is not None:
        with pytest.raises(BadInputError, match=f"^{option.name} "):
            JobOptions(**{option.name: option.max + 1}).validate()
    edge = option.choices[-1] if option.choices else option.min
    JobOptions(**{option.name: edge}).validate()


# The nodes, as ComfyUI loads them.

def _node_classes() -> dict:
    node_module("types")  # the pack, imported the way ComfyUI imports it
    extension = asyncio.run(importlib.import_module(f"{PACK}.nodes").comfy_entrypoint())
    return {node.define_schema().node_id: node for node in asyncio.run(extension.get_node_list())}


def _widgets(node) -> dict:
    from comfy_api.v0_0_2 import io

    kinds = (io.Int.Input, io.Float.Input, io.Combo.Input, io.Boolean.Input, io.String.Input)
    return {inp.id: inp for inp in node.define_schema().inputs if isinstance(inp, kinds)}


@pytest.fixture(scope="module")
def nodes():
    return _node_classes()


@pytest.fixture(scope="module")
def table():
    """The option table of the pack as its nodes import it."""
    return core("run.options")


@requires_comfyui[0]
@requires_comfyui[1]
def test_every_node_widget_is_its_table_entry(nodes, table):
    from comfy_api.v0_0_2 import io

    by_input = {o.node.name: o for o in table.TABLE if o.node}
    for node_id, node in nodes.items():
        for name, inp in _widgets(node).items():
            if (node_id, name) in NOT_IN_TABLE:
                continue
            assert name in by_input, f"{node_id}.{name} is not in the option table"
            option = by_input[name]
            form = option.node
            assert node_id in form.nodes, f"{node_id}.{name}: the table does not list the node"
            default = option.default if form.default is None else form.default
            choices = form.choices or option.choices
            if isinstance(inp, io.Combo.Input):
                assert inp.options == [str(c) for c in choices] and inp.default == str(default), name
            else:
                assert inp.default == default, f"{node_id}.{name}"
                assert isinstance(inp, io.Boolean.Input) == (form.widget == BOOLEAN or option.type is bool), name
            if isinstance(inp, (io.Int.Input, io.Float.Input)):
                assert isinstance(inp, io.Int.Input) == (option.type is int), name
                assert inp.min == (option.min if form.min is None else form.min), f"{node_id}.{name}"
                assert inp.max == (option.max if form.max is None else form.max), f"{node_id}.{name}"
                assert inp.step == (option.step if form.step is None else form.step), f"{node_id}.{name}"
            assert inp.tooltip == f"{form.tooltip or option.help}.", f"{node_id}.{name}"
            assert inp.optional == form.optional, f"{node_id}.{name}"
    for option in table.TABLE:
        for node_id in option.node.nodes if option.node else ():
            assert option.node.name in _widgets(nodes[node_id]), f"{node_id} lacks {option.node.name}"


@requires_comfyui[0]
@requires_comfyui[1]
def test_node_defaults_mean_the_table_defaults(nodes, table):
    for option in table.TABLE:
        if option.node is None or (option.target is None and option.node.default is not None):
            continue  # e.g. the loader's "auto (from folder)" version: a choice only the node has
        for node_id in option.node.nodes:
            widget = _widgets(nodes[node_id])[option.node.name]
            assert option.from_widget(widget.default) == option.default, f"{node_id}.{option.node.name}"


@requires_comfyui[0]
@requires_comfyui[1]
def test_nodes_and_command_line_defaults_give_the_same_job(nodes, table):
    pack_cli = core("cli")  # the pack's own command line, so its JobOptions compare equal to the nodes'
    defaults = {name: w.default for name, w in _widgets(nodes["LatentSync_LipSyncVideo"]).items()
                if name not in ("backend", "landmark_cache")}
    streamed = table.job_options(table.node_values(defaults))
    command_line = pack_cli.job_options(pack_cli.build_parser().parse_args([LIPSYNC, *REQUIRED[LIPSYNC]]))
    assert streamed == command_line == table.JobOptions()
    sampler = {name: w.default for name, w in _widgets(nodes["LatentSync_Sampler"]).items()}
    assert table.job_options(table.node_values(sampler)).sampler == command_line.sampler
    embeds = _widgets(nodes["LatentSync_LoadWhisperEmbeds"])["length_mode"].default
    assert embeds == command_line.length_mode


@requires_comfyui[0]
@requires_comfyui[1]
def test_node_on_off_and_auto_widgets_map_to_the_command_line_values(table):
    pack_cli = core("cli")
    parse = pack_cli.build_parser().parse_args
    on = table.job_options(table.node_values({"deepcache": True, "batch_size": 0}))
    given = pack_cli.job_options(parse([LIPSYNC, *REQUIRED[LIPSYNC], "--deepcache"]))
    assert on.sampler.deep_cache_interval == given.sampler.deep_cache_interval > 1
    assert on.batch_size is None and pack_cli.job_options(parse([LIPSYNC, *REQUIRED[LIPSYNC]])).batch_size is None
    assert table.job_options(table.node_values({"batch_size": 4})).batch_size == 4  # a workflow saved before auto
