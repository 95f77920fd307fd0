# Two quick jobs, one depending on the other.
{ src, salt }:
with import ./config.nix { inherit salt; };
rec {
  dep = mkDerivation { name = "bl-small-dep"; };
  top = mkDerivation { name = "bl-small-top"; inherit dep; };
}
