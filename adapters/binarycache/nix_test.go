package binarycache

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
)

// fixture is a pair of store paths built into the machine's store: top is a
// directory (regular file, executable, symlink) referring to dep.
type fixture struct {
	dep, top string
}

// fixtureExpr builds dep (a text file) and top (a directory referring to
// dep). The builder is busybox from the store, as Nix's sandbox has no /bin.
const fixtureExpr = `
let
  busybox = ` + nixtest.Busybox + `;
  dep = derivation {
    name = "blcache-test-dep";
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" "echo dependency > $out" ];
  };
in derivation {
  name = "blcache-test-top";
  system = builtins.currentSystem;
  builder = "${busybox}/busybox";
  args = [ "sh" "-c" "mkdir $out && echo ${dep} > $out/ref && printf '#!/bin/sh\\necho hi\\n' > $out/run && chmod +x $out/run && ln -s ref $out/link" ];
}
`

// requireNix skips the test when the nix tools are not installed.
func requireNix(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("nix-build"); err != nil {
		t.Skip("nix not installed")
	}
}

// buildFixture builds the fixture into /nix/store (instant once built).
func buildFixture(t testing.TB) fixture {
	t.Helper()
	requireNix(t)
	top := strings.TrimSpace(runNix(t, "nix-build", "--no-out-link", "-E", fixtureExpr))
	refs := strings.Fields(runNix(t, "nix-store", "--query", "--references", top))
	require.Len(t, refs, 1, "fixture top must have exactly one reference")
	return fixture{dep: refs[0], top: top}
}

// nixEnv isolates nix's user cache (narinfo lookups are cached per URL).
func nixEnv(t testing.TB) []string {
	t.Helper()
	return append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir())
}

// runNix runs a nix tool and fails the test on error.
func runNix(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := tryNix(t, name, args...)
	require.NoError(t, err, "%s %v: %s", name, args, out)
	return out
}

// tryNix runs a nix tool and returns its stdout (stderr appended on error).
func tryNix(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = nixEnv(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// nixCopy copies storePath from the binary cache at from into a fresh
// chroot store with signature checking on, trusting only pubKey. It returns
// the chroot store directory.
func nixCopy(t testing.TB, from, storePath, pubKey string) (string, string, error) {
	t.Helper()
	store := t.TempDir() + "/store"
	out, err := tryNix(t, "nix", "--extra-experimental-features", "nix-command",
		"copy", "--from", from, "--to", store,
		"--option", "require-sigs", "true",
		"--option", "trusted-public-keys", pubKey,
		"--option", "substituters", "",
		storePath)
	return store, out, err
}
