#!/usr/bin/env bash
# Installs one mfe-gitops binary (`mfe` or `gitops`) from a release, verified against the checksum
# manifest committed next to this script (release/v<VERSION>/SHA256SUMS at the action's commit),
# so pinning the action by commit sha pins the binary's bytes. Run by action.yml; also runnable by
# hand, by the tests and by scripts/bench-install.
#
# Inputs (environment):
#   INPUT_TOOL         mfe | gitops (required)
#   INPUT_VERSION      e.g. 0.1.0 or v0.1.0; empty: the version in release/LATEST
#   INPUT_RELEASE_URL  the directory holding the archives; empty:
#                      https://github.com/<ACTION_REPOSITORY>/releases/download/v<VERSION>
#   ACTION_PATH        the action's checkout (holding release/); default: this script's parent
#   ACTION_REPOSITORY, ACTION_REF
#                      the action's owner/name and ref (github.action_repository/action_ref);
#                      when empty, read from an Actions checkout path (.../_actions/OWNER/NAME/REF)
#   RUNNER_OS, RUNNER_ARCH
#                      the platform (Linux|macOS, X64|ARM64), as the runner sets them; outside
#                      Actions they default to `uname -s`/`uname -m`. Set them to override the
#                      detection (the tests do, to check an unsupported platform is refused).
#   RUNNER_TOOL_CACHE  the tool cache; outside Actions a new temporary directory is used
#   GITHUB_PATH, GITHUB_ENV, GITHUB_OUTPUT
#                      appended to only when set (the install directory; MFE_GITOPS_ACTION;
#                      the outputs `path` and `version`)
#   MFE_GITOPS_CONNECT_TIMEOUT, MFE_GITOPS_MAX_TIME
#                      curl's connect and total timeouts in seconds (default 10 and 300)
#
# The download is retried (3 times, also when the connection is refused) and bounded in time and
# size. Only after the archive's SHA-256 matches the manifest is it unpacked, into a temporary
# directory inside the tool cache that is renamed into place once the binary has run. On any
# failure the script prints one `::error::` line, exits 1, and leaves nothing installed and
# nothing appended to GITHUB_PATH/GITHUB_ENV. It runs with a scrubbed environment (the variables
# above, PATH, HOME, TMPDIR and proxy settings): no credential reaches it or curl.
#
# Installs into $RUNNER_TOOL_CACHE/mfe-gitops/<tool>/<version>/<target>/ (marker
# <target>.complete holding the archive's SHA-256; a marked directory is reused when the manifest
# names the same archive).
set -euo pipefail

# --- a scrubbed environment ----------------------------------------------------------------------
if [ "${MFE_GITOPS_SCRUBBED:-}" != 1 ]; then
  keep=(MFE_GITOPS_SCRUBBED=1 LC_ALL=C)
  for name in PATH HOME TMPDIR \
    INPUT_TOOL INPUT_VERSION INPUT_RELEASE_URL ACTION_PATH ACTION_REPOSITORY ACTION_REF \
    RUNNER_OS RUNNER_ARCH RUNNER_TOOL_CACHE RUNNER_TEMP GITHUB_PATH GITHUB_ENV GITHUB_OUTPUT \
    MFE_GITOPS_CONNECT_TIMEOUT MFE_GITOPS_MAX_TIME \
    http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY ALL_PROXY all_proxy \
    SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE; do
    if [ -n "${!name+set}" ]; then keep+=("$name=${!name}"); fi
  done
  exec env -i "${keep[@]}" bash "${BASH_SOURCE[0]}" "$@"
fi

umask 022
fail() { # one line, as a GitHub error annotation
  local message=${*//$'\n'/ }
  printf '::error::%s\n' "$message"
  exit 1
}
note() { printf '%s\n' "$*"; }

# --- inputs --------------------------------------------------------------------------------------
action_path=${ACTION_PATH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
[ -d "$action_path" ] || fail "the action's directory $action_path does not exist"

tool=${INPUT_TOOL:-}
case "$tool" in
  mfe | gitops) ;;
  '') fail "input 'tool' is required: mfe or gitops" ;;
  *) fail "unknown tool '$tool': expected mfe or gitops" ;;
esac

version=${INPUT_VERSION:-}
if [ -z "$version" ]; then
  [ -f "$action_path/release/LATEST" ] \
    || fail "no release is recorded at this action's commit (release/LATEST is missing): pin the action at a release commit or set the 'version' input"
  version=$(tr -d ' \t\r\n' <"$action_path/release/LATEST")
fi
version=${version#v}
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$ ]] \
  || fail "invalid version '$version': expected <major>.<minor>.<patch>, e.g. 0.1.0"

