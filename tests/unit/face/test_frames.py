"""Float frames to uint8: the value every face-path stage reads."""
import numpy as np
import torch

from latentsync_core.face.frames import to_uint8


def reference_uint8(frame: torch.Tensor) -> np.ndarray:
    """The tensor formula: float32 product, rounded half to even, clamped."""
    return (frame * 255.0).round().clamp(0.0, 255.0).to(torch.uint8).numpy()


def test_to_uint8_rounds_half_to_even_and_clamps_in_every_layout():
    """Values at and one or two float32 steps around every half level, and noise beyond 0..1, read as a
    contiguous batch, a strided window and a gray frame expanded to RGB (the tensor fallback)."""
    halves = ((np.arange(-3, 260) + 0.5) / 255).astype(np.float32)
    steps = [halves]
    for direction in (2.0, -2.0):
        v = halves
        for _ in range(2):
            v = np.nextafter(v, np.float32(direction))
            steps.append(v)
    noise = np.random.default_rng(3).uniform(-0.2, 1.2, 3 * 500).astype(np.float32)
    values = np.concatenate([*steps, noise])
    values = values[: values.size // 3 * 3].reshape(-1, 3)
    frame = torch.from_numpy(np.ascontiguousarray(np.broadcast_to(values[None], (4, *values.shape))))
    for image in (frame, frame[1:3, 5:-7], torch.from_numpy(values[:, :1]).expand(-1, 3)[None]):
        np.testing.assert_array_equal(to_uint8(image), reference_uint8(image))
