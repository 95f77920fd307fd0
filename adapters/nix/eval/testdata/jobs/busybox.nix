# A shell that lives in the Nix store, so that builds work inside Nix's
# default sandbox, which has no /bin/sh: the machine's static busybox
# (Debian's busybox-static), alone in a directory. A copy of
# test/fixtures/hello/busybox.nix: a jobset's input directory goes into the
# store alone, so it cannot import a file outside it. With
# builder = "${import ./busybox.nix}/busybox" it runs as busybox, and its
# sh runs its own applets (mkdir, cat, sleep, …) without a PATH.
let
  dir = if builtins.pathExists /usr/bin/busybox then /usr/bin else /bin;
in
builtins.path {
  name = "busybox";
  path = dir;
  filter = path: type: baseNameOf path == "busybox";
}