# The action's owner/name and ref: as given, else from the runner's checkout path of the action.
repository=${ACTION_REPOSITORY:-}
ref=${ACTION_REF:-}
if [ -z "$repository" ] || [ -z "$ref" ]; then
  ref_dir=$(basename "$action_path")
  name_dir=$(basename "$(dirname "$action_path")")
  owner_dir=$(basename "$(dirname "$(dirname "$action_path")")")
  actions_dir=$(basename "$(dirname "$(dirname "$(dirname "$action_path")")")")
  if [ "$actions_dir" = _actions ]; then
    repository=${repository:-$owner_dir/$name_dir}
    ref=${ref:-$ref_dir}
  fi
fi
if [ -n "$repository" ] && ! [[ "$repository" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]]; then
  fail "invalid action repository '$repository': expected OWNER/NAME"
fi

release_url=${INPUT_RELEASE_URL:-}
if [ -z "$release_url" ]; then
  release_url="https://github.com/${repository:-mfe-gitops/mfe-gitops}/releases/download/v$version"
fi
release_url=${release_url%/}
case "$release_url" in
  http://* | https://*) ;;
  *) fail "invalid release-url '$release_url': expected an http:// or https:// URL" ;;
esac

# --- platform ------------------------------------------------------------------------------------
os=${RUNNER_OS:-}
arch=${RUNNER_ARCH:-}
if [ -z "$os" ]; then
  case "$(uname -s)" in
    Linux) os=Linux ;;
    Darwin) os=macOS ;;
    *) os=$(uname -s) ;;
  esac
fi
if [ -z "$arch" ]; then
  case "$(uname -m)" in
    x86_64 | amd64) arch=X64 ;;
    aarch64 | arm64) arch=ARM64 ;;
    *) arch=$(uname -m) ;;
  esac
fi
case "$os/$arch" in
  Linux/X64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ;;
  macOS/X64) target=x86_64-apple-darwin ;;
  macOS/ARM64) target=aarch64-apple-darwin ;;
  *) fail "unsupported platform $os/$arch: mfe-gitops releases $tool for Linux and macOS on X64 and ARM64" ;;
esac

# --- the checksum this action's commit trusts ---------------------------------------------------
asset="mfe-gitops-$tool-v$version-$target.tar.gz"
manifest="$action_path/release/v$version/SHA256SUMS"
[ -f "$manifest" ] \
  || fail "no checksum manifest for v$version at this action's commit (release/v$version/SHA256SUMS): pin the action at the commit that released v$version"
expected=$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1 }' "$manifest")
[ -n "$expected" ] \
  || fail "release/v$version/SHA256SUMS has no checksum for $asset: v$version does not ship $tool for $target"
[[ "$expected" =~ ^[0-9a-f]{64}$ ]] \
  || fail "release/v$version/SHA256SUMS holds a malformed checksum for $asset"

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    fail "neither sha256sum nor shasum is installed: cannot verify $asset"
  fi
}
command -v curl >/dev/null 2>&1 || fail "curl is not installed: cannot download $asset"
command -v tar >/dev/null 2>&1 || fail "tar is not installed: cannot unpack $asset"

# --- where it goes -------------------------------------------------------------------------------
cleanup=()
on_exit() {
  local path
  for path in ${cleanup[@]+"${cleanup[@]}"}; do
    # Tool-cache directories created by this run are removed only while empty.
    case "$path" in
      rmdir:*) rmdir "${path#rmdir:}" 2>/dev/null || true ;;
      *) rm -rf "$path" ;;
    esac
  done
}
trap on_exit EXIT

if [ -n "${RUNNER_TOOL_CACHE:-}" ]; then
  cache_root=$RUNNER_TOOL_CACHE
else
  cache_root=$(mktemp -d "${TMPDIR:-/tmp}/mfe-gitops-tool-cache.XXXXXX")
  cleanup+=("$cache_root") # kept once the install succeeded (see below)
fi
parent="$cache_root/mfe-gitops/$tool/$version"
dest="$parent/$target"
marker="$dest.complete"

installed_version=
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$expected" ] && [ -x "$dest/$tool" ] \
  && installed_version=$("$dest/$tool" --version 2>&1); then
  note "$tool v$version ($target) is in the tool cache at $dest (archive sha256 $expected)"
