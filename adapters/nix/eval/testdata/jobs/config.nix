# mkDerivation: a plain derivation built by /bin/sh; meta is kept off the
# derivation's environment and attached to the result, as nixpkgs does.
rec {
  system = builtins.currentSystem;
  mkDerivation = args:
    let
      script = args.script or "mkdir $out";
      drv = derivation ({
        inherit system;
        builder = "/bin/sh";
        args = [ "-c" script ];
        PATH = "/usr/bin:/bin";
      } // removeAttrs args [ "meta" "script" ]);
    in
    drv // { meta = args.meta or { }; };
}
