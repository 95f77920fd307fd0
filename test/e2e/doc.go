// Package e2e holds buildledger's end-to-end acceptance tests: a jobset
// evaluated with real Nix, scheduled, built on localhost and ssh://
// builders, uploaded to a signed binary cache and projected into Hydra's
// tables, with the Postgres log and with the EventStoreDB adapter; fault
// tests (a builder's connection killed, a duplicate BuildStep, the queue
// runner killed and restarted); and a smoke test of the buildledger binary.
//
// The tests wire the components the way cmd/buildledger does, in a small
// harness of their own. They need nix and sshd; without them they are
// skipped loudly, unless the environment variable CI is "true", where they
// fail.
package e2e
