package eval

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"buildledger/commands/evaluation"

	"github.com/stretchr/testify/require"
)

// TestEvaluateConfinesTheJobset: a jobset reads neither the evaluator's
// environment nor a file outside its inputs, nor fetches an URI not
// allowed, and none of the secrets appears in what the evaluation
// reports, be it a job error, a job or an evaluation error.
func TestEvaluateConfinesTheJobset(t *testing.T) {
	requireNix(t)
	const secret = "s3cr3t-5ca1ab1e"
	t.Setenv("BUILDLEDGER_TEST_SECRET", secret)
	secretFile := filepath.Join(t.TempDir(), "session.key")
	require.NoError(t, os.WriteFile(secretFile, []byte(secret), 0o600))

	req := legacy(t, "steal.nix", map[string]Input{"secretFile": {Kind: KindString, Value: secretFile}})
	res, err := Evaluate(context.Background(), req)
	require.NoError(t, err)
	for name, msg := range res.Errors {
		require.NotContains(t, msg, secret, "job %s", name)
	}
	require.True(t, strings.HasPrefix(res.Errors["envThrow"], "error: env=\n"), "getEnv yields nothing: %q", res.Errors["envThrow"])
	require.Contains(t, res.Errors["fileThrow"], "forbidden in restricted mode")
	require.Contains(t, res.Errors["fileDrv"], "forbidden in restricted mode")
	require.Contains(t, res.Errors["fetch"], "forbidden in restricted mode")
	require.Equal(t, []string{"envDrv"}, jobNames(res))
	b, err := os.ReadFile(res.Jobs[0].DrvPath)
	require.NoError(t, err)
	require.NotContains(t, string(b), secret)
}

// TestEvaluateRefusesForgedStorePaths: attribute sets that pass for
// derivations with paths outside the store fail as jobs and never reach
// OnJob.
func TestEvaluateRefusesForgedStorePaths(t *testing.T) {
	requireNix(t)
	t.Parallel()
	req := legacy(t, "forged.nix", nil)
	var got []evaluation.Job
	req.OnJob = func(j evaluation.Job) { got = append(got, j) }
	res, err := Evaluate(context.Background(), req)
	require.NoError(t, err)
	require.Empty(t, res.Jobs)
	require.Empty(t, got)
	require.Contains(t, res.Errors["option"], `drvPath "--store" is not a derivation in the store`)
	require.Contains(t, res.Errors["outside"], `drvPath "/etc/passwd.drv" is not a derivation in the store`)
	require.Contains(t, res.Errors["badOut"], `path "/nix/store/../etc" is not a store path`)
}

// TestEvaluateReadsEvalInputOutputs: an "eval" input hands the jobset
// other outputs through builtins.storePath. Restricted evaluation refuses
// store paths it was not given, so the input names them (Reads).
func TestEvaluateReadsEvalInputOutputs(t *testing.T) {
	requireNix(t)
	t.Parallel()
	add := exec.Command("nix-store", "--add", filepath.Join(jobsDir(t), "marker.txt"))
	out, err := add.Output()
	require.NoError(t, err)
	dep := strings.TrimSpace(string(out))
	expr := `{ dep = builtins.storePath "` + dep + `"; }`
	for _, tt := range []struct {
		name  string
		reads []string
		ok    bool
	}{{"named", []string{dep}, true}, {"not named", nil, false}} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Evaluate(context.Background(), legacy(t, "upstream.nix", map[string]Input{
				"upstream": {Kind: KindNix, Value: expr, Reads: tt.reads}}))
			if !tt.ok {
				require.NoError(t, err)
				require.Contains(t, res.Errors["downstream"], "restricted mode")
				return
			}
			require.NoError(t, err)
			require.Empty(t, res.Errors)
			require.Equal(t, []string{"downstream"}, jobNames(res))
		})
	}
}
