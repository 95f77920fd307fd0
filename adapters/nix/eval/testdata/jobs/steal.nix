# A jobset that tries to read the evaluator's secrets: an environment
# variable and a file given as the secretFile argument, each as a job
# error (throw) and as an attribute of a job's derivation.
{ secretFile }:
let
  env = builtins.getEnv "BUILDLEDGER_TEST_SECRET";
  file = builtins.readFile secretFile;
  mk = name: attrs: derivation ({ inherit name; system = builtins.currentSystem; builder = "/nowhere"; } // attrs);
in {
  envThrow = throw "env=${env}";
  envDrv = mk "env" { leak = env; };
  fileThrow = throw "file=${file}";
  fileDrv = mk "file" { leak = file; };
  fetch = mk "fetch" { leak = builtins.readFile (builtins.fetchurl "http://169.254.169.254/latest/meta-data"); };
}
