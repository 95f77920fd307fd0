# A job that sleeps long enough to be cancelled while it builds.
{ nonce ? "0000000000000000" }:
{
  sleeper = derivation {
    name = "sleeper";
    inherit nonce;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo sleeping; sleep 300; echo woke > $out" ];
    PATH = "/usr/bin:/bin";
  };
}
