# Built by the tests before evaluating, so its outputs are valid.
derivation {
  name = "bl-evaltest-prebuilt";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo prebuilt > $out" ];
}
