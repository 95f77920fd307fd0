# Job z reads the FIFO given as the fifo argument, so the walk cannot end
# before something writes to it. Jobs are walked in name order: a, then b,
# whose 64 KiB description makes Nix write out its buffered output (a's
# record included) before it gets to z.
{ fifo }:
with import ./config.nix;
{
  a = mkDerivation { name = "ordered-a"; };
  b = mkDerivation {
    name = "ordered-b";
    meta.description = builtins.concatStringsSep "" (builtins.genList (i: "0123456789abcdef") 4096);
  };
  z = mkDerivation { name = "ordered-z"; marker = builtins.readFile fifo; };
}
