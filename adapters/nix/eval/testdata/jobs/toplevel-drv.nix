(import ./config.nix).mkDerivation { name = "alone"; }
