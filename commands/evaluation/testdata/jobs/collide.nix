{ src, salt }:
with import ./config.nix { inherit salt; };
{
  a.b = mkDerivation { name = "bl-nested-ab"; };
  "a.b" = mkDerivation { name = "bl-dotted-ab"; };
  c = mkDerivation { name = "bl-c"; };
}
