package builder_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/builder"
	"buildledger/adapters/nix/nixtest"
	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
	"buildledger/events"
)

// repro is a Nix file of a reproducible and a non-reproducible
// derivation; %s is a nonce.
const repro = `
let
  busybox = ` + nixtest.Busybox + `;
  mk = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" script ];
    nonce = "%s";
  };
in {
  stable = mk "stable" "mkdir -p $out/sub; echo same > $out/a; echo same > $out/sub/b";
  nonce = mk "nonce" "mkdir -p $out/sub; echo same > $out/a; cat /proc/sys/kernel/random/uuid > $out/sub/nonce";
}
`

// verifyOn records the scheduler's VerificationDispatched for what res
// built on orig and returns the BuildStep that sends it to machine.
func (e *env) verifyOn(res builder.Result, orig, machine string, cfg events.MachineConfig, attempt int) commands.BuildStep {
	e.t.Helper()
	var outs []events.VerifiedOutput
	for _, u := range res.Uploads {
		outs = append(outs, events.VerifiedOutput{Name: u.OutputName, Path: u.Path, NarHash: u.NarHash})
	}
	require.NotEmpty(e.t, outs)
	md := commands.NewMetadata(commands.ComponentActor("test"), e.rt)
	now := time.Now().Unix()
	r, err := commands.NewHandlers(e.rt, nil, nil).DispatchVerification(context.Background(), md, events.VerificationDispatched{
		DrvPath: res.Finished.DrvPath, Machine: machine, OriginalMachine: orig, Attempt: attempt, Outputs: outs,
		Reason: events.DispatchReason{Verification: true}, LeaseUntil: now + 600, Timestamp: now})
	require.NoError(e.t, err)
	return commands.BuildStep{ID: r.Events[0].ID, DrvPath: res.Finished.DrvPath, System: "x86_64-linux", Attempt: attempt,
		StepRevision: r.NextRevision, Machine: machine, MachineConfig: cfg, Timeout: 60, MaxSilent: 60,
		Verify: &commands.Verification{OriginalMachine: orig, Outputs: outs}}
}

// TestVerify: outputs built on one machine are rebuilt on another under
// Nix's sandbox; the reproducible one matches, the one that writes a
// random nonce does not, with both hashes and the first differing file.
// A duplicate delivery records nothing, and a rebuild on the machine that
// built it (a localhost one) still goes to a scratch store.
func TestVerify(t *testing.T) {
	e := newEnv(t, envOptions{})
	a, b := localhost(t), localhost(t)
	expr := fmt.Sprintf(repro, nonce())
	built := map[string]builder.Result{}
	for _, n := range []string{"stable", "nonce"} {
		res := e.build(e.instantiate(expr, n), "a", a, nil)
		require.Equal(t, 0, res.Finished.Status, res.Finished.ErrorMsg)
		built[n] = res
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name, machine string
		cfg           events.MachineConfig
		matches       bool
		first         string
	}{
		{"stable", "b", b, true, ""},
		{"nonce", "b", b, false, "sub/nonce"},
		{"nonce", "a", a, false, "sub/nonce"},
	} {
		t.Run(tc.name+" on "+tc.machine, func(t *testing.T) {
			res := built[tc.name]
			attempt := 1
			if tc.machine == "a" {
				attempt = 2 // the attempt on b came first
			}
			c := e.verifyOn(res, "a", tc.machine, tc.cfg, attempt)
			got, err := e.worker.Verify(ctx, c)
			require.NoError(t, err)
			require.Equal(t, 0, got.Ended.Status, got.Ended.ErrorMsg)
			require.Len(t, got.Outputs, 1)
			o := got.Outputs[0]
			require.Equal(t, tc.matches, o.Matches)
			require.Equal(t, res.Uploads[0].NarHash, o.OriginalNarHash)
			require.Regexp(t, `^sha256:[0-9a-z]{52}$`, o.NarHash)
			require.Equal(t, tc.matches, o.NarHash == o.OriginalNarHash)
			require.Equal(t, tc.first, o.FirstDifference)
			require.Equal(t, "a", o.OriginalMachine)
			require.Equal(t, tc.machine, o.Machine)

			recs, err := e.store.ReadStream(ctx, streams.Verify(res.Finished.DrvPath), 0, 100)
			require.NoError(t, err)
			require.Equal(t, "VerificationEnded", recs[len(recs)-1].Type)
			require.Equal(t, "OutputVerified", recs[len(recs)-2].Type)

			_, err = e.worker.Verify(ctx, c)
			require.ErrorIs(t, err, domainerr.ErrConflict, "a duplicate delivery records nothing")
		})
	}
}
