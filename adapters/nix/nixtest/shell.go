package nixtest

// Busybox is a Nix expression for a store directory that holds the
// machine's static busybox (Debian's busybox-static) and nothing else. It
// is the same expression as test/fixtures/hello/busybox.nix, for tests
// that write their Nix expressions inline.
const Busybox = `(builtins.path { name = "busybox"; ` +
	`path = if builtins.pathExists /usr/bin/busybox then /usr/bin else /bin; ` +
	`filter = path: type: baseNameOf path == "busybox"; })`

// Sh is the builder of a test derivation, as a Nix string's content:
// busybox from the store, so that the derivation builds inside Nix's
// default sandbox, which has no /bin/sh. The first argument names the
// applet, as in builder = "${…}/busybox"; args = [ "sh" "-c" "…" ].
// Called so, sh runs busybox's own applets (mkdir, cat, sleep, …) without
// a PATH.
const Sh = "${" + Busybox + "}/busybox"
