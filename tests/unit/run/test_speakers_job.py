"""The several-speaker job (latentsync_core.run.speakers_job) on a two-person clip, with random-weight models.

The clip (tests/support/speaker_clips.py): two real photographs as the speakers, cut between shots
with a position swap, a shot with one of them, a cutaway and a shot with a third, unknown face.
Faces are MediaPipe's, recognition is dlib's ResNet descriptor; the UNet, VAE and Whisper have random
weights. Every sampler call is recorded (which speaker's sampler, which output frames, which audio
tokens), so the test checks frame by frame that each face was sampled with its own speaker's tokens.
The output is lossless (``crf=0``): unchanged pixels compare bit for bit.
"""
from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
import torch

from latentsync_core.errors import BadInputError
from latentsync_core.face.aligner import FaceAligner
from latentsync_core.face.face_tracks import FaceTracker
from latentsync_core.face.identity import FaceDescriber, FacePosition
from latentsync_core.face.landmarks import get_backend
from latentsync_core.job import IterableSource, JobOptions, LipSyncModels
from latentsync_core.lipsync import sampler
from latentsync_core.lipsync.sampler import SamplerSettings, plan_chunks
from latentsync_core.media.audio_io import Audio
from latentsync_core.media.audio_mix import MIX_PEAK, common_tracks, mix_tracks
from latentsync_core.media.video_io import probe, read_windows
from latentsync_core.run.speakers_job import Recognition, Speaker, SpeakersJob
from speaker_clips import HEIGHT, WIDTH, face_box, tile, two_person_clip
from tiny_job import tiny_models

RATE = 16000
FPS = Fraction(25)
OPTIONS = JobOptions(sampler=SamplerSettings(steps=1, guidance_scale=1.0, seed=11, chunk_size=2), window=4, crf=0,
                     length_mode="pad_audio")
PEOPLE = ("astronaut", "hopper")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> LipSyncModels:
    return tiny_models(tmp_path_factory.mktemp("whisper"))


@pytest.fixture(scope="module")
def backend():
    return get_backend("mediapipe")


@pytest.fixture(scope="module")
def clip():
    return two_person_clip()


def speech(frames: int, pitch: float, seed: int) -> torch.Tensor:
    """``[1, T]`` a modulated tone with noise lasting ``frames`` video frames at 25 fps."""
    t = torch.arange(round(frames / 25 * RATE)) / RATE
    noise = torch.randn(t.shape, generator=torch.Generator().manual_seed(seed))
    voice = torch.sin(2 * math.pi * pitch * t) + 0.2 * noise
    return (0.3 * (0.6 + 0.4 * torch.sin(2 * math.pi * 4 * t)) * voice)[None]


