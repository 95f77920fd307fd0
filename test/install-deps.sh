#!/usr/bin/env bash
# Installs the system packages buildledger needs and that are missing:
# PostgreSQL 15 server binaries, Nix, the OpenSSH server (builder tests),
# Chromium (browser tests) and git. Debian only, as root; elsewhere it says
# what to install.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1; }
have initdb || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql-15)
have nix-store || missing+=(nix-bin)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
have chromium || missing+=(chromium)
have git || missing+=(git)
have xz || missing+=(xz-utils)

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ] || ! have apt-get; then
	echo "buildledger needs these packages: ${missing[*]}" >&2
	echo "install them with your system's package manager (on Debian, as root: apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's Postgres binaries are not on the PATH; the project finds them in
# /usr/lib/postgresql/*/bin by itself.
