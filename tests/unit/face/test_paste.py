"""Mouth ROI crop and paste-back on synthetic clips of a real face."""
import cv2
import numpy as np
import pytest
import torch

from latentsync_core.face.alignment import Alignment
from latentsync_core.errors import BadInputError
from latentsync_core.face.aligner import FaceAligner
from latentsync_core.face.geometry import apply_affine, invert_affine
from latentsync_core.face.landmarks import get_backend
from latentsync_core.face.mouth_roi import crop_mouth
from latentsync_core.face.paste import paste_back
from clips import astronaut, closeup_1080p, cutaway, jitter_affines, render, to_frames

BASE = np.array([[1.0, 0.0, 64.0], [0.0, 1.0, -16.0]])


@pytest.fixture(scope="module")
def clip():
    """Six jittered face frames and one cutaway, aligned at 256."""
    frames = render(astronaut(), jitter_affines(6, seed=5, base=BASE))
    frames = torch.cat([frames[:3], to_frames([cutaway(seed=9)]), frames[3:]])
    aligned, alignment = FaceAligner(get_backend("mediapipe")).align(frames)
    return frames, aligned, alignment


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def footprint(alignment, i: int) -> np.ndarray:
    """Frame pixels covered by the aligned face (the warp's support)."""
    h, w = alignment.source_size
    res = alignment.resolution
    ones = np.ones((res, res), np.float32)
    return cv2.warpAffine(ones, alignment.aligned_affines()[i], (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP) > 0


def test_unchanged_faces_come_back_bit_identical(clip):
    frames, aligned, alignment = clip
    assert torch.equal(paste_back(frames, aligned, alignment), frames)


def test_full_face_round_trip_psnr_and_exact_outside(clip):
    frames, aligned, alignment = clip
    out = paste_back(frames, aligned, alignment, region="full_face")
    assert torch.equal(out[3], frames[3]), "the cutaway frame must pass through unchanged"
    values = []
    for i in np.flatnonzero(alignment.has_face):
        changed = (out[i] != frames[i]).any(-1).numpy()
        assert not (changed & ~footprint(alignment, i)).any(), "pixels changed outside the pasted face"
        values.append(psnr(out[i].numpy()[changed], frames[i].numpy()[changed]))
    print(f"round-trip PSNR in the blended region (face smaller than the crop): min {min(values):.2f} dB")
    assert min(values) >= 40.0, values


def test_round_trip_on_a_1080p_close_up():
    """A talking-head close-up: the face (about 700 px wide) fills most of a 1080p frame."""
    frames = to_frames([closeup_1080p(face_width=700)])
    aligned, alignment = FaceAligner(get_backend("mediapipe")).align(frames)
    assert alignment.has_face.all(), "the face of a 1080p close-up was not found"
    out = paste_back(frames, aligned, alignment, region="full_face")
    changed = (out[0] != frames[0]).any(-1).numpy()
    value = psnr(out[0].numpy()[changed], frames[0].numpy()[changed])
    print(f"round-trip PSNR, 1080p close-up (face larger than the crop): {value:.2f} dB")
    assert value >= 30.0


def test_mouth_roi_reports_source_resolution(clip):
    frames, aligned, alignment = clip
    roi = crop_mouth(aligned, alignment, target_size=128)
    assert roi.crops.shape == (7, 128, 128, 3)
    assert list(roi.valid) == list(alignment.has_face)
    # the box side in source pixels is the aligned side divided by the source->aligned scale
    for i in np.flatnonzero(roi.valid):
        corners = np.array([[roi.boxes[i, 0], roi.boxes[i, 1]], [roi.boxes[i, 2], roi.boxes[i, 1]], [roi.boxes[i, 0], roi.boxes[i, 3]]])
        src = apply_affine(invert_affine(alignment.aligned_affines()[i]), corners)
        sides = [np.linalg.norm(src[1] - src[0]), np.linalg.norm(src[2] - src[0])]
        assert roi.source_size[i] == pytest.approx(max(sides), rel=1e-6)
    # the lips are inside the box
    lips = apply_affine(alignment.aligned_affines()[0], alignment.mouth[0])
    assert (lips >= roi.boxes[0, :2]).all() and (lips <= roi.boxes[0, 2:]).all()


def restored_like(roi):
    """A stand-in restoration with a colour cast and extra contrast (what restorers do wrong)."""
    crops = roi.crops
    tinted = ((crops - 0.5) * 1.15 + 0.5) * torch.tensor([1.06, 0.97, 0.9]) + 0.02
    return roi.replace_crops(tinted.clamp(0, 1))


def gradient_energy(img: np.ndarray) -> np.ndarray:
    gray = img.mean(-1)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    return gx * gx + gy * gy


def box_band(alignment, i: int, box: np.ndarray, inner: float, outer: float) -> np.ndarray:
    """Frame pixels whose aligned-face position lies between the box shrunk by
    ``inner`` and grown by ``outer`` pixels: the border of the ROI mask."""
    res = alignment.resolution
    ys, xs = np.mgrid[0:res, 0:res]
    def inside(pad):
        return (xs >= box[0] - pad) & (xs <= box[2] + pad) & (ys >= box[1] - pad) & (ys <= box[3] + pad)
    band = (inside(outer) & ~inside(-inner)).astype(np.float32)
    h, w = alignment.source_size
    return cv2.warpAffine(band, alignment.aligned_affines()[i], (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0


def seam_energy(frames, out, alignment, roi, i, inner):
    band = box_band(alignment, i, roi.boxes[i], inner, 2.0)
    return gradient_energy(out[i].numpy())[band].mean(), gradient_energy(frames[i].numpy())[band].mean()


def test_roi_paste_touches_only_the_roi_and_shows_no_seam(clip):
    frames, aligned, alignment = clip
    roi = crop_mouth(aligned, alignment)
    out = paste_back(frames, aligned, alignment, roi=restored_like(roi), mask_smooth=0.5)
    i = 0
    changed = (out[i] != frames[i]).any(-1).numpy()
    assert changed.any()
    # every changed frame pixel maps into the (grown) ROI box of the aligned face
    ys, xs = np.nonzero(changed)
    in_face = apply_affine(alignment.aligned_affines()[i], np.stack([xs, ys], 1).astype(float))
    x0, y0, x1, y1 = roi.boxes[i]
    grow = 0.1 * (x1 - x0) + 4
    assert (in_face[:, 0] > x0 - grow).all() and (in_face[:, 0] < x1 + grow).all()
    assert (in_face[:, 1] > y0 - grow).all() and (in_face[:, 1] < y1 + grow).all()
    # seam: gradient energy over the feathered border of the ROI mask, after vs before the paste
    feather = 0.5 * (x1 - x0) / 4
    after, before = seam_energy(frames, out, alignment, roi, i, feather)
    print(f"gradient energy on the ROI mask border: {after:.4f} after the paste, {before:.4f} before")
    assert after <= 1.05 * before


def test_hard_edge_without_colour_match_is_detected(clip):
    """The seam measure above can fail: a hard, uncorrected paste shows a step."""
    frames, aligned, alignment = clip
    roi = crop_mouth(aligned, alignment)
    out = paste_back(frames, aligned, alignment, roi=restored_like(roi), mask_smooth=0.0, colour_match="none")
    after, before = seam_energy(frames, out, alignment, roi, 0, 2.0)
    assert after > 1.05 * before


def test_colour_match_modes_pull_the_roi_back(clip):
    frames, aligned, alignment = clip
    roi = crop_mouth(aligned, alignment)
    restored = restored_like(roi)
    errors = {}
    for mode in ("none", "mean_std", "histogram"):
        out = paste_back(frames, aligned, alignment, roi=restored, colour_match=mode)
        changed = (out[0] != frames[0]).any(-1)
        errors[mode] = float((out[0][changed] - frames[0][changed]).mean(0).abs().max())
    assert errors["mean_std"] < errors["none"] / 2 and errors["histogram"] < errors["none"] / 2, errors


def test_mismatched_inputs_are_named(clip):
    frames, aligned, alignment = clip
    with pytest.raises(BadInputError, match="alignment covers"):
        paste_back(frames[:3], aligned, alignment)
    with pytest.raises(BadInputError, match="alignment was made on"):
        paste_back(torch.nn.functional.interpolate(frames.permute(0, 3, 1, 2), size=(240, 320)).permute(0, 2, 3, 1), aligned, alignment)
    with pytest.raises(BadInputError, match="expected 256x256"):
        paste_back(frames, aligned[:, :128, :128], alignment)
    with pytest.raises(BadInputError, match="mask_smooth"):
        paste_back(frames, aligned, alignment, mask_smooth=2.0)
    with pytest.raises(BadInputError, match="alignment covers"):
        crop_mouth(aligned[:2], alignment)


def edited(aligned: torch.Tensor) -> torch.Tensor:
    """The faces with a brightened square over the mouth (a stand-in edit every frame shows)."""
    out = aligned.clone()
    out[:, 170:220, 90:166] = (out[:, 170:220, 90:166] + 0.2).clamp(0, 1)
    return out


def test_select_reindexes_rows_and_composes(clip):
    _, _, alignment = clip
    first = alignment.select([0, 1, 2, 3, 6, 5, 4])
    assert first.source_index.tolist() == [0, 1, 2, 3, 6, 5, 4] and first.source_frames == 7
    np.testing.assert_array_equal(first.affines[4], alignment.affines[6])
    assert first.has_face.tolist() == alignment.has_face[[0, 1, 2, 3, 6, 5, 4]].tolist()
    second = first.select([4, 4, 3, 0])
    assert second.source_index.tolist() == [6, 6, 3, 0] and second.source_frames == 7
    np.testing.assert_array_equal(second.mouth, alignment.mouth[[6, 6, 3, 0]])
    np.testing.assert_array_equal(second.landmarks, alignment.landmarks[[6, 6, 3, 0]])
    with pytest.raises(BadInputError, match="outside this alignment of 7"):
        alignment.select([0, 7])


def test_paste_into_selected_frames_equals_paste_into_gathered_frames(clip):
    frames, aligned, alignment = clip
    index = np.array([0, 1, 2, 3, 4, 5, 6, 5, 4, 3, 2])  # pingpong to 11 output frames
    faces = edited(aligned)[index]
    selected = alignment.select(index)
    out = paste_back(frames, faces, selected)
    assert out.shape == (11, *frames.shape[1:])
    manual = Alignment(**{**alignment.__dict__, "affines": alignment.affines[index], "has_face": alignment.has_face[index],
                          "interpolated": alignment.interpolated[index], "landmarks": alignment.landmarks[index],
                          "mouth": alignment.mouth[index]})
    assert torch.equal(out, paste_back(frames[index], faces, manual))
    assert torch.equal(out[3], frames[3]) and torch.equal(out[9], frames[3]), "the cutaway passes through"
    assert not torch.equal(out[7], frames[5])
    roi = crop_mouth(faces, selected)
    with_roi = paste_back(frames, faces, selected, roi=roi)
    assert len(roi) == 11 and with_roi.shape == out.shape and torch.equal(with_roi[9], frames[3])


def test_selected_alignment_needs_the_original_frames(clip):
    frames, aligned, alignment = clip
    selected = alignment.select([0, 1, 2, 1, 0])
    with pytest.raises(BadInputError, match="picked from a video of 7"):
        paste_back(frames[[0, 1, 2, 1, 0]], aligned[[0, 1, 2, 1, 0]], selected)
    with pytest.raises(BadInputError, match="alignment covers 5"):
        paste_back(frames, aligned, selected)


def test_mouths_a_restorer_skipped_leave_their_frames_bit_identical(clip):
    """sr_ratio: the crops restore_selected did not select are not pasted, their frames are untouched."""
    from latentsync_core.restorers import restore_selected

    frames, aligned, alignment = clip
    roi = crop_mouth(aligned, alignment)
    chosen = np.zeros(len(roi), dtype=bool)
    chosen[1] = True
    restored = roi.replace_crops(restore_selected(roi.crops, chosen, lambda x: 1.0 - x, batch_size=2))
    assert restored.pasted().tolist() == chosen.tolist()
    out = paste_back(frames, aligned, alignment, roi=restored)
    for i in range(len(frames)):
        assert torch.equal(out[i], frames[i]) == (i != 1), f"frame {i}"
    assert torch.equal(paste_back(frames, aligned, alignment, roi=roi), frames), "an unrestored ROI changed frames"


def test_faces_pasted_into_enlarged_frames_land_where_they_land_at_source_size(clip):
    """Frames enlarged 3x (nearest neighbour, as a background upscaler would): with the source frames as
    ``reference``, only the region that changes at source size changes, scaled by 3; unchanged faces
    leave the enlarged frames bit-identical."""
    frames, aligned, alignment = clip
    big = frames.repeat_interleave(3, dim=1).repeat_interleave(3, dim=2)
    assert torch.equal(paste_back(big, aligned, alignment, reference=frames), big)
    edited = aligned.clone()
    edited[:, 150:200, 90:170] = torch.tensor([0.9, 0.1, 0.1])  # a red mouth patch
    small_out = paste_back(frames, edited, alignment)
    big_out = paste_back(big, edited, alignment, reference=frames)
    for i in np.flatnonzero(alignment.has_face):
        small = (small_out[i] - frames[i]).abs().amax(-1).numpy() > 0.2
        large = (big_out[i] - big[i]).abs().amax(-1).numpy() > 0.2
        assert small.sum() > 200
        grown = cv2.dilate(small.astype(np.uint8), np.ones((3, 3), np.uint8)).repeat(3, 0).repeat(3, 1).astype(bool)
        assert large.sum() > 0.8 * 9 * small.sum() and not (large & ~grown).any()
        centre = np.argwhere(small).mean(0)
        centre_big = (np.argwhere(large).mean(0) + 0.5) / 3 - 0.5
        assert np.abs(centre - centre_big).max() < 0.5


def test_frames_changed_after_alignment_are_compared_with_their_own_crops(clip):
    """The aligner's faces are remembered for the paste's comparison, but by what the warp read: a frame
    painted on after alignment is compared with its own new crop, so an unedited face is pasted back over
    the paint, and the other frames come out bit-identical."""
    frames, aligned, alignment = clip
    i = int(np.flatnonzero(alignment.has_face)[1])
    x, y = np.round(apply_affine(invert_affine(alignment.affines[i]), [[105.0, 150.0]])[0]).astype(int)
    painted = frames.clone()
    painted[i, y - 4 : y + 4, x - 4 : x + 4] = torch.tensor([0.1, 0.9, 0.1])
    out = paste_back(painted, aligned, alignment)
    assert torch.equal(out[:i], frames[:i]) and torch.equal(out[i + 1 :], frames[i + 1 :])
    assert (out[i] - painted[i]).abs().amax() > 0.3, "the paint was not compared with the face the aligner made"
    assert (out[i] - frames[i])[y - 4 : y + 4, x - 4 : x + 4].abs().amax() < 0.1


def test_in_place_paste_leaves_the_cutaway_and_unedited_faces_bit_identical(clip):
    """The streaming path (``inplace``, the aligner's faces remembered): the cutaway frame is never touched,
    edited faces change their frames, and unedited faces leave every frame bit-identical."""
    frames, aligned, alignment = clip
    assert not alignment.has_face[3]
    work = frames.clone()
    assert paste_back(work, aligned * 0.9, alignment, inplace=True) is work
    assert torch.equal(work[3], frames[3])
    assert all(not torch.equal(work[i], frames[i]) for i in np.flatnonzero(alignment.has_face))
    work = frames.clone()
    paste_back(work, aligned, alignment, inplace=True)
    assert torch.equal(work, frames)
