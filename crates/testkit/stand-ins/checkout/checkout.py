#!/usr/bin/env python3
"""Stand-in for actions/checkout v4: fills $GITHUB_WORKSPACE/<path> from fake-github's bare
repository the way the real action leaves it (see ../README.md)."""

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

GIT_TIMEOUT = 60


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


def git(*args, cwd=None, check=True):
    cmd = ["git", *args]
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except subprocess.TimeoutExpired:
        fail(f"git {args[0]} timed out after {GIT_TIMEOUT}s")
    if check and proc.returncode != 0:
        fail(f"git {args[0]} failed: {proc.stderr.strip()}")
    return proc


def refuse_unmodelled():
    for name in ("ssh-key", "ssh-known-hosts", "filter", "sparse-checkout"):
        if inp(name):
            fail(f"Input '{name}' is not modelled by the fake-github checkout stand-in")
    if inp("lfs").lower() not in ("", "false"):
        fail("Input 'lfs' is not modelled by the fake-github checkout stand-in (only false)")
    if inp("submodules").lower() not in ("", "false"):
        fail("Input 'submodules' is not modelled by the fake-github checkout stand-in (only false)")


def resolve(bare, repository, ref_input):
    """(ref, commit) as the real action settles them: ref may be '' for a bare sha."""
    workflow_repo = env("GITHUB_REPOSITORY")
    if not ref_input:
        if repository.lower() == workflow_repo.lower():
            return env("GITHUB_REF"), env("GITHUB_SHA")
        head = git("--git-dir", bare, "symbolic-ref", "HEAD", check=False)
        if head.returncode != 0:
            fail(f"Repository {repository} has no default branch")
        ref = head.stdout.strip()
    elif re.fullmatch(r"[0-9a-fA-F]{40}", ref_input):
        return "", ref_input.lower()
    elif ref_input.startswith("refs/"):
        ref = ref_input
    else:
        ref = None
        for candidate in (f"refs/heads/{ref_input}", f"refs/tags/{ref_input}"):
            if git("--git-dir", bare, "show-ref", "--verify", "--quiet", candidate,
                   check=False).returncode == 0:
                ref = candidate
                break
        if ref is None:
            fail(f"A branch or tag with the name '{ref_input}' could not be found")
    found = git("--git-dir", bare, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}",
                check=False)
    if found.returncode != 0:
        fail(f"A branch or tag with the name '{ref}' could not be found in {repository}")
    return ref, found.stdout.strip()


def refspecs(ref, commit, depth):
    if depth == 0:
        specs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
        if ref.startswith("refs/pull/"):
            specs.append(f"+{commit}:refs/remotes/pull/{ref[len('refs/pull/'):]}")
        return specs
    if not ref:
        return [commit]
    if ref.startswith("refs/heads/"):
        return [f"+{commit}:refs/remotes/origin/{ref[len('refs/heads/'):]}"]
    if ref.startswith("refs/pull/"):
        return [f"+{commit}:refs/remotes/pull/{ref[len('refs/pull/'):]}"]
    return [f"+{commit}:{ref}"]


def main():
    refuse_unmodelled()
    repository = inp("repository") or env("GITHUB_REPOSITORY")
    parts = repository.split("/")
    if len(parts) != 2 or not all(parts):
        fail(f"Invalid repository '{repository}'. Expected format {{owner}}/{{repo}}.")
    owner, name = parts
    bare = Path(env("FAKE_GITHUB_GIT_DIR")) / owner.lower() / f"{name.lower()}.git"
    if not bare.is_dir():
        fail(f"Repository not found: {repository} (no {bare})")
    depth_text = inp("fetch-depth") or "1"
    if not re.fullmatch(r"\d+", depth_text):
        fail(f"Input 'fetch-depth' must be a number >= 0, got '{depth_text}'")
    depth = int(depth_text)
    fetch_tags = flag("fetch-tags")
    clean = flag("clean")
    persist = flag("persist-credentials")

    workspace = Path(env("GITHUB_WORKSPACE")).resolve()
    dest = (workspace / inp("path")).resolve()
    if dest != workspace and workspace not in dest.parents:
        fail(f"Repository path '{dest}' is not under '{workspace}'")
    ref, commit = resolve(str(bare), repository, inp("ref"))
    if git("--git-dir", str(bare), "cat-file", "-e", f"{commit}^{{commit}}",
           check=False).returncode != 0:
        fail(f"The commit {commit} does not exist in {repository}")

    print(f"Syncing repository: {repository}")
    if dest.exists() and any(dest.iterdir()):
        if not clean:
            fail(f"'{dest}' is not empty and clean is false: not modelled by the stand-in")
        for child in dest.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    cwd = str(dest)
    server = (inp("github-server-url") or env("GITHUB_SERVER_URL")).rstrip("/")
    git("-c", "init.defaultBranch=master", "init", "-q", cwd)
    git("config", "--local", "gc.auto", "0", cwd=cwd)
    git("remote", "add", "origin", f"{server}/{owner}/{name}", cwd=cwd)

    # The bare repository is only the transport: the refspecs name origin's refs.
    fetch = ["-c", "protocol.version=2", "fetch", "--prune", "--no-recurse-submodules",
             "--quiet"]
    if depth > 0:
        fetch.append(f"--depth={depth}")
    if not fetch_tags or depth == 0:
        fetch.append("--no-tags")
    git(*fetch, f"file://{bare}", *refspecs(ref, commit, depth), cwd=cwd)
    if depth == 0 and ref.startswith("refs/heads/"):
        # As the real action: with all history fetched the branch may have moved past the
        # event's commit (a push since); then fetch again with the targeted refspec.
        moved = git("rev-parse", "--verify", "--quiet",
                    f"refs/remotes/origin/{ref[len('refs/heads/'):]}", cwd=cwd, check=False)
        if moved.stdout.strip() != commit:
            git(*fetch, f"file://{bare}", *refspecs(ref, commit, 1)[:1], cwd=cwd)

    checkout = ["-c", "branch.autoSetupMerge=true", "-c", "advice.detachedHead=false",
                "checkout", "--quiet", "--force"]
    if ref.startswith("refs/heads/"):
        branch = ref[len("refs/heads/"):]
        git(*checkout, "-B", branch, f"refs/remotes/origin/{branch}", cwd=cwd)
    elif ref.startswith("refs/pull/"):
        git(*checkout, f"refs/remotes/pull/{ref[len('refs/pull/'):]}", cwd=cwd)
    elif ref:
        git(*checkout, ref, cwd=cwd)
    else:
        git(*checkout, commit, cwd=cwd)
    head = git("rev-parse", "HEAD", cwd=cwd).stdout.strip()
    if head != commit:
        fail(f"Checked out {head}, expected {commit} (the ref moved?)")

    token = inp("token")
    if persist and token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        git("config", "--local", f"http.{server}/.extraheader", f"AUTHORIZATION: basic {basic}",
            cwd=cwd)
    print(f"Checked out {ref or commit} at {commit} into {dest}")
    with open(env("GITHUB_OUTPUT"), "a", encoding="utf-8") as out:
        out.write(f"ref={ref or commit}\ncommit={commit}\n")


if __name__ == "__main__":
    main()
