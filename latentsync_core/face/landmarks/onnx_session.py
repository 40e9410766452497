"""onnxruntime sessions on a chosen device (CPU, or CUDA when the GPU runtime is there).

onnxruntime is optional (only the InsightFace backend uses it) and is never
installed by the pack: ``onnxruntime`` and ``onnxruntime-gpu`` are both imported as
``onnxruntime``, and installing one next to the other breaks the packs that use it.
"""
from __future__ import annotations

from typing import Any

from ...errors import MissingDependencyError

ONNXRUNTIME_INSTALL = "pip install onnxruntime (CPU), or pip install onnxruntime-gpu (CUDA); install only one of the two"


def import_onnxruntime() -> Any:
    """Import onnxruntime or raise :class:`MissingDependencyError` with the install hint."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime", "The InsightFace landmark backend", ONNXRUNTIME_INSTALL) from exc
    return onnxruntime


def create_session(path: str, device: str = "cpu") -> Any:
    """Open ``path`` as an ``onnxruntime.InferenceSession`` on ``device``.

    Args:
        path: the ``.onnx`` file.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. CUDA falls back to the CPU when the
            installed onnxruntime has no CUDA execution provider.
    """
    ort = import_onnxruntime()
    providers: list[Any] = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": index}))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=options, providers=providers)
