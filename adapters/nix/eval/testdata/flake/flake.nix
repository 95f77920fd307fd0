{
  description = "buildledger test flake";
  outputs = { self }:
    let
      system = "x86_64-linux";
      mk = name: derivation { inherit name system; builder = "/bin/sh"; args = [ "-c" "mkdir $out" ]; };
    in
    {
      hydraJobs = {
        hello = mk "flake-hello";
        tests.x86_64-linux.unit = mk "flake-unit";
      };
      checks.x86_64-linux.check = mk "flake-check";
    };
}