class Recorder:
    """Wraps the job's ChunkSampler: records (sampler number, the embeddings of each call)."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[tuple[int, torch.Tensor]] = []
        self.made = 0
        recorder, original = self, sampler.ChunkSampler

        class Recording(original):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                self.number = recorder.made
                recorder.made += 1

            def __call__(self, faces, embeddings):
                recorder.calls.append((self.number, embeddings.clone()))
                return super().__call__(faces, embeddings)

        monkeypatch.setattr(sampler, "ChunkSampler", Recording)


def source_of(frames: np.ndarray) -> IterableSource:
    return IterableSource(lambda: [frames], FPS, WIDTH, HEIGHT)


def decode(path) -> np.ndarray:
    return np.concatenate([w.frames for w in read_windows(probe(path))])


def centre_of_face(alignment, row: int) -> np.ndarray:
    """Where the centre of the aligned face lies in the frame (source pixels)."""
    m = np.vstack([alignment.aligned_affines()[row], [0, 0, 1]])
    r = alignment.resolution
    return (np.linalg.inv(m) @ np.array([r / 2, r / 2, 1.0]))[:2]


def inside(point: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def test_each_face_is_sampled_only_with_its_own_speakers_tokens(tmp_path, models, backend, clip, monkeypatch):
    frames, who = clip
    n = len(frames)
    recorder = Recorder(monkeypatch)
    # speaker 1 by a picture of her face (not a frame of the clip), speaker 2 by position; speaker 2's track is shorter
    speakers = [
        Speaker(tile("astronaut"), speech(n, 140.0, seed=1), RATE),
        Speaker(FacePosition(0, 1), speech(n - 5, 230.0, seed=2), RATE),
    ]
    job = SpeakersJob(source_of(frames), speakers, models, FaceAligner(backend), OPTIONS, Recognition(FaceDescriber()))
    job.prepare()
    tokens = [torch.cat([job.plans[k].embeddings(np.array([j])) for j in range(n)]) for k in range(2)]
    assert not torch.equal(tokens[0], tokens[1])
    result = job.write(str(tmp_path / "out.mp4"))
    out = decode(tmp_path / "out.mp4")
    assert out.shape == frames.shape and result.frames == n

    # every output frame's sampled faces, frame by frame: speaker k's sampler got speaker k's tokens of that frame
    chunks = [plan_chunks(a.has_face, OPTIONS.sampler.chunk_size) for a in job.alignments]
    sampled = {0: [], 1: []}
    for (number, embeddings), chunk in zip(recorder.calls, _in_call_order(recorder.calls, chunks)):
        assert torch.equal(embeddings, tokens[number][chunk]), f"speaker {number + 1}'s frames {chunk} got other tokens"
        sampled[number] += chunk.tolist()
    for j in range(n):
        for k, person in enumerate(PEOPLE):
            visible = person in who[j]
            assert (j in sampled[k]) == visible, f"frame {j}: {person} {'not ' if visible else ''}sampled"
            if visible:
                assert inside(centre_of_face(job.alignments[k], j), face_box(who[j][person])), (
                    f"frame {j}: speaker {k + 1}'s face is not {person}'s"
                )
    # frames where neither speaker is seen are as decoded, bit for bit; so is the stranger's face
    for j in range(n):
        if not who[j]:
            assert np.array_equal(out[j], frames[j]), f"frame {j} (no speaker) changed"
        if "stranger" in who[j]:
            x0, y0, x1, y1 = face_box(who[j]["stranger"])
            assert np.array_equal(out[j, y0:y1, x0:x1], frames[j, y0:y1, x0:x1]), f"frame {j}: the unknown face changed"
            for person in PEOPLE:
                x0, y0, x1, y1 = face_box(who[j][person])
                assert (out[j, y0:y1, x0:x1] != frames[j, y0:y1, x0:x1]).any(), f"frame {j}: {person}'s mouth unchanged"


def _in_call_order(calls, chunks):
    """The chunk of each recorded call: each speaker's chunks in their order, interleaved as called."""
    taken = [iter(c) for c in chunks]
    return [next(taken[number]) for number, _ in calls]


def test_position_references_without_recognition_follow_their_face_within_its_shot(tmp_path, models, backend, clip):
    frames, who = clip
    n = len(frames)
    speakers = [Speaker(FacePosition(0, k), speech(n, 140.0 + 90 * k, seed=k), RATE) for k in range(2)]
    job = SpeakersJob(source_of(frames), speakers, models, FaceAligner(backend), OPTIONS)
    job.write(str(tmp_path / "out.mp4"))
    first_shot = np.arange(n) < 3
    for alignment in job.alignments:
        assert np.array_equal(alignment.has_face, first_shot)
    out = decode(tmp_path / "out.mp4")
    assert np.array_equal(out[~first_shot], frames[~first_shot])


def test_a_silent_speaker_is_left_untouched_on_request_or_sampled_with_silence(tmp_path, models, backend, clip, monkeypatch):
    frames, who = clip
    frames = frames[:3]  # the first shot: both seen
    speakers = [Speaker(FacePosition(0, 0), speech(3, 140.0, seed=1), RATE), Speaker(FacePosition(0, 1), torch.zeros(1, 1920), RATE)]
    recorder = Recorder(monkeypatch)
    job = SpeakersJob(source_of(frames), speakers, models, FaceAligner(backend), replace(OPTIONS, silent_speakers="untouched"))
    job.write(str(tmp_path / "untouched.mp4"))
    assert {number for number, _ in recorder.calls} == {0}
    x0, y0, x1, y1 = face_box("right")
    out = decode(tmp_path / "untouched.mp4")
    assert np.array_equal(out[:, y0:y1, x0:x1], frames[:, y0:y1, x0:x1])
    recorder.calls.clear()
    recorder.made = 0
    job = SpeakersJob(source_of(frames), speakers, models, FaceAligner(backend), OPTIONS)
    job.prepare()
    silent, spoken = job.plans[1].embeddings(), job.plans[0].embeddings()
    job.write(str(tmp_path / "closed.mp4"))
    got = torch.cat([e for number, e in recorder.calls if number == 1])
    assert torch.equal(got, silent) and not torch.equal(got, spoken)


