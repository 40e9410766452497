"""A two-person clip with cuts, a position swap, a one-person shot, a cutaway and a third, unknown face.

Built from offline photographs (people.py): ``astronaut`` (tests/data/astronaut.png, Eileen Collins, NASA,
public domain) and ``hopper`` (matplotlib's sample grace_hopper.jpg, US Navy photograph, public domain) are
the speakers; the third face is ``clipart_mlk_portrait.png`` (Open Clip Art Library, public domain; see
tests/data/face_gate/LICENCES.txt). Each is cut to a tile around its face (about 90 px wide) and the
tiles are placed on a plain background whose level changes at every cut, so each cut is found.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from clips import astronaut, cutaway
from people import grace_hopper
from repo_paths import DATA

WIDTH, HEIGHT = 640, 360
TILE_W, TILE_H = 200, 240
FACE_WIDTH = 90.0
SLOTS = {"left": 10, "middle": 220, "right": 430}
"""x of a tile's left edge for each place in the frame."""

# (frames, background level, {person: slot}); an empty dict is a cutaway
SHOTS: tuple[tuple[int, int, dict[str, str]], ...] = (
    (3, 30, {"astronaut": "left", "hopper": "right"}),
    (3, 220, {"hopper": "left", "astronaut": "right"}),
    (2, 30, {"astronaut": "middle"}),
    (2, 0, {}),
    (3, 220, {"astronaut": "left", "stranger": "middle", "hopper": "right"}),
)
PHOTO_FACES = {"astronaut": (178, 69, 271, 177), "hopper": (169, 131, 356, 334), "stranger": (53, 73, 177, 221)}
"""MediaPipe's face box in each source photograph."""


def photo(person: str) -> np.ndarray:
    """The source photograph of ``person`` as ``(H, W, 3)`` uint8 RGB."""
    if person == "astronaut":
        return astronaut()
    if person == "hopper":
        return grace_hopper()
    return cv2.cvtColor(cv2.imread(os.path.join(DATA, "face_gate", "clipart_mlk_portrait.png")), cv2.COLOR_BGR2RGB)


def tile(person: str) -> np.ndarray:
    """``(TILE_H, TILE_W, 3)`` uint8: the photograph scaled so the face is about 90 px wide, centred."""
    x0, y0, x1, y1 = PHOTO_FACES[person]
    s = FACE_WIDTH / (x1 - x0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    m = np.array([[s, 0.0, TILE_W / 2 - s * cx], [0.0, s, TILE_H / 2 - s * cy]])
    return cv2.warpAffine(photo(person), m, (TILE_W, TILE_H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def face_box(slot: str) -> tuple[int, int, int, int]:
    """Where a face placed in ``slot`` is in the frame (about), x0 y0 x1 y1."""
    x, y = SLOTS[slot], (HEIGHT - TILE_H) // 2
    return (x + TILE_W // 2 - 55, y + TILE_H // 2 - 65, x + TILE_W // 2 + 55, y + TILE_H // 2 + 65)


def shot(places: dict[str, str], level: int, tiles: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """``(360, 640, 3)`` uint8: the people of ``places`` (person -> slot) on a plain background of ``level``."""
    canvas = np.full((HEIGHT, WIDTH, 3), level, dtype=np.uint8)
    y = (HEIGHT - TILE_H) // 2
    for person, slot in places.items():
        canvas[y:y + TILE_H, SLOTS[slot]:SLOTS[slot] + TILE_W] = tiles[person] if tiles else tile(person)
    return canvas


def two_person_clip() -> tuple[np.ndarray, list[dict[str, str]]]:
    """``(N, 360, 640, 3)`` uint8 frames and, per frame, who is where (person -> slot)."""
    tiles = {p: tile(p) for p in PHOTO_FACES}
    frames, who = [], []
    for count, level, places in SHOTS:
        canvas = shot(places, level, tiles) if places else cutaway((WIDTH, HEIGHT), seed=3)
        frames += [canvas] * count
        who += [dict(places)] * count
    return np.stack(frames), who
