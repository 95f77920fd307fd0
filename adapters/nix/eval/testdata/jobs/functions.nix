# Jobs that are functions: nix-eval-jobs calls those with formals with the
# jobset's inputs, and ignores those without.
{ src, greeting }:
with import ./config.nix;
{
  plain = mkDerivation { name = "fn-plain"; };
  called = { greeting }: mkDerivation { name = "fn-${greeting}"; };
  defaulted = { greeting, other ? "default" }: mkDerivation { name = "fn-${greeting}-${other}"; };
  set = { greeting }: { deeper = mkDerivation { name = "fn-deeper-${greeting}"; }; };
  nested.inner = { greeting }: mkDerivation { name = "fn-inner-${greeting}"; };
  throws = { greeting }: throw "function job throws for ${greeting}";
  noFormals = x: mkDerivation { name = "fn-never"; };
}
