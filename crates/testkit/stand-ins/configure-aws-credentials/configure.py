#!/usr/bin/env python3
"""Stand-in for aws-actions/configure-aws-credentials v4 (OIDC only): the job's ID token,
verified by fake-github, is checked against the role's trust policy read from moto IAM, then
exchanged with moto STS AssumeRoleWithWebIdentity (see ../README.md). Never prints a token or
a key (they are masked before anything could print them)."""

import datetime
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

HTTP_TIMEOUT = 10
ISSUER_HOST = "token.actions.githubusercontent.com"
ACTION = "sts:AssumeRoleWithWebIdentity"
NOT_AUTHORIZED = "Not authorized to perform sts:AssumeRoleWithWebIdentity"


class Refused(Exception):
    """The trust policy or the identity provider refuses the token (AWS's own message)."""


def fail(message):
    print(f"::error::{message}", flush=True)
    sys.exit(1)


def inp(name):
    return os.environ.get("INPUT_" + name.upper().replace("-", "_"), "").strip()


def flag(name):
    value = inp(name).lower()
    if value not in ("", "true", "false"):
        fail(f"Input '{name}' must be true or false, got '{inp(name)}'")
    return value == "true"


def env(name):
    value = os.environ.get(name, "")
    if not value:
        fail(f"{name} is not set (the fake-github workflow runner sets it)")
    return value


def http(request, what):
    """(status, body text); network failures fail the step naming `what`."""
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as err:
        fail(f"{what}: {getattr(err, 'reason', err)}")
    return None  # unreachable


def aws_query(service, params):
    """An AWS Query API call to moto at $AWS_ENDPOINT_URL (dummy SigV4: moto reads only the
    service and region from it)."""
    endpoint = env("AWS_ENDPOINT_URL").rstrip("/") + "/"
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
    request = urllib.request.Request(
        endpoint, data=urllib.parse.urlencode(params).encode(), method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=fakegithub/{day}/us-east-1/"
                             f"{service}/aws4_request, SignedHeaders=host, Signature=0",
        })
    status, body = http(request, f"{service} {params['Action']} at {endpoint} failed")
    try:
        return status, ET.fromstring(body)
    except ET.ParseError:
        fail(f"{service} {params['Action']} answered {status} with a body that is not XML")
    return None  # unreachable


def text(root, tag):
    node = root.find(f".//{{*}}{tag}")
    return node.text if node is not None and node.text is not None else ""


def error_code(root):
    return text(root, "Code")


