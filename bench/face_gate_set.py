"""The human-face gate's measurement set: real faces and non-human faces in 1280x720 frames.

Built from offline sources only, on the fly (nothing large is written unless ``--write``):

human (real photographs):
  - ``astronaut``: scikit-image's / tests/data astronaut.png (Eileen Collins, NASA, public domain);
  - ``grace_hopper``: matplotlib's sample grace_hopper.jpg (US Navy photograph, public domain);
  - ``camera``: scikit-image's camera.png (CC0, Lav Varshney; grayscale, a small face).
  Each is placed so that its face (MediaPipe's box on the source) is 8 % ... 120 % of the frame
  width (over ~75 % the face overflows the frame: extreme close-ups), plain and in variants:
  mirrored, darker, brighter, warm, cool, low contrast, grayscale, JPEG-blocky, rotated +-12 deg.

non-human:
  - ``chelsea``: scikit-image's chelsea.png (a cat, CC0, Stefan van der Walt);
  - ``emoji``: face, animal-face and person emoji of Noto Color Emoji (Debian fonts-noto-color-emoji,
    SIL OFL 1.1), rendered at 109 px and scaled;
  - ``tuxpaint-photo`` / ``tuxpaint-cartoon``: Tux Paint stamps (Debian tuxpaint-stamps-default,
    GPL-2): animal photographs and cartoon animals and people;
  - ``openclipart``: clip art of people, faces and animals (Debian openclipart-png, public domain).
  Each is pasted whole at several heights (25 %, 50 %, 90 % and 160 % of the frame height, the last
  an overflowing close-up) on a grey textured background.

Sources whose package is not installed are left out; run as a script, this prints the
frame count per source.

Usage: python bench/face_gate_set.py [--write DIR]
"""
from __future__ import annotations

import argparse
import glob
import itertools
import os
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

FRAME_W, FRAME_H = 1280, 720
HUMAN_FACE_FRACTIONS = (0.08, 0.12, 0.2, 0.35, 0.55, 0.8, 1.2)
"""Face width / frame width of the human cases (>= 0.8: the face overflows the frame)."""
NONHUMAN_HEIGHTS = (0.25, 0.5, 0.9, 1.6)
"""Pasted image height / frame height of the non-human cases."""
HUMAN_VARIANTS = ("plain", "mirrored", "darker", "brighter", "warm", "cool", "low_contrast", "grayscale", "jpeg", "rot+12", "rot-12")

EMOJI_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
TUXPAINT = "/usr/share/tuxpaint/stamps"
OPENCLIPART = "/usr/share/openclipart/png"

SKIN_TONES = ("", "\U0001F3FB", "\U0001F3FD", "\U0001F3FF")
EMOJI_FACES = [chr(c) for c in (*range(0x1F600, 0x1F638), *range(0x1F641, 0x1F645), *range(0x1F910, 0x1F92F),
                                *range(0x1F970, 0x1F977), 0x1F978, 0x1F97A, 0x1F9D0)]
EMOJI_CREATURES = [chr(c) for c in (0x1F431, 0x1F436, 0x1F42D, 0x1F439, 0x1F430, 0x1F98A, 0x1F43B, 0x1F43C, 0x1F428,
                                    0x1F42F, 0x1F981, 0x1F42E, 0x1F437, 0x1F438, 0x1F435, 0x1F648, 0x1F649, 0x1F64A,
                                    0x1F984, 0x1F432, 0x1F434, 0x1F43A, 0x1F414, 0x1F427, 0x1F43D, *range(0x1F638, 0x1F641),
                                    0x1F916, 0x1F47D, 0x1F47B, 0x1F479, 0x1F47A, 0x1F480, 0x1F383, 0x1F31D, 0x1F31E, 0x1F31A)]
