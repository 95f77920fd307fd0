# An aggregate naming a job that does not exist and one that fails to
# evaluate; the other jobs are fine.
with import ./config.nix;
{
  fine = mkDerivation { name = "failed-fine"; };
  broken = mkDerivation {
    name = "failed-broken";
    _hydraAggregate = true;
    constituents = [ "does-not-exist" "does-not-evaluate" ];
  };
  does-not-evaluate = assert false; mkDerivation { name = "x"; };
}
