# A glob that matches no job; dummy makes the evaluation add a build.
with import ./config.nix;
{
  non_match_aggregate = mkDerivation {
    name = "non_match_aggregate";
    _hydraAggregate = true;
    _hydraGlobConstituents = true;
    constituents = [ "tests.*" ];
  };
  dummy = mkDerivation { name = "no-matches-dummy"; };
}
