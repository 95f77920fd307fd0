# Two jobs sharing a dependency that sleeps long enough to be cancelled
# while it builds.
{ nonce ? "0000000000000000", busybox }:
let
  mk = name: script: derivation {
    inherit name nonce;
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" script ];
  };
  shared = mk "shared" "echo shared is building; sleep 300; echo shared > $out";
in
{
  left = mk "left" "cat ${shared} > $out";
  right = mk "right" "cat ${shared} > $out";
}
