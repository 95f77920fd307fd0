// Package daemontest gives tests the unprivileged evaluation user, with a
// nix-daemon it reaches the store through, as a server run as root has.
package daemontest

import (
	"context"
	"os"
	"testing"

	"buildledger/adapters/nix/daemon"
	"buildledger/adapters/nix/eval"
)

// User is the user test/install-deps.sh creates for evaluations.
const User = "buildledger-eval"

// Identity returns User's identity with a nix-daemon of the test's own,
// stopped when the test ends. Switching users needs root: elsewhere the
// test is skipped. As root a missing User fails the test, since make test
// creates it.
func Identity(tb testing.TB) eval.Identity {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("running children as another user needs root")
	}
	id, err := eval.LookupIdentity(User, "")
	if err != nil {
		tb.Fatalf("%v (test/install-deps.sh creates it)", err)
	}
	d, err := daemon.Start(context.Background(), daemon.Options{Gid: id.Credential.Gid})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Close)
	id.Store = d.Store()
	return id
}
