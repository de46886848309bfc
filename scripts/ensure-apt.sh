#!/usr/bin/env bash
# Make sure Debian packages are installed: `scripts/ensure-apt.sh PACKAGE[:COMMAND[,COMMAND...]]...`
#
# A package counts as present when every one of its commands is on PATH (the command
# defaults to the package's name): `prometheus` checks `prometheus`,
# `prometheus:prometheus,promtool` checks both, `redis-server:redis-cli` checks redis-cli.
# Missing packages are installed with one `apt-get update` and one non-interactive
# `apt-get install -y -qq`: as root, else through sudo (password-less, or asking for the
# password on a terminal). Quiet when there is nothing to do; idempotent; exits non-zero
# with a message naming the package, and the command to install it by hand, when it cannot
# be had (no apt-get, no root and no sudo, not in the archive, install failed, or its
# command still missing afterwards).
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 PACKAGE[:COMMAND[,COMMAND...]]..." >&2
  exit 2
fi

has_commands() { # "cmd1,cmd2"
  local cmd
  IFS=',' read -r -a cmds <<<"$1"
  for cmd in "${cmds[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || return 1
  done
}

missing=()
declare -A commands_of=()
for spec in "$@"; do
  package="${spec%%:*}"
  commands="${spec#*:}"
  [ "$spec" = "$package" ] && commands="$package"
  if [ -z "$package" ] || [ -z "$commands" ]; then
    echo "ensure-apt: bad argument '$spec' (PACKAGE[:COMMAND[,COMMAND...]])" >&2
    exit 2
  fi
  commands_of["$package"]="$commands"
  has_commands "$commands" || missing+=("$package")
done

[ "${#missing[@]}" -eq 0 ] && exit 0

fail() {
  echo "ensure-apt: cannot install ${missing[*]}: $1" >&2
  exit 1
}

command -v apt-get >/dev/null 2>&1 ||
  fail "apt-get is not available (not a Debian-like system): install them with your package manager"
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif ! command -v sudo >/dev/null 2>&1; then
  fail "installing needs root and there is no sudo: as root, run apt-get install -y ${missing[*]}"
elif sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
elif [ -t 0 ]; then
  echo "ensure-apt: installing ${missing[*]} needs root: sudo asks for your password" >&2
  SUDO=(sudo)
else
  fail "installing needs root (sudo asks for a password, and there is no terminal): run sudo apt-get install -y ${missing[*]}"
fi

# Another apt-get (a parallel test, unattended upgrades) may hold the locks: wait for it.
APT=(apt-get -o DPkg::Lock::Timeout=300)
log="$(mktemp -t ensure-apt.XXXXXX)"
trap 'rm -f "$log"' EXIT

echo "ensure-apt: installing ${missing[*]} with apt-get" >&2
if ! "${SUDO[@]}" "${APT[@]}" update -qq >"$log" 2>&1; then
  cat "$log" >&2
  fail "apt-get update failed"
fi
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  fail "apt-get install failed (is the package in the configured archives?)"
fi

for package in "${missing[@]}"; do
  has_commands "${commands_of[$package]}" ||
    fail "$package installed but '${commands_of[$package]}' is still not on PATH"
done
