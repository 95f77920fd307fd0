// Package machinesfile reads and writes Nix machines files, the list of build
// machines Hydra's queue runner used (/etc/nix/machines).
//
// Each non-comment line describes one machine with up to eight fields
// separated by white space, "-" standing for an empty field:
//
//	URI systems sshKey maxJobs speedFactor supportedFeatures mandatoryFeatures publicHostKey
//
// systems and the feature lists are comma-separated; publicHostKey is the
// base64 of the builder's SSH host key line. '#' starts a comment and ';'
// separates machines on one line, as in Nix.
package machinesfile
