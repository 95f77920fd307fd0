with import ./config.nix;
{
  a.b = mkDerivation { name = "nested-ab"; };
  "a.b" = mkDerivation { name = "dotted-ab"; };
  c = mkDerivation { name = "c"; };
}
