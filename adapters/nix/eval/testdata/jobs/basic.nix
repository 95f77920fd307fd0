{ src, flag, greeting, count ? 0 }:
with import ./config.nix;
{
  empty_dir = mkDerivation { name = "empty-dir"; };

  multi = mkDerivation {
    name = "multi";
    outputs = [ "out" "dev" "bin" ];
    script = "mkdir $out $dev $bin";
  };

  full-of-meta = mkDerivation {
    name = "full-of-meta";
    meta = {
      description = "A job full of meta";
      license = [ { shortName = "MIT"; } "BSD" { fullName = "Some Licence"; } ];
      homepage = "https://example.org";
      maintainers = [ "alice@example.com" { email = "bob@not.found"; name = "Bob"; } ];
      timeout = 123;
      maxSilent = 45;
      schedulingPriority = 7;
      isHydraChannel = true;
      notJSON = x: x;
    };
  };

  packageset = {
    recurseForDerivations = true;
    nested = mkDerivation { name = "nested"; };
    nested2 = mkDerivation { name = "nested2"; };
    deeper = {
      recurseForDerivations = true;
      deeper = {
        recurseForDerivations = true;
        nested = mkDerivation { name = "deeper-nested"; };
      };
    };
  };
  plain.set.job = mkDerivation { name = "plain-set-job"; };

  nothing = null;

  inputs = {
    greet = mkDerivation { name = "greet-" + builtins.replaceStrings [ " " "\"" "$" "{" "}" ] [ "_" "q" "d" "o" "c" ] greeting; };
    count = mkDerivation { name = "count-${toString count}"; };
    src = mkDerivation { name = "src-${src.rev or "norev"}"; marker = builtins.readFile "${src}/marker.txt"; };
  } // (if flag then { flagged = mkDerivation { name = "flagged"; }; } else { });
}
