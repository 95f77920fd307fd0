# A reproducible chain and a job that writes a random nonce into its
# output: rebuilt on another machine, only the nonce differs.
{ nonce ? "0000000000000000", busybox }:
let
  mk = name: script: derivation {
    inherit name nonce;
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" script ];
  };
  base = mk "repro-base" "echo base > $out";
in
{
  stable = mk "repro-stable" "mkdir $out; cat ${base} > $out/copy; echo stable > $out/file";
  nonce = mk "repro-nonce" "mkdir $out; echo same > $out/a; cat /proc/sys/kernel/random/uuid > $out/nonce";
}
