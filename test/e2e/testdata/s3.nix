# One job whose output is 12 MB of random bytes, so that its NAR goes to
# an s3:// cache in three parts of 5 MiB.
{ nonce ? "0000000000000000", busybox }:
{
  big = derivation {
    name = "big";
    inherit nonce;
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" "echo writing 12 MB; head -c 12000000 /dev/urandom > $out" ];
  };
}