@pytest.mark.parametrize("face, match", [
    (FacePosition(99, 0), "no frame 99"),
    (FacePosition(0, 2), "shows 2 face"),
])
def test_a_reference_that_names_no_face_is_one_line(tmp_path, models, backend, clip, face, match):
    frames = clip[0][:3]
    speakers = [Speaker(face, speech(3, 140.0, seed=1), RATE)]
    with pytest.raises(BadInputError, match=match):
        SpeakersJob(source_of(frames), speakers, models, FaceAligner(backend), OPTIONS).write(str(tmp_path / "o.mp4"))
    assert list(tmp_path.iterdir()) == []


def test_an_image_reference_needs_recognition_and_must_match_a_face(tmp_path, models, backend, clip):
    frames = clip[0][:3]
    stranger = [Speaker(tile("stranger"), speech(3, 140.0, seed=1), RATE)]
    with pytest.raises(BadInputError, match="needs face recognition"):
        SpeakersJob(source_of(frames), stranger, models, FaceAligner(backend), OPTIONS)
    job = SpeakersJob(source_of(frames), stranger, models, FaceAligner(backend), OPTIONS, Recognition(FaceDescriber()))
    with pytest.raises(BadInputError, match="matches no face in the video"):
        job.write(str(tmp_path / "o.mp4"))


def test_the_human_face_gate_keeps_the_real_faces_and_drops_a_cartoon(models, backend, clip):
    """The aligner's human-face gate is asked for every face track: the two real people keep their faces, a cartoon
    face (a Noto emoji, tests/data/face_gate) pasted between them is no face at all, so no position can name it."""
    import cv2

    from latentsync_core.face.human_gate import HumanFaceGate
    from repo_paths import DATA

    frames = clip[0][-3:].copy()  # the astronaut left, the stranger in the middle, hopper right
    emoji = cv2.cvtColor(cv2.imread(f"{DATA}/face_gate/emoji_1F466.png"), cv2.COLOR_BGR2RGB)
    emoji = cv2.resize(emoji, (150, 150), interpolation=cv2.INTER_AREA)
    frames[:, 105:255, 245:395] = emoji
    speakers = [Speaker(FacePosition(0, k), speech(3, 140.0 + 90 * k, seed=k), RATE) for k in (0, 1)]
    job = SpeakersJob(source_of(frames), speakers, models, FaceAligner(backend, human_gate=HumanFaceGate()), OPTIONS)
    job.prepare()
    job.close()
    for alignment, slot in zip(job.alignments, ("left", "right")):
        assert alignment.has_face.all()
        assert inside(centre_of_face(alignment, 0), face_box(slot)), slot
    assert len(job.tracker.tracks) == 2
    ungated = FaceTracker(backend)
    ungated.add(torch.from_numpy(frames).float() / 255)
    ungated.finish()
    assert len(ungated.tracks) == 3, "the cartoon face is not found without the gate: the test tests nothing"


def test_tracks_are_brought_to_one_layout_and_mixed_without_clipping():
    mono = Audio(torch.full((1, 100), 0.8), 16000)
    stereo = Audio(torch.full((2, 50), 0.7), 16000)
    a, b = common_tracks([mono, stereo])
    assert a.waveform.shape == b.waveform.shape == (2, 100) and a.sample_rate == 16000
    assert torch.equal(b.waveform[:, 50:], torch.zeros(2, 50))
    mix = mix_tracks([a.waveform, b.waveform])
    assert float(mix.abs().max()) == pytest.approx(MIX_PEAK) and float(mix[0, 70]) == pytest.approx(0.8 * MIX_PEAK / 1.5)
    quiet = mix_tracks([0.1 * a.waveform, 0.1 * b.waveform])
    assert torch.allclose(quiet, 0.1 * (a.waveform + b.waveform))
