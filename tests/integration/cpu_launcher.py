"""Start ComfyUI's ``main.py`` on the CPU together with a VRAM-mode flag (``--lowvram``, ``--novram``, ...).

``python cpu_launcher.py /path/to/ComfyUI/main.py [main.py flags]``. ComfyUI's argument parser refuses
``--cpu`` next to those flags; this parses them as ``main.py`` would, sets ``args.cpu``, then runs
``main.py``, which finds its arguments already parsed. On the CPU ComfyUI turns its VRAM modes off (its
``vram_state`` becomes DISABLED): such a server shows the flags are accepted and the workflow runs; what
a partial load does to the pack's models is tested in-process (tests/nodes/test_memory_nodes.py).
"""
import os
import runpy
import sys

if __name__ == "__main__":
    main = os.path.abspath(sys.argv[1])
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(main))
    import comfy.options

    comfy.options.enable_args_parsing()
    from comfy.cli_args import args

    args.cpu = True
    runpy.run_path(main, run_name="__main__")
