# The end-to-end jobset: every job is built by busybox's sh from the
# store (the busybox input, a Nix expression: nixtest.Busybox), so no
# nixpkgs is needed and it builds in Nix's default sandbox. nonce makes a test run's derivations its own (nothing is already
# built); keep its length fixed so that NAR sizes match between runs.
{ nonce ? "0000000000000000", busybox }:
let
  mk = name: script: extra:
    let
      drv = derivation ({
        inherit name nonce;
        system = builtins.currentSystem;
        builder = "${busybox}/busybox";
        args = [ "sh" "-c" script ];
      } // removeAttrs extra [ "meta" ]);
    in
    drv // { meta = extra.meta or { }; };

  # The diamond's inner nodes are not jobs: they are steps of the
  # diamond build only.
  base = mk "diamond-base" "echo base > $out" { };
  left = mk "diamond-left" "cat ${base} > $out; echo left >> $out" { };
  right = mk "diamond-right" "cat ${base} > $out; echo right >> $out" { };
in
rec {
  # A dependency chain of three jobs.
  chain1 = mk "chain-1" "echo one > $out" { };
  chain2 = mk "chain-2" "cat ${chain1} > $out; echo two >> $out" { };
  chain3 = mk "chain-3" "cat ${chain2} > $out; echo three >> $out" { };

  # The top needs a feature: in the ssh:// test only the second builder
  # has it (and builds nothing else), so the inputs built on the first one
  # must be copied over.
  diamond = mk "diamond-top" "cat ${left} ${right} > $out" {
    requiredSystemFeatures = [ "big-parallel" ];
  };

  # A failing job and a job that needs it.
  broken = mk "broken" "echo this build fails on purpose; exit 1" { };
  needsBroken = mk "needs-broken" "cat ${broken} > $out" { };

  # Killed after its meta.timeout.
  slowpoke = mk "slowpoke" "echo going to sleep; sleep 60; touch $out" {
    meta.timeout = 2;
  };

  # Prints far more than the queue runner's log limit.
  chatty = mk "chatty" "yes 'this line is repeated until the log is too long' | head -c 400000; touch $out" { };

  # Products, metrics and a release name.
  docs = mk "docs-1.0" ''
    mkdir -p $out/nix-support $out/share/doc
    echo '<html>manual</html>' > $out/share/doc/manual.html
    echo tarball > $out/docs-1.0.tar
    echo "doc manual $out/share/doc manual.html" >> $out/nix-support/hydra-build-products
    echo "file source-dist $out/docs-1.0.tar" >> $out/nix-support/hydra-build-products
    echo "this line does not parse" >> $out/nix-support/hydra-build-products
    echo "lineCoverage 87.5 %" >> $out/nix-support/hydra-metrics
    echo "testsRun 42" >> $out/nix-support/hydra-metrics
    echo "docs-release-1.0" > $out/nix-support/hydra-release-name
  '' {
    meta.description = "documentation with products";
  };

  # Two outputs; dev refers to out.
  multi = mk "multi" "echo out > $out; mkdir -p $dev; echo $out > $dev/ref" {
    outputs = [ "out" "dev" ];
  };
}
