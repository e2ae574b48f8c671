#!/usr/bin/env python3
"""Stand-in for pnpm/action-setup v4: npm-installs the pnpm version (input or packageManager)
once into $RUNNER_TOOL_CACHE/pnpm/<version> and puts its bin on $GITHUB_PATH (../README.md)."""

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

NPM_TIMEOUT = 300


def fail(message):
    print(f"::error::{message}", flush=True)
    sys.exit(1)


def inp(name):
    return os.environ.get("INPUT_" + name.upper(), "").strip()


def env(name):
    value = os.environ.get(name, "")
    if not value:
        fail(f"{name} is not set (the fake-github workflow runner sets it)")
    return value


def package_manager_version():
    """pnpm's version from package.json's packageManager, as the real action reads it."""
    path = Path(env("GITHUB_WORKSPACE")) / (inp("package_json_file") or "package.json")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        fail(f"Could not read {path}: {err}")
    manager = manifest.get("packageManager") if isinstance(manifest, dict) else None
    if not isinstance(manager, str) or not manager.startswith("pnpm@"):
        return None
    return manager[len("pnpm@"):].split("+", 1)[0]


def main():
    if inp("run_install").lower() not in ("", "null", "false"):
        fail("Input 'run_install' is not modelled by the fake-github pnpm stand-in "
             "(only null/false: run the install as a step)")
    if inp("standalone").lower() not in ("", "false"):
        fail("Input 'standalone' is not modelled by the fake-github pnpm stand-in")
    if inp("dest") not in ("", "~/setup-pnpm"):
        fail("Input 'dest' is not modelled by the fake-github pnpm stand-in (pnpm goes to "
             "$RUNNER_TOOL_CACHE/pnpm/<version>)")
    version = inp("version")
    from_manifest = package_manager_version()
    if version and from_manifest and version != from_manifest:
        fail(f"Multiple versions of pnpm specified:\n  - version {version} in the GitHub "
             "Action config with the key \"version\"\n  - version pnpm@"
             f"{from_manifest} in the package.json with the key \"packageManager\"\n"
             "Remove one of these versions to avoid version mismatch errors like "
             "ERR_PNPM_BAD_PM_VERSION")
    version = version or from_manifest
    if not version:
        fail("No pnpm version is specified.\nPlease specify it by one of the following ways:\n"
             "  - in the GitHub Action config with the key \"version\"\n"
             "  - in the package.json with the key \"packageManager\"")
    if not re.fullmatch(r"[0-9A-Za-z.^~*+-]+", version) or ".." in version:
        fail(f"pnpm version '{version}' is not modelled by the fake-github pnpm stand-in "
             "(an exact version, MAJOR, x-range, ^ or ~ range, or a dist-tag)")

    cache = Path(env("RUNNER_TOOL_CACHE")) / "pnpm"
    cache.mkdir(parents=True, exist_ok=True)
    dest = cache / version
    bin_dir = dest / "node_modules" / ".bin"
    npm = shutil.which("npm")
    if npm is None:
        fail("npm is not on PATH (the fake-github pnpm stand-in installs pnpm with npm)")
    with open(cache / f".{version}.lock", "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install per version, even across parallel jobs
        if (bin_dir / "pnpm").exists():
            print(f"pnpm {version} found in {dest}")
        else:
            staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=cache))
            try:
                proc = subprocess.run(
                    [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund",
                     "--no-save", "--loglevel=error", f"pnpm@{version}"],
                    capture_output=True, text=True, timeout=NPM_TIMEOUT, check=False)
            except subprocess.TimeoutExpired:
                shutil.rmtree(staging, ignore_errors=True)
                fail(f"npm install pnpm@{version} timed out after {NPM_TIMEOUT}s")
            if proc.returncode != 0 or not (staging / "node_modules/.bin/pnpm").exists():
                shutil.rmtree(staging, ignore_errors=True)
                fail(f"npm install pnpm@{version} failed: {proc.stderr.strip()[-2000:]}")
            if dest.exists():  # an earlier install that did not finish
                shutil.rmtree(dest)
            os.rename(staging, dest)
            print(f"Installed pnpm {version} into {dest}")
    with open(env("GITHUB_PATH"), "a", encoding="utf-8") as out:
        out.write(f"{bin_dir}\n")
    with open(env("GITHUB_ENV"), "a", encoding="utf-8") as out:
        out.write(f"PNPM_HOME={bin_dir}\n")
    with open(env("GITHUB_OUTPUT"), "a", encoding="utf-8") as out:
        out.write(f"dest={dest}\nbin_dest={bin_dir}\n")


if __name__ == "__main__":
    main()
