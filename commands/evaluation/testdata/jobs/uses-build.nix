# Takes another jobset's build as input.
{ src, salt, dep ? null }:
with import ./config.nix { inherit salt; };
if dep == null then { } else {
  consumer = mkDerivation { name = "bl-consumer"; script = "mkdir $out; ls ${dep}"; };
}
