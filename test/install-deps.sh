#!/usr/bin/env bash
# Installs what buildledger needs and is missing: PostgreSQL 15 server
# binaries, Nix, a static busybox (the shell the demo and the test builds
# run in, inside Nix's sandbox), the OpenSSH server (builder tests),
# Chromium (browser tests), and git, Mercurial, Subversion, Darcs and curl
# (what fetches a jobset's inputs), and Debian's python3-aiosmtpd (the
# SMTP server the e-mail notifier's tests send to). Then, when run as root, it makes a
# root install of Nix usable as Nix's own installer does (Debian's nix-bin
# comes without the build users that Nix, run as root, builds as), and
# creates the unprivileged users buildledger-eval, whom a buildledger run
# as root evaluates jobsets as, and buildledger-run, whom it runs
# RunCommand commands as.
# Debian only, as root; elsewhere it says what to install. Running it
# again changes nothing, and it never writes /etc/nix/nix.conf.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

# static_busybox succeeds when the busybox the Nix expressions import
# (test/fixtures/hello/busybox.nix: /usr/bin, else /bin) is statically
# linked: inside the sandbox there is no library to load.
static_busybox() {
	local bb=/usr/bin/busybox
	[ -e "$bb" ] || bb=/bin/busybox
	[ -x "$bb" ] && ! LC_ALL=C ldd "$bb" >/dev/null 2>&1
}

missing=()
have initdb || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql-15)
have nix-store || missing+=(nix-bin)
static_busybox || missing+=(busybox-static)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
have chromium || missing+=(chromium)
have git || missing+=(git)
have hg || missing+=(mercurial)
have svn && have svnadmin || missing+=(subversion)
have darcs || missing+=(darcs)
have curl || missing+=(curl)
have xz || missing+=(xz-utils)
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || missing+=(python3-aiosmtpd)

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ] || ! have apt-get; then
		echo "buildledger needs these packages: ${missing[*]}" >&2
		echo "install them with your system's package manager (on Debian, as root: apt-get install ${missing[*]})" >&2
		exit 1
	fi
	echo "installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# --no-remove: busybox-static conflicts with a dynamic busybox; rather
	# than let apt remove it (and what depends on it), stop and say so.
	if ! apt-get install -y -qq --no-install-recommends --no-remove "${missing[@]}" >/dev/null; then
		echo "apt-get could not install ${missing[*]} without removing packages; install them by hand" >&2
		exit 1
	fi
fi
# Debian's Postgres binaries are not on the PATH; the project finds them in
# /usr/lib/postgresql/*/bin by itself.

[ "$(id -u)" = 0 ] || exit 0
nologin=$(command -v nologin || echo /usr/sbin/nologin)

# A jobset is code its authors control: buildledger run as root evaluates
# it, and fetches its remote inputs, as this user (--eval-user).
if ! getent passwd buildledger-eval >/dev/null; then
	echo "creating the user buildledger-eval, whom evaluations run as" >&2
	useradd --system --user-group --no-create-home --home-dir /homeless-shelter \
		--shell "$nologin" --comment "buildledger evaluation" buildledger-eval
fi

# Hydra's RunCommand runs hydra.conf's commands and a jobset's
# runCommandHook.* executables: buildledger run as root runs them as this
# user (--runcommand-user), who owns nothing of the server's.
if ! getent passwd buildledger-run >/dev/null; then
	echo "creating the user buildledger-run, whom RunCommand commands run as" >&2
	useradd --system --user-group --no-create-home --home-dir /homeless-shelter \
		--shell "$nologin" --comment "buildledger RunCommand" buildledger-run
fi

# Nix run as root builds as the members of its build-users-group: nixbld
# unless nix.conf says otherwise, and "" means it builds as root itself.
# Create that group and its users only when it is the default one and
# missing, as Nix's installer does (32 users, one per concurrent build).
if ! config=$(nix --extra-experimental-features nix-command show-config); then
	echo "nix show-config failed: Nix is not usable" >&2
	exit 1
fi
group=$(sed -n 's/^build-users-group = //p' <<<"$config")
if [ -z "$group" ] || getent group "$group" >/dev/null; then
	exit 0
fi
if [ "$group" != nixbld ]; then
	echo "Nix's build-users-group is $group, which does not exist; create it and its build users, or change nix.conf" >&2
	exit 1
fi
echo "creating Nix's build users: group nixbld, users nixbld1 to nixbld32" >&2
groupadd --system nixbld
for i in $(seq 1 32); do
	getent passwd "nixbld$i" >/dev/null && continue
	useradd --system --no-create-home --home-dir /var/empty --shell "$nologin" \
		--gid nixbld --groups nixbld --comment "Nix build user $i" "nixbld$i"
done
