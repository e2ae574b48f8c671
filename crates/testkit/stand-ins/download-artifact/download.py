#!/usr/bin/env python3
"""Stand-in for actions/download-artifact v4: copies artifacts of this workflow run back from
$FAKE_GITHUB_ARTIFACTS/<name>/ (see ../README.md)."""

import fnmatch
import os
import shutil
import sys
from pathlib import Path

META = ".fake-github"


def fail(message):
    print(f"::error::{message}", flush=True)
    sys.exit(1)


def inp(name):
    return os.environ.get("INPUT_" + name.upper().replace("-", "_"), "").strip()


def env(name):
    value = os.environ.get(name, "")
    if not value:
        fail(f"{name} is not set (the fake-github workflow runner sets it)")
    return value


def copy_tree(source, dest):
    for top, _dirs, files in os.walk(source):
        rel = os.path.relpath(top, source)
        target_dir = dest if rel == "." else dest / rel
        target_dir.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(os.path.join(top, f), target_dir / f)
            shutil.copymode(os.path.join(top, f), target_dir / f)


def main():
    name = inp("name")
    pattern = inp("pattern")
    merge = inp("merge-multiple").lower() or "false"
    if merge not in ("true", "false"):
        fail(f"Input 'merge-multiple' must be true or false, got '{inp('merge-multiple')}'")
    repository = inp("repository") or os.environ.get("RUN_REPOSITORY", "")
    run_id = inp("run-id") or os.environ.get("RUN_ID", "")
    if inp("github-token") or repository != os.environ.get("RUN_REPOSITORY", "") or \
            run_id != os.environ.get("RUN_ID", ""):
        fail("Downloading another workflow run's artifacts (github-token, repository, run-id) "
             "is not modelled by the fake-github download-artifact stand-in")
    workspace = Path(env("GITHUB_WORKSPACE"))
    path_input = inp("path")
    dest = (workspace / os.path.expanduser(path_input)).resolve() if path_input else workspace
    store = Path(env("FAKE_GITHUB_ARTIFACTS"))
    existing = sorted(p.name for p in store.iterdir() if p.is_dir() and p.name != META) \
        if store.is_dir() else []

    if name:
        if pattern:
            print("::warning::'name' and 'pattern' are both given: 'pattern' is ignored")
        if name not in existing:
            fail(f"Unable to download artifact(s): Artifact not found for name: {name}\n"
                 "        Please ensure that your artifact is not expired and the artifact was "
                 "uploaded using a compatible version of toolkit/upload-artifact.")
        copy_tree(store / name, dest)
        print(f"Artifact download completed successfully: {name} -> {dest}")
    else:
        chosen = [a for a in existing if not pattern or fnmatch.fnmatchcase(a, pattern)]
        for artifact in chosen:
            copy_tree(store / artifact, dest if merge == "true" else dest / artifact)
        print(f"Total of {len(chosen)} artifact(s) downloaded to {dest}")
    with open(env("GITHUB_OUTPUT"), "a", encoding="utf-8") as out:
        out.write(f"download-path={dest}\n")


if __name__ == "__main__":
    main()
