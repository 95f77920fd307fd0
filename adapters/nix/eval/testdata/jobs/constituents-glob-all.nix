# "*" selects every job but the aggregate itself.
with import ./config.nix;
{
  packages.constituentA = mkDerivation { name = "glob-all-A"; };
  packages.constituentB = mkDerivation { name = "glob-all-B"; };
  ok_aggregate = mkDerivation {
    name = "glob-all-aggregate";
    _hydraAggregate = true;
    _hydraGlobConstituents = true;
    constituents = [ "*" ];
  };
}
