# Run as the evaluation user: reads a file only root may read, which the
# operator's allowed paths do not keep it from (secretFile), and
# instantiates a derivation, which that user writes to the store through
# the nix-daemon.
{ secretFile }:
{
  secret = throw "file=${builtins.readFile secretFile}";
  hello = derivation { name = "as-user"; system = builtins.currentSystem; builder = "/nowhere"; };
}
