"""The example workflows, described once and written in the canvas (UI) format.

Each workflow is a few lines of :class:`Canvas` calls: nodes by class type, position,
widget values by input name (the rest keep the defaults the server declares) and links
by output name. :func:`build` turns them into the JSON the frontend saves, using the
server's ``/object_info`` for every node's sockets, widget order and defaults, so a
node that gains an input gets it in the examples by re-running::

    COMFYUI_PATH=... COMFYUI_PYTHON=... python tests/integration/workflows.py

(starts a ComfyUI like the tests do and rewrites ``example_workflows/*.json``; then
``python tests/integration/canvas.py`` re-renders the thumbnails).
``test_comfyui_canvas.py`` checks that the files on disk equal what this module builds.

Model loaders carry the files they need as ``properties.models`` (name, url, directory),
the way ComfyUI's own workflow templates do; the frontend lists the missing ones when the
workflow is opened.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if __name__ == "__main__":
    sys.path[:0] = [REPO, HERE]

from latentsync_core.files.model_files import RESTORER_FILES, UNET, VAE, WHISPER, official_file  # noqa: E402

SAMPLE_VIDEO = "astronaut_speech.mp4"
SAMPLE_SPEECH = "speech.wav"
SAMPLE_JOBS = "jobs.csv"
TWO_SPEAKERS_VIDEO = "two_speakers.mp4"
TWO_SPEAKERS_SPEECH = ("speech_astronaut.wav", "speech_hopper.wav")
"""The bundled sample files (``example_workflows/sample/``) the workflows load from ComfyUI's input folder."""

UPLOAD_WIDGETS = {"LoadVideo": ["image"], "LoadAudio": [None, None], "LoadImage": ["image"]}
"""Values the frontend stores after a loader's file name for its upload button (and audio player)."""
CONTROL_AFTER_GENERATE = "fixed"
"""Stored after a seed widget; "fixed" keeps the example's seed."""
NOTE_COLOURS = {"color": "#432", "bgcolor": "#653"}



def sample_note(speech: bool) -> str:
    """Where the workflow's input files come from and how they get into ComfyUI's input folder."""
    files = ["astronaut_speech.mp4", "speech.wav"] if speech else ["astronaut_speech.mp4"]
    paths = " and ".join(f"`example_workflows/sample/{f}`" for f in files)
    copy = "{" + ",".join(files) + "}" if speech else files[0]
    loaders = "**Load Video** / **Load Audio**" if speech else "**Load Video**"
    return (f"**Inputs**: the pack's sample {'clip and speech' if speech else 'clip'}, {paths}. Copy "
            f"{'them' if speech else 'it'} into ComfyUI's `input` folder (from the ComfyUI folder: "
            f"`cp custom_nodes/comfyui-latentsync/example_workflows/sample/{copy} input/`) or pick "
            f"{'them' if speech else 'it'} with the upload button of {loaders}; any video with a face"
            f"{' and any speech' if speech else ''} work{'' if speech else 's'} the same way.")


MODELS_NOTE = (
    "**Models**: the files this workflow needs are listed in the *Missing Models* panel when it opens "
    "(file, folder, URL). The loaders download the official files themselves when their `download` "
    "input is on; otherwise put them in place as the README's *Models* table says."
)


@dataclass
class Node:
    """A node of a :class:`Canvas` in the making."""

    id: int
    type: str
    pos: tuple[float, float]
    widgets: dict[str, Any]
    links: dict[str, tuple["Node", str]]
    size: tuple[float, float] | None = None
    models: list[dict[str, str]] = field(default_factory=list)
    title: str | None = None
    controls: dict[str, str] = field(default_factory=dict)
    """Control-after-generate values by widget name, where not :data:`CONTROL_AFTER_GENERATE`."""

    def __getitem__(self, output: str) -> tuple["Node", str]:
        return (self, output)


