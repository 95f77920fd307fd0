# Built by the tests before evaluating, so its outputs are valid.
derivation {
  name = "bl-evaltest-prebuilt";
  system = builtins.currentSystem;
  builder = "${import ./busybox.nix}/busybox";
  args = [ "sh" "-c" "echo prebuilt > $out" ];
}
