with import ./config.nix;
{
  good = mkDerivation { name = "ifd-good"; };
  ifd = import (mkDerivation { name = "ifd-source"; script = "echo '{ }' > $out"; });
}
