// Package nixtest holds helpers for tests and benchmarks that write to the
// machine's Nix store.
package nixtest

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// DeleteDerivations removes paths, derivations a benchmark wrote, from the
// Nix store, in one nix-store call. A benchmark that evaluates 10,000 jobs
// writes 10,000 .drv files an iteration; a store that kept them all had
// grown to millions of paths and a database of gigabytes, which slowed
// every later Nix run, bare or ours. Pass only paths nothing else refers
// to: if one of them is still alive (another derivation in the store
// refers to it), nix-store deletes none of them. A failure is logged, not
// fatal: the figures stand either way.
func DeleteDerivations(tb testing.TB, paths []string) {
	tb.Helper()
	if len(paths) == 0 {
		return
	}
	if out, err := exec.Command("nix-store", append([]string{"--delete"}, paths...)...).CombinedOutput(); err != nil {
		tb.Logf("delete the benchmark's derivations: %v: %s", err, out)
	}
}

// NewChrootStore returns the directory of a new chroot store (a build
// machine's store in the tests), created up front: Nix processes that
// find a store missing all create it, and those that lose the race fail
// ("creating symlink … File exists"), which aborted the first steps of a
// machine dialled by several steps at once.
func NewChrootStore(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "store")
	if out, err := exec.Command("nix-store", "--store", dir, "--init").CombinedOutput(); err != nil {
		tb.Fatalf("create the chroot store %s: %v: %s", dir, err, out)
	}
	return dir
}
