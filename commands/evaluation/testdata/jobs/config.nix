# mkDerivation: a derivation built by /bin/sh. meta stays off the
# derivation's environment, as in nixpkgs. salt makes the derivations of a
# test run its own.
{ salt ? "" }:
rec {
  system = builtins.currentSystem;
  mkDerivation = args:
    let
      script = args.script or "mkdir $out";
      drv = derivation ({
        inherit system salt;
        builder = "/bin/sh";
        args = [ "-c" script ];
        PATH = "/usr/bin:/bin";
      } // removeAttrs args [ "meta" "script" ]);
    in
    drv // { meta = args.meta or { }; };
}
