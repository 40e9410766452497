"""Sums the JUnit reports of .ci/run's pytest runs into one closing line; fails when a ComfyUI test was skipped.

    python .ci/summary.py REPORT_DIR RUN...

REPORT_DIR holds ``<run>.xml`` for each RUN named (``main``, and ``comfyui`` when a ComfyUI
checkout was there). Prints ``total: N passed, N failed, N skipped`` and exits 1 when any test failed, a
run is missing its report or ran no test, or the ``comfyui`` run skipped one (those tests must run).
"""
from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET


def counts(path: str) -> dict[str, int]:
    """tests, failures (failures + errors) and skipped of one JUnit file, summed over its suites."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = {"tests": 0, "failed": 0, "skipped": 0}
    for suite in suites:
        total["tests"] += int(suite.get("tests", 0))
        total["failed"] += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        total["skipped"] += int(suite.get("skipped", 0))
    return total


def skipped_tests(path: str) -> list[str]:
    """``classname::name: reason`` of each skipped test case."""
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        skip = case.find("skipped")
        if skip is not None:
            out.append(f"{case.get('classname')}::{case.get('name')}: {skip.get('message', '')}")
    return out


def main(report_dir: str, runs: list[str]) -> int:
    ok = True
    total = {"tests": 0, "failed": 0, "skipped": 0}
    for name in (run + ".xml" for run in runs):
        path = os.path.join(report_dir, name)
        try:
            run = counts(path)
        except (ET.ParseError, OSError) as exc:
            print(f"ci: no readable report of the {name[:-4]} run: {exc}", file=sys.stderr)
            ok = False
            continue
        for key in total:
            total[key] += run[key]
        if run["tests"] - run["skipped"] == 0:
            print(f"ci: the {name[:-4]} run executed no test", file=sys.stderr)
            ok = False
        if name == "comfyui.xml" and run["skipped"]:
            print(f"ci: {run['skipped']} ComfyUI test(s) skipped; with a ComfyUI checkout they must run:", file=sys.stderr)
            for line in skipped_tests(path):
                print(f"  {line}", file=sys.stderr)
            ok = False
    passed = total["tests"] - total["failed"] - total["skipped"]
    print(f"total: {passed} passed, {total['failed']} failed, {total['skipped']} skipped")
    return 0 if ok and total["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
