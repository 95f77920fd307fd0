with import ./config.nix;
rec {
  constituentA = mkDerivation { name = "constituentA"; };
  constituentA_alias = constituentA;
  constituentB = mkDerivation { name = "constituentB"; };

  direct_aggregate = mkDerivation {
    name = "direct_aggregate";
    _hydraAggregate = true;
    constituents = [ constituentA ];
  };
  indirect_aggregate = mkDerivation {
    name = "indirect_aggregate";
    _hydraAggregate = true;
    constituents = [ "constituentA" ];
  };
  mixed_aggregate = mkDerivation {
    name = "mixed_aggregate";
    _hydraAggregate = true;
    constituents = [ "constituentA_alias" constituentB ];
  };
  packages = {
    p1 = mkDerivation { name = "p1"; };
    p2 = mkDerivation { name = "p2"; };
  };
  glob_aggregate = mkDerivation {
    name = "glob_aggregate";
    _hydraAggregate = true;
    _hydraGlobConstituents = true;
    constituents = [ "packages.*" ];
  };
}
