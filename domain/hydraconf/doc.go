// Package hydraconf reads a Hydra installation's hydra.conf, so that an
// operator moving to buildledger keeps the settings that mean something
// here.
//
// Parse reads the file's syntax (Config::General, Apache-like, as Hydra
// loads it); Interpret maps its keys to buildledger's flags, keeps the
// sections later features will use, and names the keys it ignores (with
// the reason) and the keys it does not know. docs/hydra-conf.md lists
// every key.
package hydraconf
