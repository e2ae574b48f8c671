#!/usr/bin/env python3
"""Stand-in for actions/upload-artifact v4: copies the matched files into
$FAKE_GITHUB_ARTIFACTS/<name>/, paths relative to the search paths' least common ancestor as
the real action computes it (see ../README.md)."""

import fcntl
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

INVALID_NAME_CHARS = '"' + ":<>|*?\r\n\\/"
META = ".fake-github"  # ids and staging, beside the artifacts


def fail(message):
    print(f"::error::{message}", flush=True)
    sys.exit(1)


def inp(name):
    return os.environ.get("INPUT_" + name.upper().replace("-", "_"), "").strip()


def flag(name):
    value = inp(name).lower()
    if value not in ("true", "false"):
        fail(f"Input '{name}' must be true or false, got '{inp(name)}'")
    return value == "true"


def env(name):
    value = os.environ.get(name, "")
    if not value:
        fail(f"{name} is not set (the fake-github workflow runner sets it)")
    return value


def segment_regex(segment):
    out, i = "", 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[" and segment.find("]", i + 2) != -1:
            end = segment.find("]", i + 2)
            body = segment[i + 1:end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out += "[" + body.replace("\\", "\\\\") + "]"
            i = end
        else:
            out += re.escape(c)
        i += 1
    return out


def has_glob(segment):
    return any(c in segment for c in "*?[")


class Pattern:
    def __init__(self, line, cwd):
        self.negate = line.startswith("!")
        text = line[1:].strip() if self.negate else line
        if text.startswith("~"):
            text = os.path.expanduser(text)
        absolute = os.path.normpath(os.path.join(cwd, text))
        segments = [s for s in absolute.split("/") if s]
        literal = []
        for s in segments:
            if has_glob(s):
                break
            literal.append(s)
        self.search_path = "/" + "/".join(literal)
        regex = "".join("(?:/[^/]+)*" if s == "**" else "/" + segment_regex(s) for s in segments)
        # A match on a directory includes everything under it (implicit descendants).
        self.regex = re.compile("^" + (regex or "/") + "(?:/.*)?$")

    def matches(self, path):
        return self.regex.match(path) is not None


def walk(root, include_hidden):
    root_path = Path(root)
    if not include_hidden and root_path.name.startswith("."):
        return
    if root_path.is_file():
        yield str(root_path)
        return
    seen = set()  # symbolic links are followed, as the real action does; a cycle is not
    for top, dirs, files in os.walk(root, followlinks=True):
        info = os.stat(top)
        if (info.st_dev, info.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        if not include_hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            files = [f for f in files if not f.startswith(".")]
        for f in files:
            full = os.path.join(top, f)
            if os.path.isfile(full):
                yield full


def least_common_ancestor(paths):
    split = [p.split("/") for p in paths]
    common = []
    for parts in zip(*split):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/".join(common) or "/"


def search(lines, include_hidden):
    cwd = os.getcwd()
    patterns = [Pattern(line, cwd) for line in lines]
    includes = [p for p in patterns if not p.negate]
    excludes = [p for p in patterns if p.negate]
    search_paths = list(dict.fromkeys(p.search_path for p in includes))
    found = []
    for root in search_paths:
        for path in walk(root, include_hidden):
            if any(p.matches(path) for p in includes) and not any(
                    p.matches(path) for p in excludes):
                found.append(path)
    found = list(dict.fromkeys(found))
    if len(search_paths) > 1:
        root = least_common_ancestor(search_paths)
    elif len(found) == 1 and search_paths[0] == found[0]:
        root = os.path.dirname(found[0])
    else:
        root = search_paths[0] if search_paths else cwd
    return found, root


def next_id(meta):
    with open(meta / "ids.lock", "a+", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        last = int(lock.read().strip() or "0")
        lock.seek(0)
        lock.truncate()
        lock.write(str(last + 1))
        return last + 1


def main():
    name = inp("name") or "artifact"
    bad = sorted({c for c in name if c in INVALID_NAME_CHARS})
    if bad or name == META:
        fail(f"The artifact name is not valid: {name}. Contains the following character(s) "
             f"not allowed: {' '.join(repr(c) for c in bad) or META}")
    lines = [line.strip() for line in inp("path").splitlines() if line.strip()]
    if not lines:
        fail("Input required and not supplied: path")
    mode = inp("if-no-files-found").lower() or "warn"
    if mode not in ("warn", "error", "ignore"):
        fail(f"Unrecognized if-no-files-found input. Provided: {mode}. "
             "Available options: warn,error,ignore")
    retention = inp("retention-days")
    if retention and (not re.fullmatch(r"\d+", retention) or not 1 <= int(retention) <= 90):
        fail(f"Invalid retention-days: {retention} (1 to 90)")
    level = inp("compression-level") or "6"
    if not re.fullmatch(r"\d", level):
        fail(f"Invalid compression-level: {level}. Valid values are 0-9")
    overwrite = flag("overwrite")
    include_hidden = flag("include-hidden-files")

    files, root = search(lines, include_hidden)
    if not files:
        message = (f"No files were found with the provided path: {chr(10).join(lines)}. "
                   "No artifacts will be uploaded.")
        if mode == "error":
            fail(message)
        print(f"::warning::{message}" if mode == "warn" else message)
        return
    print(f"With the provided path, there will be {len(files)} file(s) uploaded")

    store = Path(env("FAKE_GITHUB_ARTIFACTS"))
    meta = store / META
    meta.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="upload-", dir=meta))
    try:
        for path in files:
            rel = os.path.relpath(path, root)
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            shutil.copymode(path, target)
        final = store / name
        if overwrite and final.exists():
            old = Path(tempfile.mkdtemp(prefix="old-", dir=meta))
            os.rename(final, old / "artifact")
            shutil.rmtree(old)
            print(f"Artifact '{name}' deleted (overwrite: true)")
        try:
            os.mkdir(final)  # atomic: one of two racing uploads of a name wins
        except FileExistsError:
            fail("Failed to CreateArtifact: Received non-retryable error: Failed request: (409) "
                 "Conflict: an artifact with this name already exists on the workflow run")
        for child in staging.iterdir():
            os.rename(child, final / child.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    artifact_id = next_id(meta)
    server = os.environ.get("GITHUB_SERVER_URL", "").rstrip("/")
    url = (f"{server}/{os.environ.get('GITHUB_REPOSITORY', '')}/actions/runs/"
           f"{os.environ.get('GITHUB_RUN_ID', '')}/artifacts/{artifact_id}")
    print(f"Artifact {name} has been successfully uploaded! Final size is "
          f"{sum(os.path.getsize(f) for f in files)} bytes. Artifact ID is {artifact_id}")
    with open(env("GITHUB_OUTPUT"), "a", encoding="utf-8") as out:
        out.write(f"artifact-id={artifact_id}\nartifact-url={url}\n")


if __name__ == "__main__":
    main()
