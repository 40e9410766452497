"""Pack installer, run by ComfyUI-Manager after ``pip install -r requirements.txt``.

mediapipe 0.10.21 is the last release that bundles the offline face-mesh
model. Its metadata pins numpy<2 and pulls jax, neither of which it needs for
face mesh, so it is installed without its dependencies; the ones it does need
are in requirements.txt.
"""
import importlib.util
import subprocess
import sys

MEDIAPIPE = "mediapipe==0.10.21"


def main() -> int:
    if importlib.util.find_spec("mediapipe") is not None:
        return 0
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", MEDIAPIPE]
    print("comfyui-latentsync: " + " ".join(cmd[2:]), flush=True)
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
