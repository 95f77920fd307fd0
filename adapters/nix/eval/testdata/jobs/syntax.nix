with import ./config.nix;
{ oops = mkDerivation { name = "oops" }