else
  work=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/mfe-gitops-install.XXXXXX")
  cleanup+=("$work")
  archive="$work/$asset"
  url="$release_url/$asset"

  # --- download ----------------------------------------------------------------------------------
  note "Downloading $url"
  curl_rc=0
  http_code=$(curl --fail --silent --show-error --location \
    --proto '=http,https' --proto-redir '=https' \
    --connect-timeout "${MFE_GITOPS_CONNECT_TIMEOUT:-10}" --max-time "${MFE_GITOPS_MAX_TIME:-300}" \
    --retry 3 --retry-delay 1 --retry-connrefused --max-filesize 536870912 \
    --output "$archive" --write-out '%{http_code}' "$url" 2>"$work/curl.err") || curl_rc=$?
  if [ "$curl_rc" != 0 ]; then
    reason=$(grep -v '^ *$' "$work/curl.err" | tail -n 1) # the last attempt's message
    case "$curl_rc" in
      22)
        if [ "$http_code" = 404 ]; then
          fail "$asset is missing from the release at $release_url (HTTP 404)"
        fi
        fail "downloading $url failed: HTTP $http_code"
        ;;
      5 | 6 | 7 | 28 | 35 | 52 | 56)
        fail "the release server is unreachable: $url ($reason)" ;;
      63) fail "$url is larger than 512 MiB: refusing it" ;;
      *) fail "downloading $url failed (curl exit $curl_rc: $reason)" ;;
    esac
  fi

  # --- verify --------------------------------------------------------------------------------------
  actual=$(sha256 "$archive")
  if [ "$actual" != "$expected" ]; then
    fail "checksum mismatch for $asset: expected sha256 $expected (release/v$version/SHA256SUMS at this action's commit), got $actual; refusing to install it"
  fi
  note "Verified $asset: sha256 $actual matches release/v$version/SHA256SUMS"

  # --- unpack (only now), run, then move into place -----------------------------------------------
  entries=$(tar -tzf "$archive") || fail "$asset matches its checksum but cannot be listed by tar"
  while IFS= read -r entry; do
    case "$entry" in
      '' | */* | . | ..) fail "$asset holds an unexpected entry '$entry': refusing to unpack it" ;;
    esac
  done <<<"$entries"
  grep -qx "$tool" <<<"$entries" || fail "$asset holds no '$tool' executable at its root"

  # Create the tool-cache directories, remembering the ones to remove again if this run fails.
  dir=$parent
  missing=()
  while [ ! -d "$dir" ]; do
    missing=("$dir" ${missing[@]+"${missing[@]}"})
    dir=$(dirname "$dir")
  done
  mkdir -p "$parent"
  for ((i = ${#missing[@]} - 1; i >= 0; i--)); do cleanup+=("rmdir:${missing[i]}"); done

  stage=$(mktemp -d "$parent/.$target.XXXXXX")
  cleanup=("$stage" "${cleanup[@]}")
  tar -xzf "$archive" -C "$stage" --no-same-owner || fail "$asset matches its checksum but does not unpack"
  [ -f "$stage/$tool" ] || fail "$asset holds no '$tool' executable"
  chmod 755 "$stage/$tool"
  installed_version=$("$stage/$tool" --version 2>&1) \
    || fail "the $tool in $asset does not run on this runner ($os/$arch): $(head -n 1 <<<"$installed_version")"
  chmod 755 "$stage"

  rm -rf "$dest" "$marker"
  mv "$stage" "$dest" || fail "cannot move the verified $tool into $dest"
  printf '%s\n' "$expected" >"$marker" || { rm -rf "$dest"; fail "cannot write $marker"; }
  note "Installed $tool v$version ($target) into $dest"
fi

# --- on PATH, and the pin for re-rendered workflows ----------------------------------------------
pin=
if [ -n "$repository" ] && [ -n "$ref" ]; then
  if [[ "$ref" =~ ^[0-9a-f]{40}$ ]]; then
    pin="$repository@$ref"
  else
    note "::warning::this action runs at '$ref', not a full commit sha: pin it as $repository@<sha> so the binary's bytes are pinned; MFE_GITOPS_ACTION is not set"
  fi
fi
note "$installed_version"
if [ -n "${GITHUB_ENV:-}" ] && [ -n "$pin" ]; then
  printf 'MFE_GITOPS_ACTION=%s\n' "$pin" >>"$GITHUB_ENV"
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  printf 'path=%s\nversion=%s\n' "$dest" "$version" >>"$GITHUB_OUTPUT"
fi
if [ -n "${GITHUB_PATH:-}" ]; then
  printf '%s\n' "$dest" >>"$GITHUB_PATH"
else
  note "Add it to PATH: export PATH=\"$dest:\$PATH\""
fi
# Success: keep a temporary tool cache (outside Actions) and everything installed.
kept=()
for path in ${cleanup[@]+"${cleanup[@]}"}; do
  case "$path" in
    "$cache_root" | rmdir:*) ;;
    *) kept+=("$path") ;;
  esac
done
cleanup=(${kept[@]+"${kept[@]}"})
