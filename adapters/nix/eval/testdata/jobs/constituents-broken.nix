# An aggregate naming a job that is not one (a null attribute), next to a
# constituent given as a derivation (Hydra's constituents-broken test).
with import ./config.nix;
rec {
  constituentA = null;
  constituentB = mkDerivation { name = "broken-B"; };
  mixed_aggregate = mkDerivation {
    name = "mixed_aggregate";
    _hydraAggregate = true;
    constituents = [ "constituentA" constituentB ];
  };
}
