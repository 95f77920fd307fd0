# Several uncatchable failures, at the top and nested.
with import ./config.nix;
let
  aborts = builtins.listToAttrs (builtins.genList (i: { name = "abort${toString i}"; value = abort "abort number ${toString i}"; }) 3);
in
aborts // {
  good = mkDerivation { name = "good"; };
  set = aborts // { fine = mkDerivation { name = "set-fine"; }; };
}