EMOJI_PEOPLE = [chr(c) + tone for c in (0x1F466, 0x1F467, 0x1F468, 0x1F469, 0x1F474, 0x1F475, 0x1F476, 0x1F471, 0x1F472,
                                        0x1F473, 0x1F9D1, 0x1F9D4, 0x1F9D3, 0x1F478, 0x1F934, 0x1F47C, 0x1F385, 0x1F936,
                                        0x1F46E, 0x1F477, 0x1F482, 0x1F575, 0x1F9D5, 0x1F647, 0x1F64B)
                for tone in SKIN_TONES]

TUXPAINT_CARTOON_DIRS = ("cartoon", "toys")
OPENCLIPART_GLOBS = ("people/*.png", "people/smilies/*.png", "animals/*.png", "animals/*/*.png", "recreation/games/cards/*face*.png")


@dataclass(frozen=True)
class Source:
    """One source image. ``face_box`` (x1, y1, x2, y2 in the image) is set for human photographs."""

    group: str
    name: str
    image: np.ndarray  # (H, W, 3) uint8 RGB, or (H, W, 4) with alpha
    face_box: np.ndarray | None = None
    licence: str = ""


@dataclass(frozen=True)
class Case:
    """One frame of the set."""

    human: bool
    group: str
    name: str
    size: str  # "face 8%" ... for humans, "height 25%" ... for non-humans
    variant: str
    frame: np.ndarray  # (720, 1280, 3) uint8 RGB


def _read_rgb(path: str, alpha: bool = False) -> np.ndarray | None:
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 3 and image.ndim != 2:
        return None
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.dtype != np.uint8:
        image = (image / 257).astype(np.uint8)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA) if alpha else _flatten_alpha(cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA))
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _flatten_alpha(rgba: np.ndarray, grey: int = 128) -> np.ndarray:
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    return (rgba[..., :3] * a + grey * (1 - a)).round().astype(np.uint8)


def _package_file(module: str, *parts: str) -> str | None:
    try:
        mod = __import__(module)
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(mod.__file__), *parts)
    return path if os.path.exists(path) else None


def human_photos() -> list[tuple[str, np.ndarray, str]]:
    """(name, RGB image, licence) of the real photographs found installed."""
    found = []
    for name, path, licence in (
        ("astronaut", os.path.join(ROOT, "tests", "data", "astronaut.png"), "public domain (NASA)"),
        ("grace_hopper", _package_file("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg"), "public domain (US Navy)"),
        ("camera", _package_file("skimage", "data", "camera.png"), "CC0 (Lav Varshney)"),
    ):
        if path is not None and (image := _read_rgb(path)) is not None:
            found.append((name, image, licence))
    return found


