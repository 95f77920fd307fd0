# Attribute sets that pass for derivations with paths that are not store
# paths: an option for nix-store, a file outside the store, a path that
# climbs out of it.
let
  fake = name: drvPath: outPath: { type = "derivation"; inherit name drvPath outPath; system = "x86_64-linux"; out = { inherit outPath; }; outputs = [ "out" ]; };
in {
  option = fake "x" "--store" "/nix/store/00000000000000000000000000000000-x";
  outside = fake "y" "/etc/passwd.drv" "/nix/store/00000000000000000000000000000000-y";
  badOut = fake "z" "/nix/store/00000000000000000000000000000000-z.drv" "/nix/store/../etc";
}