@dataclass
class Canvas:
    """Builder of one workflow: ``add`` nodes, link them by output name, then :meth:`to_json`."""

    nodes: list[Node] = field(default_factory=list)

    def add(self, type_: str, pos: tuple[float, float], size: tuple[float, float] | None = None,
            models: list[dict[str, str]] | None = None, title: str | None = None,
            controls: dict[str, str] | None = None, **inputs: Any) -> Node:
        links = {k: v for k, v in inputs.items() if isinstance(v, tuple) and v and isinstance(v[0], Node)}
        widgets = {k: v for k, v in inputs.items() if k not in links}
        node = Node(len(self.nodes) + 1, type_, pos, widgets, links, size, models or [], title, controls or {})
        self.nodes.append(node)
        return node

    def note(self, pos: tuple[float, float], size: tuple[float, float], text: str) -> Node:
        return self.add("MarkdownNote", pos, size, text=text)

    def to_json(self, object_info: dict) -> dict:
        """The workflow as the frontend saves it (``nodes``, ``links``, ...), from ``object_info``."""
        from comfyui_client import input_specs, is_widget, spec_options, default_value

        links: list[list] = []
        out_links: dict[tuple[int, int], list[int]] = {}
        nodes_json = []
        for order, node in enumerate(self.nodes):
            if node.type == "MarkdownNote":
                nodes_json.append({
                    "id": node.id, "type": node.type, "pos": list(node.pos), "size": list(node.size),
                    "flags": {}, "order": order, "mode": 0, "inputs": [], "outputs": [], "properties": {},
                    "widgets_values": [node.widgets["text"]], **NOTE_COLOURS,
                })
                continue
            info = object_info[node.type]
            unknown = set(node.widgets) | set(node.links)
            inputs, values = [], []
            for name, spec, required in input_specs(object_info, node.type):
                unknown.discard(name)
                entry: dict[str, Any] = {"localized_name": name, "name": name}
                if not required:
                    entry["shape"] = 7
                entry["type"] = "COMBO" if isinstance(spec[0], list) else spec[0]
                if is_widget(spec):
                    entry["widget"] = {"name": name}
                    values.append(node.widgets[name] if name in node.widgets else default_value(spec))
                    if spec_options(spec).get("control_after_generate"):
                        values.append(node.controls.get(name, CONTROL_AFTER_GENERATE))
                elif name not in node.links and required:
                    raise ValueError(f"{node.type}: required input '{name}' is not linked")
                entry["link"] = None
                if name in node.links:
                    source, output = node.links[name]
                    slot = _output_slot(object_info, source.type, output)
                    link_id = len(links) + 1
                    links.append([link_id, source.id, slot, node.id, len(inputs), entry["type"]])
                    out_links.setdefault((source.id, slot), []).append(link_id)
                    entry["link"] = link_id
                elif not is_widget(spec):
                    continue  # an optional socket left open is not listed
                inputs.append(entry)
                if any(spec_options(spec).get(flag) for flag in ("image_upload", "video_upload", "audio_upload")):
                    inputs.append({"localized_name": "choose file to upload", "name": "upload", "type": "IMAGEUPLOAD",
                                   "widget": {"name": "upload"}, "link": None})
                    values.extend(UPLOAD_WIDGETS[node.type])
            if unknown:
                raise ValueError(f"{node.type} has no input(s) {sorted(unknown)}")
            outputs = [{"localized_name": name, "name": name, "type": kind, "links": None}
                       for name, kind in zip(info["output_name"], info["output"])]
            properties: dict[str, Any] = {"Node name for S&R": node.type}
            if node.models:
                missing = [m["name"] for m in node.models if m["name"] not in values]
                if missing:  # the frontend only checks models that a widget selects
                    raise ValueError(f"{node.type}: declared model(s) {missing} are not selected by a widget")
                properties["models"] = node.models
            nodes_json.append({
                "id": node.id, "type": node.type, "pos": list(node.pos),
                "size": list(node.size or _size(len(inputs) - sum("widget" in i for i in inputs), len(outputs),
                                                sum(1 for v in values))),
                "flags": {}, "order": order, "mode": 0, "inputs": inputs, "outputs": outputs,
                **({"title": node.title} if node.title else {}), "properties": properties, "widgets_values": values,
            })
        by_id = {n["id"]: n for n in nodes_json}
        for (node_id, slot), ids in out_links.items():
            by_id[node_id]["outputs"][slot]["links"] = ids
        return {
            "id": "00000000-0000-0000-0000-000000000001", "revision": 0,
            "last_node_id": len(self.nodes), "last_link_id": len(links),
            "nodes": nodes_json, "links": links, "groups": [], "config": {},
            "extra": {"ds": {"scale": 1, "offset": [0, 0]}}, "version": 0.4,
        }


