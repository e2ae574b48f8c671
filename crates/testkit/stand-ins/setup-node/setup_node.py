#!/usr/bin/env python3
"""Stand-in for actions/setup-node v5: checks that the machine's node satisfies node-version
and writes the registry .npmrc; never downloads node, never touches a cache (../README.md)."""

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path


def fail(message):
    print(f"::error::{message}", flush=True)
    sys.exit(1)


def inp(name):
    return os.environ.get("INPUT_" + name.upper().replace("-", "_"), "").strip()


def machine_node():
    node = shutil.which("node")
    if node is None:
        fail("The fake-github setup-node stand-in uses the machine's node, and none is on PATH")
    try:
        proc = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=20,
                              check=True)
    except (subprocess.SubprocessError, OSError) as err:
        fail(f"{node} --version failed: {err}")
    return node, proc.stdout.strip()


def satisfies(spec, version):
    """20, 20.x, 20.11, 20.11.1, v20, 20.x.x: the given components must equal the machine's."""
    spec_text = spec[1:] if spec[:1] in ("v", "V") else spec
    if not re.fullmatch(r"\d+(\.(\d+|[xX*])){0,2}", spec_text):
        fail(f"node-version '{spec}' is not modelled by the fake-github setup-node stand-in "
             "(use MAJOR, MAJOR.x, MAJOR.MINOR or MAJOR.MINOR.PATCH)")
    have = version.lstrip("v").split(".")
    for want, got in zip(spec_text.split("."), have):
        if want not in ("x", "X", "*") and int(want) != int(got):
            return False
    return True


def auto_cache_applies():
    """setup-node v5 caches npm by itself when package.json's packageManager names npm."""
    package_json = Path(os.environ.get("GITHUB_WORKSPACE", ".")) / "package.json"
    try:
        manifest = json.loads(package_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    manager = manifest.get("packageManager") if isinstance(manifest, dict) else None
    dev = manifest.get("devEngines", {}) if isinstance(manifest, dict) else {}
    dev_manager = dev.get("packageManager", {}) if isinstance(dev, dict) else {}
    return (isinstance(manager, str) and manager.startswith("npm@")) or (
        isinstance(dev_manager, dict) and dev_manager.get("name") == "npm")


def write_npmrc(registry):
    if not registry.endswith("/"):
        registry += "/"
    scope = inp("scope")
    if not scope and "npm.pkg.github.com" in registry:
        scope = os.environ.get("REPOSITORY_OWNER", "")
    if scope and not scope.startswith("@"):
        scope = "@" + scope
    prefix = scope.lower() + ":" if scope else ""
    always_auth = inp("always-auth") or "false"
    npmrc = Path(os.environ.get("RUNNER_TEMP") or os.getcwd()) / ".npmrc"
    auth = re.sub(r"^\w+:", "", registry) + ":_authToken=${NODE_AUTH_TOKEN}"
    npmrc.write_text(f"{auth}\n{prefix}registry={registry}\nalways-auth={always_auth}\n",
                     encoding="utf-8")
    with open(os.environ["GITHUB_ENV"], "a", encoding="utf-8") as out:
        out.write(f"NPM_CONFIG_USERCONFIG={npmrc}\n")
        out.write(f"NODE_AUTH_TOKEN={os.environ.get('NODE_AUTH_TOKEN') or 'XXXXX-XXXXX-XXXXX-XXXXX'}\n")


def main():
    for name in ("node-version-file", "cache", "cache-dependency-path", "mirror",
                 "mirror-token"):
        if inp(name):
            fail(f"Input '{name}' is not modelled by the fake-github setup-node stand-in "
                 "(it never downloads node and never touches a cache)")
    if inp("check-latest").lower() not in ("", "false"):
        fail("Input 'check-latest' is not modelled by the fake-github setup-node stand-in")
    pm_cache = inp("package-manager-cache").lower() or "true"
    if pm_cache not in ("true", "false"):
        fail(f"Input 'package-manager-cache' must be true or false, got '{pm_cache}'")
    if pm_cache == "true" and auto_cache_applies():
        fail("package-manager-cache: true would cache npm dependencies here (packageManager "
             "npm in package.json); caches are not modelled by the fake-github stand-in")
    arch = inp("architecture")
    machine_arch = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    if arch and arch != machine_arch:
        fail(f"architecture '{arch}' is not the machine's ({machine_arch}); the fake-github "
             "setup-node stand-in only uses the machine's node")

    node, version = machine_node()
    spec = inp("node-version")
    if spec and not satisfies(spec, version):
        fail(f"node-version '{spec}' was requested but this machine's node ({node}) is "
             f"{version}; the fake-github setup-node stand-in never downloads node")
    if not spec:
        print("::warning::Neither node-version nor node-version-file is given; "
              f"using the machine's node {version}")
    print(f"Found in cache @ {os.path.dirname(node)} (the machine's node {version})")
    registry = inp("registry-url")
    if registry:
        write_npmrc(registry)
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"node-version={version}\ncache-hit=false\n")


if __name__ == "__main__":
    main()
