#!/usr/bin/env python3
"""Stand-in for actions/create-github-app-token v2: exchanges (app id, private key, owner) for
an installation token at fake-github (`POST $GITHUB_API_URL/_fake/apps/{id}/token`), where a
test registered the App (`POST /_fake/apps`). fake-github compares the private key itself
instead of verifying an RS256 JWT signed with it (see ../README.md). Outputs `token`
(masked first), `installation-id` and `app-slug`; fails as the real action does when `app-id`
or `private-key` is empty. Never prints the key or the token."""

import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

HTTP_TIMEOUT = 10
PERMISSIONS = ("actions", "checks", "contents", "deployments", "issues", "metadata",
               "pull-requests", "statuses")


def fail(message):
    print(f"::error::{message}", flush=True)
    sys.exit(1)


def inp(name):
    return os.environ.get("INPUT_" + name.upper().replace("-", "_"), "").strip()


def main():
    repository = os.environ.get("GITHUB_REPOSITORY", "")
    if not repository:
        fail("GITHUB_REPOSITORY missing, must be set to '<owner>/<repo>'")
    if not os.environ.get("GITHUB_REPOSITORY_OWNER", repository.split("/")[0]):
        fail("GITHUB_REPOSITORY_OWNER missing, must be set to '<owner>'")
    app_id = inp("app-id")
    # The real action accepts a key whose line breaks were stored as `\n`.
    private_key = inp("private-key").replace("\\n", "\n")
    if not app_id:
        fail("[@octokit/auth-app] appId option is required")
    if not private_key:
        fail("[@octokit/auth-app] privateKey option is required")
    if inp("skip-token-revoke").lower() not in ("", "true", "false"):
        fail("Input does not meet YAML 1.2 \"Core Schema\" specification: skip-token-revoke")
    owner = inp("owner")
    repositories = [r.strip() for r in re.split(r"[\n,]+", inp("repositories")) if r.strip()]
    if not owner and not repositories:
        owner, repositories = repository.split("/", 1)[0], [repository.split("/", 1)[1]]
        print(f"Inputs 'owner' and 'repositories' are not set. Creating token for this "
              f"repository ({repository}).")
    elif owner and not repositories:
        print(f"Input 'repositories' is not set. Creating token for all repositories owned "
              f"by {owner}.")
    elif not owner:
        owner = os.environ.get("GITHUB_REPOSITORY_OWNER") or repository.split("/")[0]
    permissions = {}
    for name in PERMISSIONS:
        level = inp(f"permission-{name}")
        if level:
            if level not in ("read", "write"):
                fail(f"permission-{name} must be read or write, got '{level}'")
            permissions[name.replace("-", "_")] = level
    api = (inp("github-api-url") or os.environ.get("GITHUB_API_URL", "")).rstrip("/")
    if not api:
        fail("github-api-url is empty and GITHUB_API_URL is not set")
    body = {"private_key": private_key, "owner": owner}
    if repositories:
        body["repositories"] = repositories
    if permissions:
        body["permissions"] = permissions
    request = urllib.request.Request(
        f"{api}/_fake/apps/{urllib.parse.quote(app_id, safe='')}/token",
        data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as resp:
            status, text = resp.status, resp.read(1 << 20).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read(1 << 20).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as err:
        fail(f"Failed to create token for \"{owner}\": {getattr(err, 'reason', err)}")
    try:
        answer = json.loads(text)
    except ValueError:
        answer = {}
    if status != 201 or not isinstance(answer, dict) or not answer.get("token"):
        message = answer.get("message") if isinstance(answer, dict) else None
        fail(f"Failed to create token for \"{owner}\": HTTP {status}: {message or 'no token'}")
    token = answer["token"]
    print(f"::add-mask::{token}", flush=True)
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"token={token}\ninstallation-id={answer.get('installation_id', '')}\n"
                  f"app-slug={answer.get('app_slug', '')}\n")
    print(f"Created an installation token for {answer.get('app_slug', '')}[bot] on {owner} "
          f"(expires {answer.get('expires_at', '')})")


if __name__ == "__main__":
    main()
