# Reads another evaluation's outputs, as Hydra's "eval" inputs pass them
# (builtins.storePath of each output), and builds on one of them.
{ src, upstream }:
with import ./config.nix;
{
  downstream = mkDerivation { name = "downstream"; script = "cat ${upstream.dep}/x > $out"; };
}
