#!/usr/bin/env python
"""Dry check of .github/workflows/book.yml: run its build job's ``run:`` steps here.

    python scripts/workflow_dry_run.py            # runs the steps (e.g. `make book`) in the repo
    python scripts/workflow_dry_run.py --list     # only prints them

The ``uses:`` steps (checkout, setup-python, cache, the Pages actions) are GitHub's and are
listed, not run; the ``run:`` steps are the same shell commands, with the job's ``env``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "book.yml"


def load_workflow(path: Path = WORKFLOW) -> dict:
    """The workflow as a dict (YAML's bare ``on`` key read back as the string "on")."""
    wf = yaml.safe_load(path.read_text())
    if True in wf:          # YAML 1.1 reads the key `on` as the boolean True
        wf["on"] = wf.pop(True)
    return wf


def build_steps(wf: dict, job: str = "build") -> list[dict]:
    """The steps of ``job``, each {"name", "uses"} or {"name", "run"}."""
    try:
        return wf["jobs"][job]["steps"]
    except KeyError:
        raise SystemExit(f"{WORKFLOW}: no job {job!r} with steps; the dry run reads jobs.{job}.steps")


def run_commands(wf: dict, job: str = "build") -> list[str]:
    """The shell commands of the job's ``run:`` steps, in order."""
    return [s["run"].strip() for s in build_steps(wf, job) if "run" in s]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", action="store_true", help="print the steps, run nothing")
    args = p.parse_args(argv)
    wf = load_workflow()
    env = dict(os.environ, **{k: str(v) for k, v in wf["jobs"]["build"].get("env", {}).items()})
    for step in build_steps(wf):
        if "uses" in step:
            print(f"(GitHub action, not run here) {step['uses']}")
            continue
        print(f"$ {step['run'].strip()}", flush=True)
        if not args.list:
            result = subprocess.run(step["run"], shell=True, cwd=REPO, env=env)
            if result.returncode != 0:
                print(f"FAILED: step {step.get('name', step['run'])!r} (exit {result.returncode})",
                      file=sys.stderr)
                return result.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
