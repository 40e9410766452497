"""Start ComfyUI's ``main.py`` on the CPU together with a VRAM-mode flag (``--lowvram``, ``--novram``, ...).

``python cpu_launcher.py /path/to/ComfyUI/main.py [main.py flags]``. ComfyUI's argument parser refuses
``--cpu`` next to those flags; this sets ``args.cpu`` right after ``comfy.cli_args`` has parsed them, so
the server runs on the CPU with the flag given. On the CPU ComfyUI turns its VRAM modes off (its
``vram_state`` becomes DISABLED): such a server shows the flags are accepted and the workflow runs; what
a partial load does to the pack's models is tested in-process (tests/test_memory_nodes.py).
"""
import importlib.abc
import importlib.machinery
import os
import runpy
import sys


class _CpuAfterParse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "comfy.cli_args":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            module.args.cpu = True

        spec.loader.exec_module = exec_module
        return spec


if __name__ == "__main__":
    main = os.path.abspath(sys.argv[1])
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(main))
    sys.meta_path.insert(0, _CpuAfterParse())
    runpy.run_path(main, run_name="__main__")
