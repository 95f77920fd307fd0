package nixtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Busybox is a Nix expression for a store directory that holds the
// machine's static busybox (Debian's busybox-static) and nothing else: a
// builder that lives in the store, so that test derivations build inside
// Nix's default sandbox, which has no /bin/sh. It is the expression of
// test/fixtures/hello/busybox.nix, for tests that write their Nix inline.
//
// Each evaluation of it lists /usr/bin and hashes busybox (about 7 ms),
// so bind it once, as in
//
//	let busybox = <Busybox>; mk = name: derivation { …; builder = "${busybox}/busybox"; args = [ "sh" "-c" "…" ]; };
//
// rather than inside a function that makes many derivations. Called so,
// sh runs busybox's own applets (mkdir, cat, sleep, …) without a PATH.
const Busybox = `(builtins.path { name = "busybox"; ` +
	`path = if builtins.pathExists /usr/bin/busybox then /usr/bin else /bin; ` +
	`filter = path: type: baseNameOf path == "busybox"; })`

// Sh is the builder of a single derivation written inline, as a Nix
// string's content: builder = "<Sh>"; args = [ "sh" "-c" "…" ].
const Sh = "${" + Busybox + "}/busybox"

// BusyboxDir is the directory Busybox reads busybox from, chosen as its
// expression chooses. A jobset is evaluated in restricted mode, which
// reads nothing but its inputs: a test that evaluates Busybox, or a
// jobset's busybox.nix, allows this directory (eval.Request.AllowedPaths,
// the evaluator's --eval-allowed-path).
func BusyboxDir() string {
	if _, err := os.Stat("/usr/bin/busybox"); err == nil {
		return "/usr/bin"
	}
	return "/bin"
}

// AddBusybox copies the machine's busybox into dir as dir/busybox, for a
// flake's own source tree: a flake evaluates in pure mode, which reads no
// path outside its sources, so its derivations run "${self}/busybox".
func AddBusybox(tb testing.TB, dir string) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(BusyboxDir(), "busybox"))
	if err != nil {
		tb.Fatalf("read busybox: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "busybox"), b, 0o755); err != nil {
		tb.Fatalf("copy busybox into %s: %v", dir, err)
	}
}
