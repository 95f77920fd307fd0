# Aggregates as Hydra's evaluator tests break them; which picks the set.
{ src, salt, which }:
with import ./config.nix { inherit salt; };
let
  a = mkDerivation { name = "bl-agg-a"; };
  b = mkDerivation { name = "bl-agg-b"; };
in
{
  # evaluate-constituents-broken.t: a name that is no job.
  broken = {
    constituentA = null;
    constituentB = b;
    mixed_aggregate = mkDerivation {
      name = "bl-agg-mixed";
      _hydraAggregate = true;
      constituents = [ "constituentA" b ];
    };
  };
  # evaluate-constituents-globbing.t, trivial cycle.
  cycle = {
    ok_aggregate = mkDerivation {
      name = "bl-agg-ok";
      _hydraAggregate = true;
      _hydraGlobConstituents = true;
      constituents = [ "indirect_aggregate" ];
    };
    indirect_aggregate = mkDerivation {
      name = "bl-agg-indirect";
      _hydraAggregate = true;
      constituents = [ "ok_aggregate" ];
    };
  };
  # evaluate-constituents-globbing.t, cycle through globs.
  cycle-glob = {
    packages.constituentA = mkDerivation {
      name = "bl-agg-glob-a";
      _hydraAggregate = true;
      _hydraGlobConstituents = true;
      constituents = [ "*_aggregate" ];
    };
    packages.constituentB = b;
    ok_aggregate = mkDerivation {
      name = "bl-agg-glob-ok";
      _hydraAggregate = true;
      _hydraGlobConstituents = true;
      constituents = [ "packages.*" ];
    };
    indirect_aggregate = mkDerivation {
      name = "bl-agg-glob-indirect";
      _hydraAggregate = true;
      constituents = [ "ok_aggregate" ];
    };
  };
  # queue-runner/constituents.t: no job evaluates, so nothing changes.
  only-broken = {
    broken = mkDerivation {
      name = "bl-agg-broken";
      _hydraAggregate = true;
      constituents = [ "does-not-exist" "does-not-evaluate" ];
    };
    does-not-evaluate = assert false; { };
  };
  good = { inherit a; };
  # good plus a broken aggregate: the same builds as good.
  good-broken = {
    inherit a;
    agg = mkDerivation {
      name = "bl-agg-good-broken";
      _hydraAggregate = true;
      constituents = [ "missing" ];
    };
  };
}.${which}
