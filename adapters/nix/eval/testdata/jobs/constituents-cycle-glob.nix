# A cycle of three aggregates closed by globs.
with import ./config.nix;
{
  packages.constituentA = mkDerivation {
    name = "cycle-glob-A";
    _hydraAggregate = true;
    _hydraGlobConstituents = true;
    constituents = [ "*_aggregate" ];
  };
  packages.constituentB = mkDerivation { name = "cycle-glob-B"; };
  ok_aggregate = mkDerivation {
    name = "cycle-glob-direct";
    _hydraAggregate = true;
    _hydraGlobConstituents = true;
    constituents = [ "packages.*" ];
  };
  indirect_aggregate = mkDerivation {
    name = "cycle-glob-indirect";
    _hydraAggregate = true;
    constituents = [ "ok_aggregate" ];
  };
}
