# Jobs for the fault tests: steps long enough to be interrupted, and a
# dependency so that an interrupted step blocks a dependent. Timeouts are
# short so that a step lost with its builder is given up quickly.
{ nonce ? "0000000000000000", busybox }:
let
  mk = name: script:
    let
      drv = derivation {
        inherit name nonce;
        system = builtins.currentSystem;
        builder = "${busybox}/busybox";
        args = [ "sh" "-c" script ];
      };
    in
    drv // { meta = { timeout = 6; maxSilent = 4; }; };
in
rec {
  first = mk "first" "echo first; sleep 2; echo first > $out";
  second = mk "second" "echo second; sleep 2; cat ${first} > $out; echo second >> $out";
  quick = mk "quick" "echo quick > $out";
  other = mk "other" "echo other; sleep 2; echo other > $out";
}
