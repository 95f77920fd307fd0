# mkDerivation: a derivation built by busybox's sh (./busybox.nix). meta
# stays off the derivation's environment, as in nixpkgs. salt makes the
# derivations of a test run its own.
{ salt ? "" }:
rec {
  system = builtins.currentSystem;
  mkDerivation = args:
    let
      script = args.script or "mkdir $out";
      drv = derivation ({
        inherit system salt;
        builder = "${import ./busybox.nix}/busybox";
        args = [ "sh" "-c" script ];
      } // removeAttrs args [ "meta" "script" ]);
    in
    drv // { meta = args.meta or { }; };
}
