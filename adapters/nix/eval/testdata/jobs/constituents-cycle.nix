# Two aggregates naming each other, one through a glob.
with import ./config.nix;
{
  ok_aggregate = mkDerivation {
    name = "cycle-direct";
    _hydraAggregate = true;
    _hydraGlobConstituents = true;
    constituents = [ "indirect_aggregate" ];
  };
  indirect_aggregate = mkDerivation {
    name = "cycle-indirect";
    _hydraAggregate = true;
    constituents = [ "ok_aggregate" ];
  };
}
