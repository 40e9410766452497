"""InsightFace-compatible backend: SCRFD decode/NMS, 2d106 warp, model files, full detect path.

No real weights are available here. The ONNX models are built in the test with
``onnx.helper`` in the official file layouts:

* ``det_10g.onnx``: input ``input.1`` ``(1, 3, ?, ?)``; outputs ``448 471 494``
  (scores, strides 8/16/32, ``(N, 1)``), ``451 474 497`` (boxes ``(N, 4)``),
  ``454 477 500`` (keypoints ``(N, 10)``), 2 anchors per location;
* ``2d106det.onnx``: input ``data`` ``(1, 3, 192, 192)``, first nodes ``_minusscalar0`` /
  ``_mulscalar0``, output ``fc1`` ``(1, 212)``.

"Random" models have random convolution weights (seeded). "Constant" models output
hand-written tensors (plus ``0 * sum(input)`` so the input is used); the expected
boxes and points are then worked out in each test from the geometry of the letterbox
and of the 1.5x crop, independently of the code under test.
"""
from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

import onnx
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from latentsync_core.errors import BadInputError, MissingModelError  # noqa: E402
from latentsync_core.face.landmarks import get_backend  # noqa: E402
from latentsync_core.face.landmarks.insightface_onnx import (  # noqa: E402
    BUFFALO_L_URL,
    INSIGHTFACE_106,
    InsightFaceOnnxBackend,
    download_buffalo_l,
)
from latentsync_core.face.landmarks.landmark106 import Landmark106, crop_transform  # noqa: E402
from latentsync_core.face.landmarks.onnx_session import create_session  # noqa: E402
from latentsync_core.face.landmarks.scrfd import (  # noqa: E402
    ScrfdDetector,
    anchor_centers,
    letterbox,
    nms,
)

SCORE_NAMES = ("448", "471", "494")
BOX_NAMES = ("451", "474", "497")
KPS_NAMES = ("454", "477", "500")
STRIDES = (8, 16, 32)


