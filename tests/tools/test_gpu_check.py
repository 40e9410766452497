"""bench/gpu_check.py keeps running: its --tiny configuration on the CPU prints every figure."""
import os
import sys

from repo_paths import ROOT

BENCH = os.path.join(ROOT, "bench")


def test_gpu_check_tiny_runs_on_cpu(capsys):
    sys.path.insert(0, BENCH)
    try:
        import gpu_check
    finally:
        sys.path.remove(BENCH)
    gpu_check.main(["--tiny", "--device", "cpu"])
    out = capsys.readouterr().out
    for dtype in ("float32", "float16", "bfloat16"):
        for deep_cache in ("off", "on "):
            assert f"tiny@64 {dtype:8s} deepcache={deep_cache}" in out
    assert out.count("s per output second, peak VRAM n/a") == 6
    assert out.count("max |diff| vs fp32") == 2
    assert "GFPGAN-tiny float32" in out and out.count("ms per 64 px face") == 1