def render_emoji(text: str, size: int = 109) -> np.ndarray | None:
    """RGBA rendering of ``text`` in Noto Color Emoji (its bitmaps are 109 px), or None without the font."""
    if not os.path.exists(EMOJI_FONT):
        return None
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(EMOJI_FONT, size)
    canvas = Image.new("RGBA", (size * 3, size * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((4, 4), text, font=font, embedded_color=True)
    rgba = np.asarray(canvas)
    ys, xs = np.nonzero(rgba[..., 3])
    if len(xs) == 0:
        return None
    return np.ascontiguousarray(rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


def nonhuman_sources(limit_per_group: int | None = None) -> list[Source]:
    """Every non-human source image found installed (RGBA where the file has alpha)."""
    sources: list[Source] = []
    chelsea = _package_file("skimage", "data", "chelsea.png")
    if chelsea:
        sources.append(Source("chelsea", "chelsea", _read_rgb(chelsea), licence="CC0 (Stefan van der Walt)"))
    for group, texts in (("emoji-face", EMOJI_FACES), ("emoji-creature", EMOJI_CREATURES), ("emoji-person", EMOJI_PEOPLE)):
        for text in texts[:limit_per_group]:
            if (rgba := render_emoji(text)) is not None:
                sources.append(Source(group, "U+" + "-".join(f"{ord(c):X}" for c in text), rgba, licence="OFL-1.1 (Noto Color Emoji)"))
    tux = sorted(glob.glob(os.path.join(TUXPAINT, "animals", "**", "*.png"), recursive=True))
    tux += sorted(glob.glob(os.path.join(TUXPAINT, "people", "**", "*.png"), recursive=True))
    counts: dict[str, int] = {}
    for path in tux:
        rel = os.path.relpath(path, TUXPAINT)
        group = "tuxpaint-cartoon" if any(d in rel.split(os.sep) for d in TUXPAINT_CARTOON_DIRS) or rel.startswith("people") else "tuxpaint-photo"
        if limit_per_group is not None and counts.get(group, 0) >= limit_per_group:
            continue
        if (image := _read_rgb(path, alpha=True)) is not None:
            counts[group] = counts.get(group, 0) + 1
            sources.append(Source(group, rel, image, licence="GPL-2 (Tux Paint stamps)"))
    clip = sorted({p for pattern in OPENCLIPART_GLOBS for p in glob.glob(os.path.join(OPENCLIPART, pattern))})
    for path in clip[:limit_per_group]:
        if (image := _read_rgb(path, alpha=True)) is not None:
            sources.append(Source("openclipart", os.path.relpath(path, OPENCLIPART), image, licence="public domain (Open Clip Art Library)"))
    return sources


def background(seed: int) -> np.ndarray:
    """A 720p grey room: smooth gradient plus a little noise (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, FRAME_H)[:, None, None]
    x = np.linspace(0, 1, FRAME_W)[None, :, None]
    base = 70 + 40 * x + 20 * y + rng.uniform(-15, 15, 3)[None, None, :]
    noise = cv2.GaussianBlur(rng.normal(0, 6, (FRAME_H, FRAME_W, 1)).astype(np.float32), (0, 0), 3)[..., None]
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def paste_into_frame(frame: np.ndarray, image: np.ndarray, scale: float, centre: tuple[float, float], anchor: tuple[float, float]) -> np.ndarray:
    """Paste ``image`` scaled by ``scale`` so that its point ``anchor`` lands on frame point ``centre`` (cut at the edges)."""
    m = np.array([[scale, 0, centre[0] - scale * anchor[0]], [0, scale, centre[1] - scale * anchor[1]]], dtype=np.float64)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    if image.shape[2] == 4:
        warped = cv2.warpAffine(image, m, (FRAME_W, FRAME_H), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        a = warped[..., 3:4].astype(np.float32) / 255.0
        return (warped[..., :3] * a + frame * (1 - a)).round().astype(np.uint8)
    mask = cv2.warpAffine(np.full(image.shape[:2], 255, np.uint8), m, (FRAME_W, FRAME_H), flags=cv2.INTER_NEAREST)
    warped = cv2.warpAffine(image, m, (FRAME_W, FRAME_H), flags=interp)
    return np.where(mask[..., None] > 0, warped, frame)


def variant(image: np.ndarray, name: str) -> np.ndarray:
    """A re-lit, mirrored, recoloured or degraded copy of an RGB photo (``plain``: itself)."""
    f = image.astype(np.float32)
    if name == "mirrored":
        return np.ascontiguousarray(image[:, ::-1])
    if name == "darker":
        return np.clip(255 * (f / 255) ** 1.6 * 0.7, 0, 255).astype(np.uint8)
    if name == "brighter":
        return np.clip(255 * (f / 255) ** 0.6, 0, 255).astype(np.uint8)
    if name == "warm":
        return np.clip(f * np.array([1.15, 1.0, 0.75]), 0, 255).astype(np.uint8)
    if name == "cool":
        return np.clip(f * np.array([0.8, 0.95, 1.2]), 0, 255).astype(np.uint8)
    if name == "low_contrast":
        return np.clip(128 + (f - 128) * 0.45, 0, 255).astype(np.uint8)
    if name == "grayscale":
        return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    if name == "jpeg":
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 15])
        return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return image


def _rotated(image: np.ndarray, box: np.ndarray, degrees: float) -> np.ndarray:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    m = cv2.getRotationMatrix2D((cx, cy), degrees, 1.0)
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def face_box_of(image: np.ndarray, backend) -> np.ndarray | None:
    """The largest face's box in ``image`` by ``backend`` (on the photo, upscaled when small)."""
    scale = max(1.0, 800.0 / max(image.shape[:2]))
    big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else image
    faces = backend.detect(np.ascontiguousarray(big))
    if not faces:
        return None
    best = max(faces, key=lambda f: (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
    return best.bbox / scale


def human_cases(backend, fractions=HUMAN_FACE_FRACTIONS, variants=HUMAN_VARIANTS, photos: tuple[str, ...] | None = None) -> Iterator[Case]:
    """Real photographs (``photos``: these names only) with their face at each width fraction, in each variant."""
    for name, photo, _ in human_photos():
        if photos is not None and name not in photos:
            continue
        box = face_box_of(photo, backend)
        if box is None:
            continue
        for var in variants:
            image = _rotated(photo, box, float(var[3:])) if var.startswith("rot") else variant(photo, var)
            for frac in fractions:
                seed = zlib.crc32(f"{name}{var}{frac}".encode())
                rng = np.random.default_rng(seed)
                scale = frac * FRAME_W / (box[2] - box[0])
                half_w = frac * FRAME_W / 2
                cx = FRAME_W / 2 if frac >= 0.5 else rng.uniform(half_w + 20, FRAME_W - half_w - 20)
                face_h = scale * (box[3] - box[1])
                cy = FRAME_H * 0.45 if face_h >= FRAME_H * 0.6 else rng.uniform(face_h / 2 + 10, FRAME_H - face_h / 2 - 10)
                anchor = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
                frame = paste_into_frame(background(seed), image, scale, (cx, cy), anchor)
                yield Case(True, name, name, f"face {round(frac * 100)}%", var, frame)


def nonhuman_cases(sources: list[Source] | None = None, heights=NONHUMAN_HEIGHTS) -> Iterator[Case]:
    """Each non-human image pasted whole at each height fraction."""
    for source in nonhuman_sources() if sources is None else sources:
        h, w = source.image.shape[:2]
        for frac in heights:
            seed = zlib.crc32(f"{source.name}{frac}".encode())
            rng = np.random.default_rng(seed)
            scale = frac * FRAME_H / h
            if scale * w > FRAME_W * 1.6:
                scale = FRAME_W * 1.6 / w
            sw, sh = scale * w, scale * h
            cx = FRAME_W / 2 if sw >= FRAME_W * 0.8 else rng.uniform(sw / 2, FRAME_W - sw / 2)
            cy = FRAME_H / 2 if sh >= FRAME_H * 0.9 else rng.uniform(sh / 2, FRAME_H - sh / 2)
            frame = paste_into_frame(background(seed), source.image, scale, (cx, cy), (w / 2, h / 2))
            yield Case(False, source.group, source.name, f"height {round(frac * 100)}%", "plain", frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", help="write every case as a JPEG into this folder (for looking at)")
    args = parser.parse_args()
    from latentsync_core.face.landmarks import get_backend

    backend = get_backend("mediapipe")
    counts: dict[tuple[bool, str], int] = {}
    for case in itertools.chain(human_cases(backend), nonhuman_cases()):
        counts[(case.human, case.group)] = counts.get((case.human, case.group), 0) + 1
        if args.write:
            os.makedirs(args.write, exist_ok=True)
            name = f"{'human' if case.human else 'non'}_{case.group}_{case.name}_{case.size}_{case.variant}".replace(os.sep, "_").replace(" ", "").replace("%", "")
            cv2.imwrite(os.path.join(args.write, name + ".jpg"), cv2.cvtColor(case.frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    for (human, group), n in sorted(counts.items()):
        print(f"{'human' if human else 'non-human':>9} {group:<18} {n:5d} frames")


if __name__ == "__main__":
    main()
