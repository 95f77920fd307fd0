# n jobs sharing a chain of five dependencies.
{ src, salt, n ? "10000" }:
with import ./config.nix { inherit salt; };
let
  chain = builtins.foldl' (prev: i: mkDerivation { name = "bl-chain-${toString i}"; inherit prev; }) null (builtins.genList (i: i) 5);
  job = i: { name = "job${toString i}"; value = mkDerivation { name = "bl-bench-${toString i}"; dep = chain; }; };
in
builtins.listToAttrs (builtins.genList job (builtins.fromJSON n))
