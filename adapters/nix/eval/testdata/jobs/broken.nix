with import ./config.nix;
{
  good = mkDerivation { name = "good"; };
  thrower = throw "thrower is broken";
  asserter = assert 1 == 2; mkDerivation { name = "never"; };
  aborter = abort "aborter gave up";
  typeerr = mkDerivation { name = 1 + "a"; };
  missing = { }.nope;
  metaThrows = mkDerivation { name = "meta-throws"; meta.description = throw "bad description"; };
  nested = {
    fine = mkDerivation { name = "nested-fine"; };
    aborts = abort "nested abort";
    deeper.alsoFine = mkDerivation { name = "deeper-fine"; };
  };
  text = "not a job";
  nothing = null;
}
