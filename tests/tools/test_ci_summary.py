""".ci/summary.py: the closing line over both pytest runs, and what fails CI (a skipped ComfyUI test, a run without tests)."""
from __future__ import annotations

import importlib.util
import os

import pytest

from repo_paths import ROOT

_spec = importlib.util.spec_from_file_location("ci_summary", os.path.join(ROOT, ".ci", "summary.py"))
summary = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(summary)


def junit(path, tests: int, failures: int = 0, skipped: int = 0) -> None:
    cases = "".join(f'<testcase classname="t" name="s{i}"><skipped message="why {i}"/></testcase>' for i in range(skipped))
    path.write_text(f'<testsuites><testsuite name="pytest" errors="0" failures="{failures}" skipped="{skipped}" '
                    f'tests="{tests}">{cases}</testsuite></testsuites>')


@pytest.mark.parametrize(
    "main, comfyui, code, line",
    [
        ((10, 0, 1), (5, 0, 0), 0, "total: 14 passed, 0 failed, 1 skipped"),
        ((10, 1, 0), (5, 0, 0), 1, "total: 14 passed, 1 failed, 0 skipped"),
        ((10, 0, 0), (5, 0, 1), 1, "total: 14 passed, 0 failed, 1 skipped"),  # a ComfyUI test skipped
        ((10, 0, 0), (0, 0, 0), 1, "total: 10 passed, 0 failed, 0 skipped"),  # pytest exit 5: no test
        ((10, 0, 0), None, 1, "total: 10 passed, 0 failed, 0 skipped"),  # the run left no report
    ],
)
def test_closing_line_and_verdict(tmp_path, capsys, main, comfyui, code, line):
    junit(tmp_path / "main.xml", *main)
    if comfyui is not None:
        junit(tmp_path / "comfyui.xml", *comfyui)
    assert summary.main(str(tmp_path), ["main", "comfyui"]) == code
    out, err = capsys.readouterr()
    assert out.splitlines() == [line]
    if comfyui and comfyui[2]:
        assert "must run" in err and "t::s0: why 0" in err
