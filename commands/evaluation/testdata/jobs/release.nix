# Jobs for the evaluation tests: nested sets, a failing attribute, an
# aggregate, meta, several outputs, a dependency chain and a job whose
# output exists before the evaluation (prebuilt.nix).
{ src, salt, version ? "1" }:
with import ./config.nix { inherit salt; };
rec {
  dep = mkDerivation { name = "bl-dep"; };
  user = mkDerivation { name = "bl-user-${version}"; inherit dep; script = "mkdir $out"; };

  broken = throw "this job is broken on purpose";

  packageset = {
    recurseForDerivations = true;
    nested = mkDerivation { name = "bl-nested"; };
    deeper = {
      recurseForDerivations = true;
      deeper.nested = mkDerivation { name = "bl-deeper-nested"; };
    };
  };
  plain.set.job = mkDerivation { name = "bl-plain"; };

  multi = mkDerivation {
    name = "bl-multi";
    outputs = [ "out" "dev" ];
    script = "mkdir $out $dev";
  };

  withMeta = mkDerivation {
    name = "bl-meta";
    meta = {
      description = "A job with meta";
      license = [ { shortName = "MIT"; } "BSD" ];
      homepage = "https://example.org";
      maintainers = [ "alice@example.com" { email = "bob@example.org"; } ];
      timeout = 123;
      maxSilent = 45;
      schedulingPriority = 50;
    };
  };

  all = mkDerivation {
    name = "bl-all";
    _hydraAggregate = true;
    constituents = [ "dep" packageset.nested ];
  };

  prebuilt = import ./prebuilt.nix;
}
