"""Video and audio I/O (PyAV, in-process) and frame-array helpers."""