def _save(graph: onnx.GraphProto, path: str) -> str:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def random_scrfd(path: str, seed: int = 0) -> str:
    """det_10g layout with random convolutions (dynamic input, 9 outputs, 2 anchors)."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    outs = {}
    for stride, s_name, b_name, k_name in zip(STRIDES, SCORE_NAMES, BOX_NAMES, KPS_NAMES):
        feat = f"feat{stride}"
        inits.append(_init(f"w{stride}", rng.normal(0, 0.02, (8, 3, stride, stride))))
        nodes.append(helper.make_node("Conv", ["input.1", f"w{stride}"], [feat], strides=[stride, stride]))
        for head, channels, name in (("s", 2, s_name), ("b", 8, b_name), ("k", 20, k_name)):
            raw = f"{head}{stride}"
            inits.append(_init(f"w{raw}", rng.normal(0, 1.0, (channels, 8, 1, 1))))
            inits.append(_init(f"b{raw}", np.full(channels, -1.5 if head == "s" else 0.0)))
            nodes.append(helper.make_node("Conv", [feat, f"w{raw}", f"b{raw}"], [raw]))
            if head == "s":
                nodes.append(helper.make_node("Sigmoid", [raw], [raw + "a"]))
            elif head == "b":
                inits.append(_init(f"two{stride}", np.array(2.0)))
                nodes.append(helper.make_node("Relu", [raw], [raw + "r"]))
                nodes.append(helper.make_node("Add", [raw + "r", f"two{stride}"], [raw + "a"]))
            else:
                nodes.append(helper.make_node("Identity", [raw], [raw + "a"]))
            nodes.append(helper.make_node("Transpose", [raw + "a"], [raw + "t"], perm=[0, 2, 3, 1]))
            inits.append(numpy_helper.from_array(np.array([-1, channels // 2], dtype=np.int64), f"shape{raw}"))
            nodes.append(helper.make_node("Reshape", [raw + "t", f"shape{raw}"], [name]))
            outs[name] = channels // 2
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "?", "?"])
    ys = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, outs[n]])
        for n in SCORE_NAMES + BOX_NAMES + KPS_NAMES
    ]
    return _save(helper.make_graph(nodes, "scrfd_random", [x], ys, inits), path)


def _landmark_graph(path: str, head_nodes: list, head_inits: list, head_input: str) -> str:
    """2d106det layout: data -> _minusscalar0 -> _mulscalar0 -> head -> fc1 (1, 212)."""
    nodes = [
        helper.make_node("Sub", ["data", "zero"], ["norm0"], name="_minusscalar0"),
        helper.make_node("Mul", ["norm0", "one"], [head_input], name="_mulscalar0"),
        *head_nodes,
    ]
    inits = [_init("zero", np.array(0.0)), _init("one", np.array(1.0)), *head_inits]
    x = helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 192, 192])
    y = helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 212])
    return _save(helper.make_graph(nodes, "landmark106", [x], [y], inits), path)


def random_landmark106(path: str, seed: int = 1) -> str:
    """2d106det layout with a random conv + linear head."""
    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], strides=[8, 8]),
        helper.make_node("GlobalAveragePool", ["c"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["fc1"], transB=1),
    ]
    inits = [
        _init("w", rng.normal(0, 0.01, (8, 3, 8, 8))),
        _init("fc_w", rng.normal(0, 0.1, (212, 8))),
        _init("fc_b", rng.uniform(-0.5, 0.5, 212)),
    ]
    return _landmark_graph(path, nodes, inits, "x")


def _zero_from_input(source: str, nodes: list, inits: list) -> str:
    """Append nodes computing ``0 * sum(source)`` so a constant output still reads the input."""
    nodes += [
        helper.make_node("ReduceSum", [source], ["in_sum"], keepdims=0),
        helper.make_node("Mul", ["in_sum", "nought"], ["in_zero"]),
    ]
    inits.append(_init("nought", np.array(0.0)))
    return "in_zero"


def constant_scrfd(path: str, outputs: dict[str, np.ndarray], size: int = 512) -> str:
    """det_10g layout with a fixed ``size`` input whose 9 outputs are the given constants."""
    nodes, inits, ys = [], [], []
    zero = _zero_from_input("input.1", nodes, inits)
    for name in SCORE_NAMES + BOX_NAMES + KPS_NAMES:
        inits.append(_init("c" + name, outputs[name]))
        nodes.append(helper.make_node("Add", ["c" + name, zero], [name]))
        ys.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(outputs[name].shape)))
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, size, size])
    return _save(helper.make_graph(nodes, "scrfd_const", [x], ys, inits), path)


def constant_landmark106(path: str, raw: np.ndarray) -> str:
    """2d106det layout whose ``fc1`` is ``raw`` ``(1, 212)``."""
    nodes, inits = [], [_init("pts", raw.reshape(1, 212))]
    zero = _zero_from_input("x", nodes, inits)
    nodes.append(helper.make_node("Add", ["pts", zero], ["fc1"]))
    return _landmark_graph(path, nodes, inits, "x")


def channel0_landmark106(path: str) -> str:
    """2d106det layout whose 212 outputs all equal max(channel 0 of the crop) / 255."""
    nodes = [
        helper.make_node("Slice", ["x", "s0", "s1", "ax"], ["ch0"]),
        helper.make_node("ReduceMax", ["ch0"], ["m"], keepdims=0),
        helper.make_node("Div", ["m", "v255"], ["m1"]),
        helper.make_node("Expand", ["m1", "shape"], ["fc1"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "s0"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "s1"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "ax"),
        numpy_helper.from_array(np.array([1, 212], dtype=np.int64), "shape"),
        _init("v255", np.array(255.0)),
    ]
    return _landmark_graph(path, nodes, inits, "x")


# --- hand-made detector outputs for a 512 x 512 canvas ----------------------------------------


def _empty_outputs(size: int = 512) -> dict[str, np.ndarray]:
    out = {}
    for stride, s, b, k in zip(STRIDES, SCORE_NAMES, BOX_NAMES, KPS_NAMES):
        n = (size // stride) ** 2 * 2
        out[s], out[b], out[k] = np.zeros((n, 1)), np.ones((n, 4)), np.zeros((n, 10))
    return out


def _set_anchor(out, level, gx, gy, anchor, score, dist, kps, size=512):
    stride = STRIDES[level]
    index = (gy * (size // stride) + gx) * 2 + anchor
    out[SCORE_NAMES[level]][index] = score
    out[BOX_NAMES[level]][index] = dist
    out[KPS_NAMES[level]][index] = kps


def _faces_outputs():
    """Three candidates: A (best), B overlapping A (suppressed), C far away (kept).

    Returns the outputs and the expected canvas boxes / keypoints of A and C.
    """
    out = _empty_outputs()
    kps = np.array([-1, -1, 1, -1, 0, 0, -1, 1, 1, 1], dtype=float)
    # A: stride 16, location (10, 8), anchor 1 -> centre (160, 128).
    _set_anchor(out, 1, 10, 8, 1, 0.9, [3, 4, 5, 6], kps)
    # B: stride 16, location (11, 8), anchor 0 -> centre (176, 128), nearly the same box.
    _set_anchor(out, 1, 11, 8, 0, 0.8, [4, 4, 4, 6], kps)
    # C: stride 32, location (12, 3), anchor 0 -> centre (384, 96).
    _set_anchor(out, 2, 12, 3, 0, 0.7, [1, 2, 2, 1], kps * 0.5)
    box_a = [160 - 3 * 16, 128 - 4 * 16, 160 + 5 * 16, 128 + 6 * 16]
    box_c = [384 - 1 * 32, 96 - 2 * 32, 384 + 2 * 32, 96 + 1 * 32]
    kps_a = np.array([160, 128]) + kps.reshape(5, 2) * 16
    kps_c = np.array([384, 96]) + kps.reshape(5, 2) * 0.5 * 32
    return out, np.array([box_a, box_c], dtype=float), np.stack([kps_a, kps_c])


# --- pure functions ---------------------------------------------------------------------------


def test_anchor_centers_are_row_major_with_adjacent_anchors():
    centers = anchor_centers(2, 3, 16, 2)
    expected = [(x * 16, y * 16) for y in range(2) for x in range(3) for _ in range(2)]
    np.testing.assert_array_equal(centers, np.array(expected, dtype=float))


def test_letterbox_keeps_aspect_and_places_top_left():
    frame = np.full((300, 600, 3), 200, dtype=np.uint8)
    canvas, scale = letterbox(frame, (512, 512))
    assert canvas.shape == (512, 512, 3) and scale == pytest.approx(256 / 300)
    assert (canvas[:256, :512] == 200).all() and (canvas[256:] == 0).all()
    tall, scale = letterbox(np.full((600, 300, 3), 9, np.uint8), (512, 512))
    assert scale == pytest.approx(512 / 600) and (tall[:, :256] == 9).all() and (tall[:, 256:] == 0).all()


def test_nms_keeps_best_of_overlapping_boxes_and_separate_boxes():
    boxes = np.array([[0, 0, 99, 99], [5, 5, 104, 104], [200, 200, 299, 299], [0, 0, 99, 40]], float)
    scores = np.array([0.6, 0.9, 0.8, 0.7])
    keep = nms(boxes, scores, 0.4)
    # box 0 vs 1: inter 95*95, union 2*100*100 - 95*95 -> IoU 0.82 > 0.4: dropped.
    # box 3 vs 1: inter 95*36, union 100*41 + 100*100 - 95*36 -> IoU 0.32 <= 0.4: kept.
    assert keep.tolist() == [1, 2, 3]


def test_scrfd_decode_and_nms_recover_known_boxes(tmp_path):
    out, boxes, kps = _faces_outputs()
    detector = ScrfdDetector(create_session(constant_scrfd(str(tmp_path / "det.onnx"), out)))
    assert detector.input_size == (512, 512)
    found = detector.detect(np.zeros((512, 512, 3), np.uint8))
    np.testing.assert_allclose(found.scores, [0.9, 0.7], atol=1e-6)
    np.testing.assert_allclose(found.boxes, boxes, atol=1e-4)
    np.testing.assert_allclose(found.keypoints, kps, atol=1e-4)


def test_scrfd_maps_boxes_back_through_the_letterbox(tmp_path):
    out, boxes, _ = _faces_outputs()
    detector = ScrfdDetector(create_session(constant_scrfd(str(tmp_path / "det.onnx"), out)))
    # 1024 x 768 frame -> 512 x 384 in the canvas: scale 0.5, so frame boxes are twice canvas boxes.
    found = detector.detect(np.zeros((768, 1024, 3), np.uint8))
    np.testing.assert_allclose(found.boxes, boxes * 2.0, atol=1e-4)
    # 1000 x 700 -> 512 x int(512 * 0.7) = 512 x 358; InsightFace's scale is the height ratio 358 / 700.
    found = detector.detect(np.zeros((700, 1000, 3), np.uint8))
    np.testing.assert_allclose(found.boxes, boxes * (700 / 358), atol=1e-4)


def test_scrfd_threshold_drops_weak_faces(tmp_path):
    out, boxes, _ = _faces_outputs()
    session = create_session(constant_scrfd(str(tmp_path / "det.onnx"), out))
    found = ScrfdDetector(session, score_threshold=0.75).detect(np.zeros((512, 512, 3), np.uint8))
    np.testing.assert_allclose(found.boxes, boxes[:1], atol=1e-4)


def test_landmark_crop_maps_box_centre_to_crop_centre_and_side_to_two_thirds():
    box = np.array([100.0, 50.0, 180.0, 170.0])  # 80 x 120, centre (140, 110)
    affine = crop_transform(box, 192)
    centre = affine @ np.array([140.0, 110.0, 1.0])
    np.testing.assert_allclose(centre, [96, 96])
    # 1.5 * 120 = 180 frame px span the 192 crop px: the box height covers 192 / 1.5 = 128 px.
    top, bottom = affine @ np.array([140, 50, 1.0]), affine @ np.array([140, 170, 1.0])
    assert bottom[1] - top[1] == pytest.approx(128.0)


def test_landmark106_inverse_warp_lands_on_known_frame_points(tmp_path):
    rng = np.random.default_rng(3)
    raw = rng.uniform(-1, 1, 212)
    model = Landmark106(create_session(constant_landmark106(str(tmp_path / "lmk.onnx"), raw)))
    box = np.array([300.0, 120.0, 420.0, 280.0])  # 120 x 160, centre (360, 200)
    points = model.predict(np.zeros((480, 640, 3), np.uint8), box)
    # Crop pixel (p + 1) * 96 is p * 96 from the crop centre; the crop spans 1.5 * 160 frame px
    # in 192 px, so that is p * 96 * 240 / 192 = p * 120 frame px from the box centre.
    expected = np.array([360.0, 200.0]) + raw.reshape(106, 2) * 120.0
    np.testing.assert_allclose(points, expected, atol=1e-3)


# --- backend -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("buffalo_l")
    random_scrfd(str(folder / "det_10g.onnx"))
    random_landmark106(str(folder / "2d106det.onnx"))
    return str(folder)


def test_missing_model_error_names_file_folder_and_url(tmp_path):
    with pytest.raises(MissingModelError) as err:
        get_backend("insightface", model_dir=str(tmp_path))
    message = str(err.value)
    assert "det_10g.onnx" in message and str(tmp_path) in message and BUFFALO_L_URL in message
    random_scrfd(str(tmp_path / "det_10g.onnx"))
    with pytest.raises(MissingModelError, match="2d106det.onnx"):
        InsightFaceOnnxBackend(str(tmp_path))


def test_random_weight_models_in_official_layout_load_and_detect(random_models):
    backend = get_backend("insightface", model_dir=random_models)
    assert backend.name == "insightface"
    detector, landmarker = backend._models()
    assert detector.output_names == list(SCORE_NAMES + BOX_NAMES + KPS_NAMES)
    assert detector.has_keypoints and detector.num_anchors == 2 and detector.input_size == (512, 512)
    assert (landmarker.input_name, landmarker.output_name, landmarker.size) == ("data", "fc1", 192)
    frame = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    faces = backend.detect(frame)
    assert faces, "the random SCRFD should pass some anchors"
    scores = [f.score for f in faces]
    assert scores == sorted(scores, reverse=True) and min(scores) >= 0.5
    boxes = np.stack([f.bbox for f in faces])
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
            ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
            union = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - iw * ih
            assert iw * ih / union <= 0.4 + 1e-9, "NMS left two overlapping faces"
    for face in faces[:5]:
        assert face.points.shape == (106, 2) and face.anchors.shape == (3, 2) and face.mouth.shape == (20, 2)
        assert np.isfinite(face.points).all()
        np.testing.assert_array_equal(face.anchors, np.round(face.anchors))


def test_full_detect_path_returns_known_boxes_and_points(tmp_path):
    out, boxes, _ = _faces_outputs()
    constant_scrfd(str(tmp_path / "det_10g.onnx"), out)
    raw = np.random.default_rng(4).uniform(-1, 1, 212)
    constant_landmark106(str(tmp_path / "2d106det.onnx"), raw)
    frame = np.zeros((768, 1024, 3), np.uint8)
    for rounding in (True, False):
        faces = InsightFaceOnnxBackend(str(tmp_path), round_like_reference=rounding).detect(frame)
        assert len(faces) == 2
        for face, box in zip(faces, boxes * 2.0):
            np.testing.assert_allclose(face.bbox, box, atol=1e-3)
            centre = (box[:2] + box[2:]) / 2
            half_span = 0.75 * max(box[2] - box[0], box[3] - box[1])
            expected = centre + raw.reshape(106, 2) * half_span
            np.testing.assert_allclose(face.points, expected, atol=1e-3)
            pts = np.round(expected) if rounding else expected
            brow_l = pts[[43, 48, 49, 51, 50]].mean(0)
            brow_r = pts[101:106].mean(0)
            nose = pts[[74, 77, 83, 86]].mean(0)
            anchors = np.stack([brow_l, brow_r, nose])
            np.testing.assert_allclose(face.anchors, np.round(anchors) if rounding else anchors, atol=1e-3)
            lips = face.points[52:72]
            assert face.mouth.shape == (20, 2)
            assert face.mouth[:, 0].min() == pytest.approx(lips[:, 0].min(), abs=1e-6)
            assert (face.mouth.min(0) >= lips.min(0) - 1e-6).all() and (face.mouth.max(0) <= lips.max(0) + 1e-6).all()


def test_reference_colour_order_feeds_the_networks_bgr(tmp_path):
    out, boxes, _ = _faces_outputs()
    constant_scrfd(str(tmp_path / "det_10g.onnx"), out)
    channel0_landmark106(str(tmp_path / "2d106det.onnx"))
    red = np.zeros((512, 512, 3), np.uint8)
    red[..., 0] = 255
    box = boxes[0]
    centre = (box[:2] + box[2:]) / 2
    half_span = 0.75 * max(box[2] - box[0], box[3] - box[1])
    # LatentSync order: the network's channel 0 is blue (0) -> every point at the box centre.
    ref = InsightFaceOnnxBackend(str(tmp_path), round_like_reference=False).detect(red)[0]
    np.testing.assert_allclose(ref.points, np.broadcast_to(centre, (106, 2)), atol=1e-3)
    # Trained order: channel 0 is red (255 -> 1) -> every point at centre + half_span.
    rgb = InsightFaceOnnxBackend(str(tmp_path), round_like_reference=False, match_reference_colors=False)
    np.testing.assert_allclose(rgb.detect(red)[0].points, np.broadcast_to(centre + half_span, (106, 2)), atol=1e-3)


def test_download_extracts_the_two_models_from_the_zip(tmp_path, random_models):
    archive = tmp_path / "buffalo_l.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("det_10g.onnx", "2d106det.onnx"):
            zf.write(os.path.join(random_models, name), f"buffalo_l/{name}")
        zf.writestr("buffalo_l/w600k_r50.onnx", b"not needed")
    target = tmp_path / "models" / "buffalo_l"
    download_buffalo_l(str(target), url=archive.as_uri())
    assert sorted(os.listdir(target)) == ["2d106det.onnx", "det_10g.onnx"]
    detector, landmarker = InsightFaceOnnxBackend(str(target))._models()
    assert len(detector.output_names) == 9 and landmarker.size == 192


def test_download_failure_is_a_missing_model_error(tmp_path):
    with pytest.raises(MissingModelError, match="download failed"):
        download_buffalo_l(str(tmp_path), url=(tmp_path / "absent.zip").as_uri())


def test_bad_frame_is_rejected(random_models):
    backend = InsightFaceOnnxBackend(random_models)
    with pytest.raises(BadInputError, match="uint8"):
        backend.detect(np.zeros((64, 64, 3), np.float32))


def test_index_table_matches_latentsync():
    assert INSIGHTFACE_106.left_brow == (43, 48, 49, 51, 50)
    assert INSIGHTFACE_106.right_brow == (101, 102, 103, 104, 105)
    assert INSIGHTFACE_106.nose == (74, 77, 83, 86)
