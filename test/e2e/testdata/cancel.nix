# A job that sleeps long enough to be cancelled while it builds.
{ nonce ? "0000000000000000", busybox }:
{
  sleeper = derivation {
    name = "sleeper";
    inherit nonce;
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" "echo sleeping; sleep 300; echo woke > $out" ];
  };
}
