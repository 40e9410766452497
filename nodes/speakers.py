"""ComfyUI node: one speaker of a several-speaker lip-sync (a reference face and their speech), chained into a list.

ComfyUI 0.3.64 has no inputs of variable length, so each LatentSync Speaker node takes the list
made so far (``speakers``, optional) and returns it with its own speaker added; the last one goes
to the streaming node's ``speakers`` input.
"""
from __future__ import annotations

import numpy as np
from comfy_api.v0_0_2 import io
from typing_extensions import override

from ..latentsync_core.errors import BadInputError
from ..latentsync_core.face.frames import as_rgb_frames, to_uint8
from ..latentsync_core.face.identity import FacePosition
from ..latentsync_core.run.speakers_job import MAX_SPEAKERS, Speaker
from .types import CATEGORY, Speakers


class LatentSync_Speaker(io.ComfyNode):
    @classmethod
    @override
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentSync_Speaker",
            display_name="LatentSync Speaker",
            category=CATEGORY,
            description="One speaker for the streaming lip-sync node: who (a picture of their face, or their place in "
            "the video) and what they say. Chain one node per speaker through 'speakers'; connect the last to the "
            "streaming node's speakers input.",
            inputs=[
                io.Audio.Input("audio", tooltip="This speaker's speech track (silence where they do not speak)."),
                io.Image.Input("reference", optional=True,
                               tooltip="A picture of this speaker's face (e.g. a frame grab; its largest face is used). "
                               "Left out: the face at frame / face_from_left in the video."),
                io.Int.Input("frame", default=0, min=0, max=10**7,
                             tooltip="Without a reference picture: a frame of the video (from 0) that shows this speaker."),
                io.Int.Input("face_from_left", default=0, min=0, max=16,
                             tooltip="Without a reference picture: which face of that frame, 0 = the leftmost."),
                Speakers.Input("speakers", optional=True, tooltip="The speakers of the nodes before this one."),
            ],
            outputs=[Speakers.Output(display_name="speakers", tooltip="The speakers so far, this one last.")],
        )

    @classmethod
    @override
    def execute(cls, audio, frame: int, face_from_left: int, reference=None, speakers=None) -> io.NodeOutput:
        before = list(speakers or [])
        if len(before) >= MAX_SPEAKERS:
            raise BadInputError(f"At most {MAX_SPEAKERS} speakers; remove a LatentSync Speaker node.")
        waveform = audio["waveform"]
        if waveform.dim() == 3 and waveform.shape[0] != 1:
            raise BadInputError("The speaker's AUDIO holds a batch of clips; give one clip per speaker.")
        if reference is None:
            face = FacePosition(int(frame), int(face_from_left))
        else:
            face = np.ascontiguousarray(to_uint8(as_rgb_frames(reference, "reference")[0]))
        speaker = Speaker(face, waveform[0] if waveform.dim() == 3 else waveform, int(audio["sample_rate"]))
        return io.NodeOutput([*before, speaker])


NODES = [LatentSync_Speaker]
