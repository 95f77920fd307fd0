# mkDerivation: a plain derivation built by busybox's sh (./busybox.nix);
# meta is kept off the derivation's environment and attached to the
# result, as nixpkgs does.
rec {
  system = builtins.currentSystem;
  mkDerivation = args:
    let
      script = args.script or "mkdir $out";
      drv = derivation ({
        inherit system;
        builder = "${import ./busybox.nix}/busybox";
        args = [ "sh" "-c" script ];
      } // removeAttrs args [ "meta" "script" ]);
    in
    drv // { meta = args.meta or { }; };
}
