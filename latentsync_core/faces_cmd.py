"""``python -m latentsync_core faces VIDEO``: the shots of a video and the faces in each, to pick speakers from.

Two streamed passes over the video (one window of frames in memory at a time): the
first finds the shots (:func:`~.face.shots.detect_shots`), the second looks at
``--samples`` frames of each shot (evenly spread; the middle one by default) and finds
every face there with the landmark backend (``--backend``, as ``lipsync`` uses it:
:class:`~.face.identity.BackendFaces`), numbered from the left. Each face is printed
as a row: shot, the shot's frames, ``FRAME:INDEX`` (what ``lipsync --speaker`` takes as
a face position) and its box. A contact sheet (PNG: one row per shot, each face's crop
labelled ``FRAME:INDEX``) is written to ``--sheet``, by default ``<video name>.faces.png``
in the current folder (a video's own folder may be read-only or shared).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field

import cv2
import numpy as np

from .errors import BadInputError
from .face.identity import BackendFaces, Box, FaceBoxes, FacePosition
from .face.shots import Shot, detect_shots
from .files.downloads import offline_mode
from .media.video_io import probe, read_windows
from .run.host import FolderHost, landmark_backend
from .run.options import TABLE

BACKEND = next(option for option in TABLE if option.name == "backend")

FACES = "faces"
CELL = 112
"""Side in pixels of one face crop on the contact sheet."""
LABEL = 22
"""Height in pixels of the label under a crop."""
SHOT_LABEL_WIDTH = 150


@dataclass
class ShotFaces:
    """One shot and the faces found on its sampled frames.

    Attributes:
        shot: ``(start, stop)`` frames.
        faces: ``(position, box)`` per face, by sampled frame, then from the left.
        crops: each face's ``(CELL, CELL, 3)`` uint8 RGB crop, in the order of ``faces``.
    """

    shot: Shot
    faces: list[tuple[FacePosition, Box]] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)


def add_faces_parser(commands: argparse._SubParsersAction) -> None:
    """The ``faces`` subcommand."""
    p = commands.add_parser(
        FACES,
        help="list the shots of a video and the faces in each (FRAME:INDEX, box); write a contact sheet",
        description=(
            "Find the shots of a video and every face on a few frames of each (the landmark backend lipsync uses), "
            "numbered from the left from 0. Prints one row per face: shot, its frames, "
            "FRAME:INDEX (the face position lipsync --speaker takes) and the box x0,y0,x1,y1; writes a contact "
            "sheet PNG with each face's crop labelled FRAME:INDEX."
        ),
    )
    p.add_argument("video", help="the video (mp4, mov, mkv, ...)")
    p.add_argument("--sheet", default=None,
                   help="contact sheet to write (.png; default: <video name>.faces.png in the current folder)")
    p.add_argument("--samples", type=int, default=1, help="frames looked at per shot, evenly spread (default 1: the middle)")
    p.add_argument("--window", type=int, default=32, help="frames decoded at a time (default 32)")
    p.add_argument("--backend", choices=BACKEND.choices, default=BACKEND.default,
                   help=f"{BACKEND.help[0].lower()}{BACKEND.help[1:]}; give lipsync's --backend so FRAME:INDEX names the "
                        "same face (default %(default)s)")
    p.add_argument("--models-dir", "--models_dir", dest="models_dir", default=None,
                   help="models folder in ComfyUI's layout, for the backend's files (default: ./models)")
    p.add_argument("--offline", action="store_true", help="never download the backend's files (also HF_HUB_OFFLINE=1)")


def sampled_frames(shot: Shot, samples: int) -> list[int]:
    """``samples`` frames spread evenly over ``shot`` (the middle one for 1), without repeats."""
    start, stop = shot
    length = stop - start
    return sorted({start + int((k + 0.5) * length / samples) for k in range(max(samples, 1))})


def face_crop(frame: np.ndarray, box: Box, side: int = CELL) -> np.ndarray:
    """A square ``side`` crop around ``box`` (a margin of a quarter of the face on each side; black outside the frame)."""
    x0, y0, x1, y1 = box
    half = 0.75 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    m = np.array([[side / (2 * half), 0, side / 2 - cx * side / (2 * half)], [0, side / (2 * half), side / 2 - cy * side / (2 * half)]])
    return cv2.warpAffine(frame, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def list_faces(path: str, detector: FaceBoxes, samples: int = 1, window: int = 32) -> list[ShotFaces]:
    """The shots of the video at ``path`` and the faces ``detector`` finds on ``samples`` frames of each (two streamed passes)."""
    if samples < 1:
        raise BadInputError(f"--samples must be at least 1, got {samples}.")
    info = probe(path)
    shots = detect_shots(w.frames for w in read_windows(info, window))
    listing = [ShotFaces(shot) for shot in shots]
    wanted = {frame: n for n, entry in enumerate(listing) for frame in sampled_frames(entry.shot, samples)}
    for w in read_windows(info, window):
        for i, frame in enumerate(w.frames):
            n = wanted.get(w.start + i)
            if n is None:
                continue
            for index, box in enumerate(detector(frame)):
                listing[n].faces.append((FacePosition(w.start + i, index), box))
                listing[n].crops.append(face_crop(frame, box))
    return listing


def contact_sheet(listing: list[ShotFaces]) -> np.ndarray:
    """The contact sheet (RGB): one row per shot, a label then each face's crop over its ``FRAME:INDEX``."""
    columns = max((len(s.faces) for s in listing), default=0)
    row_h = CELL + LABEL
    sheet = np.full((max(len(listing), 1) * row_h, SHOT_LABEL_WIDTH + max(columns, 1) * CELL, 3), 32, dtype=np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for r, entry in enumerate(listing):
        y = r * row_h
        start, stop = entry.shot
        cv2.putText(sheet, f"shot {r}", (8, y + 40), font, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(sheet, f"frames {start}-{stop - 1}", (8, y + 70), font, 0.5, (200, 200, 200), 1, cv2.LINE_AA)
        if not entry.faces:
            cv2.putText(sheet, "no face", (SHOT_LABEL_WIDTH + 8, y + 60), font, 0.6, (160, 160, 160), 1, cv2.LINE_AA)
        for c, ((position, _), crop) in enumerate(zip(entry.faces, entry.crops)):
            x = SHOT_LABEL_WIDTH + c * CELL
            sheet[y : y + CELL, x : x + CELL] = crop
            cv2.putText(sheet, str(position), (x + 6, y + CELL + 16), font, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
        sheet[y + row_h - 1] = 80
    return sheet


def write_png(path: str, image: np.ndarray) -> None:
    """Write ``image`` (RGB) as a PNG at ``path``, atomically (a temporary file beside it, then renamed)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise BadInputError(f"Cannot write the contact sheet '{path}': its folder does not exist; create it or give another --sheet.")
    temp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp.png")
    try:
        if not cv2.imwrite(temp, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise BadInputError(f"Cannot write the contact sheet '{path}'; give a writable --sheet path ending in .png.")
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)


def default_sheet(video: str) -> str:
    """``<video name>.faces.png`` in the current folder."""
    return os.path.splitext(os.path.basename(video))[0] + ".faces.png"


def run_faces(args: argparse.Namespace) -> None:
    """Run ``faces``: print the table on stdout, write the sheet, one summary line on stderr."""
    sheet_path = args.sheet or default_sheet(args.video)
    if not sheet_path.lower().endswith(".png"):
        raise BadInputError(f"--sheet '{sheet_path}' must end in .png.")
    online = not (args.offline or offline_mode())
    backend = landmark_backend(FolderHost(args.models_dir, online, quiet=True), args.backend, download=online)
    try:
        listing = list_faces(args.video, BackendFaces(backend), args.samples, args.window)
    finally:
        backend.close()
    print(f"{'shot':>4}  {'frames':<13}  {'FRAME:INDEX':<11}  box (x0,y0,x1,y1)")
    for n, entry in enumerate(listing):
        frames = f"{entry.shot[0]}-{entry.shot[1] - 1}"
        if not entry.faces:
            print(f"{n:>4}  {frames:<13}  {'-':<11}  no face")
        for position, box in entry.faces:
            print(f"{n:>4}  {frames:<13}  {str(position):<11}  {','.join(str(v) for v in box)}")
    write_png(sheet_path, contact_sheet(listing))
    faces = sum(len(s.faces) for s in listing)
    print(f"latentsync faces: {len(listing)} shot(s), {faces} face(s); contact sheet {sheet_path}", file=sys.stderr)
