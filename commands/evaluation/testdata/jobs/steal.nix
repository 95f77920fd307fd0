# A jobset that tries to publish the evaluator's secrets: an environment
# variable and a file given as the secretFile argument, as job errors and
# as a job's derivation attribute.
{ src, salt, secretFile }:
with import ./config.nix { inherit salt; };
let env = builtins.getEnv "BUILDLEDGER_TEST_SECRET"; in
{
  envThrow = throw "env=${env}";
  envDrv = mkDerivation { name = "bl-steal-env"; leak = env; };
  fileThrow = throw "file=${builtins.readFile secretFile}";
  fileDrv = mkDerivation { name = "bl-steal-file"; leak = builtins.readFile secretFile; };
}
