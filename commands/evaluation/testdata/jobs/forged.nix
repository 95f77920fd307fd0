# A job that passes for a derivation with a drvPath that is an option of
# nix-store, next to a real job.
{ src, salt }:
with import ./config.nix { inherit salt; };
{
  real = mkDerivation { name = "bl-forged-real"; };
  forged = { type = "derivation"; name = "x"; system = "x86_64-linux"; drvPath = "--store"; outPath = "/tmp/x"; out = { outPath = "/tmp/x"; }; outputs = [ "out" ]; };
}
