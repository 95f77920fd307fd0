# A job fails in a way builtins.tryEval cannot catch (a type error) after
# jobs a and b are finished, so the walk is repeated with trace marks and
# finishes a and b again.
with import ./config.nix;
{
  a = mkDerivation { name = "late-a"; };
  b = mkDerivation { name = "late-b"; };
  crash = mkDerivation { name = "late-crash"; marker = 1 + "a"; };
  z = mkDerivation { name = "late-z"; };
}
