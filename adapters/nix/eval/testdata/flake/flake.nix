{
  description = "buildledger test flake";
  outputs = { self }:
    let
      system = "x86_64-linux";
      # The tests put the machine's busybox in the flake's tree: pure
      # evaluation reads nothing outside it, and the sandbox has no /bin/sh.
      mk = name: derivation { inherit name system; builder = "${self}/busybox"; args = [ "sh" "-c" "mkdir $out" ]; };
    in
    {
      hydraJobs = {
        hello = mk "flake-hello";
        tests.x86_64-linux.unit = mk "flake-unit";
      };
      checks.x86_64-linux.check = mk "flake-check";
    };
}