def _output_slot(object_info: dict, class_type: str, output: str) -> int:
    names = object_info[class_type]["output_name"]
    if output not in names:
        raise ValueError(f"{class_type} has no output '{output}' (outputs: {names})")
    return names.index(output)


def _size(sockets: int, outputs: int, widget_rows: int) -> tuple[int, int]:
    """A node size close to the frontend's own (it grows a node that is too small on load)."""
    return 320, 34 + 22 * max(sockets, outputs) + 26 * widget_rows


def model(folder: str, name: str, url: str) -> dict[str, str]:
    """One ``properties.models`` entry, the format of ComfyUI's workflow templates."""
    return {"name": name, "url": url, "directory": folder}


def latentsync_models(version: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    """``properties.models`` of the LatentSync loader for ``version`` and the widget values selecting them."""
    files = {role: official_file(role, version if role != VAE else None) for role in (UNET, WHISPER, VAE)}
    widgets = {"version": version, "unet_name": files[UNET].relative_path,
               "whisper_name": files[WHISPER].relative_path, "vae_name": files[VAE].relative_path, "download": True}
    return [model(f.folder, f.relative_path, f.url) for f in files.values()], widgets


def restorer_model(name: str) -> list[dict[str, str]]:
    return [model("facerestore_models", name, RESTORER_FILES[name].url)]


GFPGAN_FILE = "GFPGANv1.4.pth"
CODEFORMER_FILE = "codeformer.pth"


def _video_in(c: Canvas) -> tuple[Node, Node]:
    load = c.add("LoadVideo", (0, 0), (280, 380), file=SAMPLE_VIDEO)
    return load, c.add("GetVideoComponents", (320, 0), video=load["VIDEO"])


def _video_out(c: Canvas, x: float, images, audio, fps, prefix: str, y: float = 0) -> None:
    video = c.add("CreateVideo", (x, y), images=images, audio=audio, fps=fps)
    c.add("SaveVideo", (x, y + 120), (320, 400), video=video["VIDEO"], filename_prefix=prefix)


def _aligned_mouths(c: Canvas) -> tuple[Node, Node, Node]:
    """Load Video -> Get Video Components -> Face Align -> Mouth ROI Crop; returns the last three."""
    _, parts = _video_in(c)
    align = c.add("LatentSync_FaceAlignAffine", (680, 0), images=parts["images"])
    roi = c.add("LatentSync_MouthROICrop", (1040, 0), aligned_faces=align["aligned_faces"], alignment=align["alignment"])
    return parts, align, roi


def _restore_loader(c: Canvas, pos: tuple[float, float], file_name: str) -> Node:
    return c.add("LatentSync_FaceRestoreModelLoader", pos, models=restorer_model(file_name), model_name=file_name)


def face_align_roundtrip() -> Canvas:
    c = Canvas()
    parts, align, roi = _aligned_mouths(c)
    paste = c.add("LatentSync_ROIPasteBlend", (1040, 170), images=parts["images"], aligned_faces=align["aligned_faces"],
                  alignment=align["alignment"], mouth_roi=roi["mouth_roi"])
    _video_out(c, 1400, paste["images"], parts["audio"], parts["fps"], "latentsync/face_align_roundtrip")
    c.note((320, 420), (680, 330), "## Face align round trip\n\nAligns every frame's face to the LatentSync template, "
           "cuts the mouth region and pastes it back onto the original frames, then rebuilds the video with its "
           "audio.\n\nNothing is changed between align and paste, so the output should look like the input: use it "
           "to check detection, smoothing and blending on your clip before running the lip-sync.\n\n" + sample_note(False))
    return c


def enhance_lipsynced_video() -> Canvas:
    c = Canvas()
    parts, align, roi = _aligned_mouths(c)
    gfpgan_model = _restore_loader(c, (680, 300), GFPGAN_FILE)
    codeformer_model = _restore_loader(c, (680, 450), CODEFORMER_FILE)
    gfpgan = c.add("LatentSync_GFPGANRestore", (1040, 170), face_restore_model=gfpgan_model["face_restore_model"],
                   mouth_roi=roi["mouth_roi"])
    codeformer = c.add("LatentSync_CodeFormerRestore", (1040, 400),
                       face_restore_model=codeformer_model["face_restore_model"], mouth_roi=gfpgan["mouth_roi"])
    c.add("PreviewAny", (1400, 330), (320, 110), title="GFPGAN report", source=gfpgan["report"])
    c.add("PreviewAny", (1400, 480), (320, 110), title="CodeFormer report", source=codeformer["report"])
    paste = c.add("LatentSync_ROIPasteBlend", (1400, 0), images=parts["images"], aligned_faces=align["aligned_faces"],
                  alignment=align["alignment"], mouth_roi=codeformer["mouth_roi"])
    _video_out(c, 1760, paste["images"], parts["audio"], parts["fps"], "latentsync/enhanced")
    c.note((0, 640), (1000, 300), "## Enhance a lip-synced video\n\nSharpens the mouth of a (lip-synced) talking-head "
           "video: every frame's face is aligned, the lips are cut out at 512x512, restored with **GFPGAN and then "
           "CodeFormer**, and blended back into the original frames, only where the mouth changed. The video is "
           "rebuilt with its own audio and frame rate.\n\n**Only frames that need it are restored:** a frame's mouth "
           "is restored when it was enlarged by more than `sr_ratio` to reach 512 px (a small face); the other frames "
           "come out bit-identical. The **report** boxes show how many frames each restorer did.\n\nGFPGAN only: "
           "connect the GFPGAN node's `mouth_roi` output to ROI Paste & Blend and delete the CodeFormer nodes. "
           "CodeFormer's weights are for **non-commercial use only**.\n\n" + MODELS_NOTE + "\n\n" + sample_note(False))
    return c


def _lipsync(version: str, resolution: str, restorers: tuple[tuple[str, str], ...], prefix: str, title: str) -> Canvas:
    """Load Video + Load Audio -> align -> Whisper embeds -> sampler -> [mouth ROI -> restorers] -> paste -> video."""
    c = Canvas()
    _, parts = _video_in(c)
    speech = c.add("LoadAudio", (0, 420), (280, 140), audio=SAMPLE_SPEECH)
    models, widgets = latentsync_models(version)
    loader = c.add("LatentSync_ModelLoader", (320, 130), models=models, **widgets)
    align = c.add("LatentSync_FaceAlignAffine", (680, 0), images=parts["images"], resolution=resolution)
    embeds = c.add("LatentSync_LoadWhisperEmbeds", (680, 300), whisper=loader["whisper"], audio=speech["AUDIO"],
                   fps=parts["fps"], frames=parts["images"])
    sampler = c.add("LatentSync_Sampler", (1030, 0), model=loader["model"], vae=loader["vae"],
                    faces=align["aligned_faces"], alignment=align["alignment"], audio_embeds=embeds["audio_embeds"])
    mouth = None
    x = 1380
    if restorers:
        mouth = c.add("LatentSync_MouthROICrop", (1030, 340), aligned_faces=sampler["synced_faces"],
                      alignment=sampler["alignment"])["mouth_roi"]
        for row, (arch, file_name) in enumerate(restorers):
            restore_model = _restore_loader(c, (320, 430 + 150 * row), file_name)
            node = c.add(f"LatentSync_{arch}Restore", (x, 360 * row), face_restore_model=restore_model["face_restore_model"],
                         mouth_roi=mouth)
            c.add("PreviewAny", (x, 360 * row + (200 if arch == "GFPGAN" else 230)), (320, 100), title=f"{arch} report",
                  source=node["report"])
            mouth = node["mouth_roi"]
        x += 350
    paste = c.add("LatentSync_ROIPasteBlend", (x, 0), images=parts["images"], aligned_faces=sampler["synced_faces"],
                  alignment=sampler["alignment"], **({"mouth_roi": mouth} if mouth else {}))
    _video_out(c, x, paste["images"], embeds["audio"], parts["fps"], prefix, y=230)
    c.note((680, 520 if not restorers else 480), (680 if not restorers else 690, 330), title + "\n\nThe output follows "
           "the audio: a shorter video is played forward and backward (`length_mode` pingpong; loop, trim and "
           "pad_audio are the other choices) and **Create Video** gets the audio cut or padded to the output length. "
           "Frames without a face (the clip's cutaway) pass through unchanged. The sampler's `alignment` output says "
           "which original frame each output frame comes from, so **ROI Paste & Blend** takes the original video "
           "frames.\n\n" + MODELS_NOTE + "\n\n" + sample_note(True))
    return c


def lipsync_video() -> Canvas:
    return _lipsync("1.5", "256", (), "latentsync/lipsync",
                    "## LatentSync lip-sync (1.5, 256 px)\n\nMakes the face in **Load Video** speak the audio in "
                    "**Load Audio**, without mouth restoration. For long videos use `lipsync_long_video`.")


def lipsync_gfpgan() -> Canvas:
    return _lipsync("1.5", "256", (("GFPGAN", GFPGAN_FILE),), "latentsync/lipsync_gfpgan",
                    "## Lip-sync + GFPGAN (LatentSync 1.5, 256 px)\n\nLip-syncs the face, then restores the generated "
                    "mouth with GFPGAN where it was enlarged more than `sr_ratio` (the report box says how many "
                    "frames) and blends it back.")


def lipsync_codeformer() -> Canvas:
    return _lipsync("1.5", "256", (("CodeFormer", CODEFORMER_FILE),), "latentsync/lipsync_codeformer",
                    "## Lip-sync + CodeFormer (LatentSync 1.5, 256 px)\n\nLip-syncs the face, then restores the "
                    "generated mouth with CodeFormer (`fidelity` 0 = strongest, 1 = closest to the input) where it "
                    "was enlarged more than `sr_ratio`. CodeFormer's weights are for **non-commercial use only**.")


def lipsync_both() -> Canvas:
    return _lipsync("1.6", "512", (("GFPGAN", GFPGAN_FILE), ("CodeFormer", CODEFORMER_FILE)), "latentsync/lipsync_both",
                    "## Lip-sync + GFPGAN + CodeFormer (LatentSync 1.6, 512 px)\n\nLatentSync 1.6 works on 512 px "
                    "faces (Face Align at 512). The mouth is restored by GFPGAN, then CodeFormer, where it was "
                    "enlarged more than `sr_ratio`. CodeFormer's weights are for **non-commercial use only**.")


def lipsync_long_video() -> Canvas:
    """Load Video (VIDEO, read from its file in windows) + Load Audio + loaders -> the streaming node -> Save Video."""
    c = Canvas()
    load = c.add("LoadVideo", (0, 0), (280, 380), file=SAMPLE_VIDEO)
    speech = c.add("LoadAudio", (0, 420), (280, 140), audio=SAMPLE_SPEECH)
    models, widgets = latentsync_models("1.5")
    loader = c.add("LatentSync_ModelLoader", (320, 0), models=models, **widgets)
    gfpgan = _restore_loader(c, (320, 290), GFPGAN_FILE)
    job = c.add("LatentSync_LipSyncVideo", (680, 0), video=load["VIDEO"], audio=speech["AUDIO"], model=loader["model"],
                whisper=loader["whisper"], vae=loader["vae"], gfpgan=gfpgan["face_restore_model"])
    c.add("SaveVideo", (1060, 0), (320, 400), video=job["video"], filename_prefix="latentsync/lipsync_long")
    c.note((0, 700), (1000, 300), "## Lip-sync of a long video, streamed (LatentSync 1.5 + GFPGAN)\n\n"
           "**LatentSync Lip-Sync Video (long videos)** runs the whole job in one node: it reads the video from its "
           "file in windows of `window` frames, aligns the faces, lip-syncs them chunk by chunk, restores the mouths "
           "enlarged more than `sr_ratio` (GFPGAN here; connect a CodeFormer model too, or neither) and pastes them "
           "back, writing the result to a file, so memory does not grow with the video's length. **Save Video** "
           "keeps it in `output/`. The output follows the audio (`length_mode`), with the speech as its sound "
           "track. For LatentSync 1.6 pick the 1.6 files in the loader: the faces follow the model (512 px).\n\n"
           + MODELS_NOTE + "\n\n" + sample_note(True))
    return c


def lipsync_job_list() -> Canvas:
    """LatentSync Job List (row ``index``, incremented per queued run) -> the streaming node -> Save Video."""
    c = Canvas()
    rows = c.add("LatentSync_JobList", (0, 0), (300, 200), jobs_file=SAMPLE_JOBS, index=1,
                 controls={"index": "increment"})
    models, widgets = latentsync_models("1.5")
    loader = c.add("LatentSync_ModelLoader", (0, 260), models=models, **widgets)
    gfpgan = _restore_loader(c, (0, 550), GFPGAN_FILE)
    job = c.add("LatentSync_LipSyncVideo", (360, 0), video=rows["video"], audio=rows["audio"], model=loader["model"],
                whisper=loader["whisper"], vae=loader["vae"], gfpgan=gfpgan["face_restore_model"],
                job_options=rows["job_options"])
    c.add("SaveVideo", (740, 0), (320, 400), video=job["video"], filename_prefix=rows["filename_prefix"])
    c.note((740, 440), (560, 520), "## Many videos: a jobs file, one row per queued run\n\n"
           f"**LatentSync Job List** reads row `index` of `{SAMPLE_JOBS}` (the CSV or JSON Lines file of the "
           "`batch` command: `video`, `audio`, optional `output` and option columns such as `seed`, `sr_ratio`, "
           "`length_mode`) and gives the row's video, speech and options to **LatentSync Lip-Sync Video**; its "
           "`index` is set to *increment*, so **Queue (N)** with N = the number of rows runs the whole list, one "
           "row per run, each saved under the row's name. After the last row the node stops with an error saying "
           "the list is done; set `index` back to 1 to run it again. The version, precision and restorers are the "
           "loaders' (the same for every row); for many videos outside ComfyUI, or on several machines, see the "
           "README's *Many videos*.\n\n"
           f"**Inputs**: copy `{SAMPLE_JOBS}`, `{SAMPLE_VIDEO}` and `{SAMPLE_SPEECH}` from `example_workflows/sample/` "
           "into ComfyUI's `input` folder (from the ComfyUI folder: `cp custom_nodes/comfyui-latentsync/"
           f"example_workflows/sample/{{{SAMPLE_JOBS},{SAMPLE_VIDEO},{SAMPLE_SPEECH}}} input/`). The jobs file's "
           "relative paths are relative to its own folder.\n\n" + MODELS_NOTE)
    return c


def lipsync_two_speakers() -> Canvas:
    """Load Video + two LatentSync Speaker nodes (each a Load Audio and a face position), chained -> the streaming
    node -> Save Video."""
    c = Canvas()
    load = c.add("LoadVideo", (0, 0), (280, 380), file=TWO_SPEAKERS_VIDEO)
    speakers = None
    for row, speech_file in enumerate(TWO_SPEAKERS_SPEECH):
        speech = c.add("LoadAudio", (0, 420 + 190 * row), (280, 140), audio=speech_file)
        speaker = c.add("LatentSync_Speaker", (320, 420 + 190 * row), title=f"Speaker {row + 1}", audio=speech["AUDIO"],
                        frame=0, face_from_left=row, **({"speakers": speakers} if speakers else {}))
        speakers = speaker["speakers"]
    models, widgets = latentsync_models("1.5")
    loader = c.add("LatentSync_ModelLoader", (320, 0), models=models, **widgets)
    job = c.add("LatentSync_LipSyncVideo", (680, 0), video=load["VIDEO"], model=loader["model"],
                whisper=loader["whisper"], vae=loader["vae"], speakers=speakers)
    c.add("SaveVideo", (1060, 0), (320, 400), video=job["video"], filename_prefix="latentsync/lipsync_two_speakers")
    files = [TWO_SPEAKERS_VIDEO, *TWO_SPEAKERS_SPEECH]
    c.note((1060, 450), (620, 430), "## Two speakers, each with their own voice (LatentSync 1.5)\n\n"
           "Each **LatentSync Speaker** node is one person: their speech track (**Load Audio**; silence where they "
           "do not speak) and who they are, here their place in the video: `frame` 0, `face_from_left` 0 (the "
           "astronaut) and 1 (Grace Hopper). Connect a picture of the face to `reference` instead (e.g. a frame grab "
           "through **Load Image**). The nodes chain through `speakers`; the last goes to the streaming node's "
           "`speakers` input. Faces are recognised per shot, so after the cut, where the two swap places, each "
           "keeps her voice; a face that matches no speaker is left untouched. The output sound is the tracks "
           "mixed (connect `audio` to write a mix of your own), and the output follows the longest track "
           "(`length_mode`).\n\n" + MODELS_NOTE + "\n\n"
           f"**Inputs**: the pack's two-person sample, `example_workflows/sample/{TWO_SPEAKERS_VIDEO}` and one "
           "speech track per person. Copy them into ComfyUI's `input` folder (from the ComfyUI folder: "
           f"`cp custom_nodes/comfyui-latentsync/example_workflows/sample/{{{','.join(files)}}} input/`) or pick "
           "them with the upload buttons of **Load Video** / **Load Audio**.")
    return c


WORKFLOWS: dict[str, Callable[[], Canvas]] = {
    f.__name__: f for f in (face_align_roundtrip, enhance_lipsynced_video, lipsync_video, lipsync_gfpgan,
                            lipsync_codeformer, lipsync_both, lipsync_long_video, lipsync_job_list,
                            lipsync_two_speakers)
}
"""Every example workflow by file name (without ``.json``)."""


def build(name: str, object_info: dict) -> dict:
    """Example workflow ``name`` in the canvas format."""
    return WORKFLOWS[name]().to_json(object_info)


def dumps(workflow: dict) -> str:
    return json.dumps(workflow, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    import tempfile

    from comfyui_client import ComfyUIClient, ComfyUIServer, make_base_dir
    from media import WORKFLOWS as OUT_DIR

    with tempfile.TemporaryDirectory(prefix="comfyui_workflows_") as base:
        make_base_dir(base, REPO)
        server = ComfyUIServer(os.environ["COMFYUI_PATH"], os.environ.get("COMFYUI_PYTHON", sys.executable), base,
                               os.path.join(tempfile.gettempdir(), "comfyui-latentsync-pycache"))
        server.start(timeout=300)
        try:
            object_info = ComfyUIClient(server).object_info()
        finally:
            server.stop()
    for name in WORKFLOWS:
        with open(os.path.join(OUT_DIR, name + ".json"), "w", encoding="utf-8") as f:
            f.write(dumps(build(name, object_info)))
        print("wrote", name + ".json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