def id_token(audience):
    url = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL", "")
    bearer = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "")
    if not url:
        fail("getIDToken call failed: Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable")
    request = urllib.request.Request(
        f"{url}&audience={urllib.parse.quote(audience, safe='')}",
        headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"})
    status, body = http(request, "getIDToken call failed")
    if status != 200:
        fail(f"getIDToken call failed: Failed to get ID Token. Error Code : {status}")
    try:
        token = json.loads(body)["value"]
    except (ValueError, KeyError, TypeError):
        fail("getIDToken call failed: Response json body do not have ID Token field")
    if not isinstance(token, str) or not token:
        fail("getIDToken call failed: Response json body do not have ID Token field")
    print(f"::add-mask::{token}", flush=True)
    return token


def verified_claims(token):
    api = env("GITHUB_API_URL").rstrip("/")
    request = urllib.request.Request(
        f"{api}/_fake/oidc/verify", data=json.dumps({"token": token}).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    status, body = http(request, "Could not verify the ID token at fake-github")
    if status == 401:
        raise Refused("InvalidIdentityToken: the ID token's signature or expiry is not valid "
                      "(fake-github refused it)")
    if status != 200:
        fail(f"Could not verify the ID token at fake-github: HTTP {status}")
    try:
        claims = json.loads(body)
    except ValueError:
        fail("fake-github's OIDC verification answered a body that is not JSON")
    if not isinstance(claims, dict):
        fail("fake-github's OIDC verification answered JSON that is not an object")
    return claims


def as_list(value):
    return value if isinstance(value, list) else [value]


def like(pattern, value):
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


CONDITION_OPERATORS = {
    "StringEquals": lambda want, got: want == got,
    "StringLike": like,
    "StringNotEquals": lambda want, got: want != got,
    "StringNotLike": lambda want, got: not like(want, got),
}


def condition_holds(conditions, claims):
    if not isinstance(conditions, dict):
        fail("Trust policy Condition is not an object")
    for operator, keys in conditions.items():
        test = CONDITION_OPERATORS.get(operator)
        if test is None:
            fail(f"Trust policy condition operator {operator} is not modelled by the "
                 "fake-github stand-in (StringEquals, StringLike, StringNotEquals, StringNotLike)")
        if not isinstance(keys, dict):
            fail(f"Trust policy condition {operator} is not an object")
        for key, wanted in keys.items():
            claim = key[len(ISSUER_HOST) + 1:] if key.startswith(ISSUER_HOST + ":") else None
            if claim not in ("sub", "aud"):
                fail(f"Trust policy condition key {key} is not modelled by the fake-github "
                     f"stand-in ({ISSUER_HOST}:sub and :aud)")
            got = claims.get(claim)
            values = [str(v) for v in as_list(wanted)]
            if not isinstance(got, str):
                return False
            negated = operator.startswith("StringNot")
            matched = [test(v, got) for v in values]
            if not (all(matched) if negated else any(matched)):
                return False
    return True


def statement_applies(statement, claims):
    for unmodelled in ("NotAction", "NotPrincipal"):
        if unmodelled in statement:
            fail(f"Trust policy {unmodelled} is not modelled by the fake-github stand-in")
    actions = [str(a).lower() for a in as_list(statement.get("Action", []))]
    if not any(like(a, ACTION.lower()) for a in actions):
        return None
    principal = statement.get("Principal", {})
    federated = as_list(principal.get("Federated", [])) if isinstance(principal, dict) else []
    providers = [p for p in federated if isinstance(p, str)
                 and p.endswith(f":oidc-provider/{ISSUER_HOST}")]
    if not providers or not condition_holds(statement.get("Condition", {}), claims):
        return None
    return providers[0]


def check_trust(role_name, claims, audience):
    status, root = aws_query("iam", {"Action": "GetRole", "RoleName": role_name,
                                     "Version": "2010-05-08"})
    if status != 200:
        if error_code(root) == "NoSuchEntity":
            raise Refused(NOT_AUTHORIZED)
        fail(f"IAM GetRole {role_name} failed: HTTP {status} {error_code(root)}")
    document = urllib.parse.unquote(text(root, "AssumeRolePolicyDocument"))
    try:
        policy = json.loads(document)
    except ValueError:
        fail(f"The trust policy of role {role_name} is not JSON")
    statements = as_list(policy.get("Statement", [])) if isinstance(policy, dict) else []
    allowed = None
    for statement in statements:
        if not isinstance(statement, dict):
            fail(f"The trust policy of role {role_name} has a statement that is not an object")
        provider = statement_applies(statement, claims)
        if provider is None:
            continue
        if statement.get("Effect") == "Deny":
            raise Refused(NOT_AUTHORIZED)
        if statement.get("Effect") == "Allow":
            allowed = allowed or provider
    if allowed is None:
        raise Refused(NOT_AUTHORIZED)
    # AWS checks the token against the identity provider the policy names.
    status, root = aws_query("iam", {"Action": "GetOpenIDConnectProvider",
                                     "OpenIDConnectProviderArn": allowed,
                                     "Version": "2010-05-08"})
    if status != 200:
        raise Refused("InvalidIdentityToken: No OpenIDConnect provider found in your account "
                      f"for https://{ISSUER_HOST}")
    client_ids = [node.text for node in root.iter() if node.tag.endswith("member")]
    if audience not in client_ids or claims.get("aud") != audience:
        raise Refused("InvalidIdentityToken: Incorrect token audience")


def main():
    region = inp("aws-region")
    if not region:
        fail("Input required and not supplied: aws-region")
    if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", region):
        fail(f"Region is not valid: {region}")
    for name in ("aws-access-key-id", "aws-secret-access-key", "aws-session-token",
                 "web-identity-token-file", "inline-session-policy", "managed-session-policies",
                 "role-external-id", "http-proxy"):
        if inp(name):
            fail(f"Input '{name}' is not modelled by the fake-github configure-aws-credentials "
                 "stand-in (only OIDC with role-to-assume)")
    if flag("role-chaining"):
        fail("Input 'role-chaining' is not modelled by the fake-github stand-in")
    role = inp("role-to-assume")
    if not role:
        fail("Input 'role-to-assume' is required by the fake-github configure-aws-credentials "
             "stand-in (only OIDC is modelled)")
    if not os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        # The real action then falls back on the SDK's credential chain, which is empty here.
        print("It looks like you might be trying to authenticate with OIDC. Did you mean to set "
              "the `id-token` permission? If you are not trying to authenticate with OIDC and "
              "the action is working successfully, you can ignore this message.")
        fail("Credentials could not be loaded, please check your action inputs: Could not load "
             "credentials from any providers (no ID token: the job needs `permissions: "
             "id-token: write`)")
    match = re.fullmatch(r"arn:aws:iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]+)", role)
    if match is None:
        fail(f"role-to-assume must be a role ARN (arn:aws:iam::ACCOUNT:role/NAME), got '{role}'")
    role_name = match.group(2)
    session_name = inp("role-session-name") or "GitHubActions"
    if not re.fullmatch(r"[\w+=,.@-]{2,64}", session_name):
        fail(f"role-session-name is not valid: '{session_name}'")
    duration = inp("role-duration-seconds") or "3600"
    if not re.fullmatch(r"\d+", duration) or not 900 <= int(duration) <= 43200:
        fail(f"role-duration-seconds must be a number from 900 to 43200, got '{duration}'")
    audience = inp("audience") or "sts.amazonaws.com"

    token = id_token(audience)
    print(f"Assuming role with OIDC: {role}")
    try:
        claims = verified_claims(token)
        check_trust(role_name, claims, audience)
    except Refused as refused:
        fail(f"Could not assume role with OIDC: {refused}")
    status, root = aws_query("sts", {
        "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": role,
        "RoleSessionName": session_name, "WebIdentityToken": token, "DurationSeconds": duration,
    })
    if status != 200:
        fail(f"Could not assume role with OIDC: {error_code(root)} {text(root, 'Message')}")
    key_id = text(root, "AccessKeyId")
    secret = text(root, "SecretAccessKey")
    session = text(root, "SessionToken")
    if not (key_id and secret and session):
        fail("Could not assume role with OIDC: STS answered without credentials")
    for value in (key_id, secret, session):
        print(f"::add-mask::{value}", flush=True)
    account = match.group(1)
    if flag("mask-aws-account-id"):
        print(f"::add-mask::{account}", flush=True)
    with open(env("GITHUB_ENV"), "a", encoding="utf-8") as out:
        out.write(f"AWS_ACCESS_KEY_ID={key_id}\nAWS_SECRET_ACCESS_KEY={secret}\n"
                  f"AWS_SESSION_TOKEN={session}\nAWS_REGION={region}\n"
                  f"AWS_DEFAULT_REGION={region}\n")
    with open(env("GITHUB_OUTPUT"), "a", encoding="utf-8") as out:
        out.write(f"aws-account-id={account}\n")
        if flag("output-credentials"):
            out.write(f"aws-access-key-id={key_id}\naws-secret-access-key={secret}\n"
                      f"aws-session-token={session}\n")
    print(f"Authenticated as assumedRoleId {text(root, 'AssumedRoleId').split(':')[0]}")


if __name__ == "__main__":
    main()
