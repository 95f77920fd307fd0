package status_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/status"
)

func TestCodeValues(t *testing.T) {
	// The numbers are Hydra's and stored in read models: never change them.
	tests := []struct {
		code status.Code
		want int
	}{
		{status.Success, 0}, {status.Failed, 1}, {status.DepFailed, 2},
		{status.Aborted, 3}, {status.Cancelled, 4}, {status.Obsolete, 5},
		{status.FailedWithOutput, 6}, {status.TimedOut, 7},
		{status.CachedFailure, 8}, {status.Unsupported, 9},
		{status.LogLimitExceeded, 10}, {status.NarSizeLimitExceeded, 11},
		{status.NotDeterministic, 12}, {status.Resolved, 13}, {status.Busy, 100},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, int(tt.code), "%#v", tt.code)
	}
	require.Len(t, status.Codes(), len(tests))
}

func TestCodeWording(t *testing.T) {
	tests := []struct {
		code  status.Code
		short string
		long  string
	}{
		{status.Success, "Succeeded", "Success"},
		{status.Failed, "Failed", "Build returned a non-zero exit code"},
		{status.DepFailed, "Dependency failed", "A dependency of the build failed"},
		{status.Aborted, "Aborted", "Aborted"},
		{status.Cancelled, "Cancelled by user", "Cancelled by user"},
		{status.Obsolete, "Obsolete", "Aborted"},
		{status.FailedWithOutput, "Failed with output", "Build failed with output"},
		{status.TimedOut, "Timed out", "Timed out"},
		{status.CachedFailure, "Cached failure", "Cached failure"},
		{status.Unsupported, "Unsupported system type", "Unsupported system type"},
		{status.LogLimitExceeded, "Log limit exceeded", "Log limit exceeded"},
		{status.NarSizeLimitExceeded, "Output limit exceeded", "Output limit exceeded"},
		{status.NotDeterministic, "Non-deterministic build", "Non-deterministic build"},
		{status.Resolved, "Resolved", "Resolved to another derivation"},
		{status.Busy, "Build in progress", "Build in progress"},
		{status.Code(42), "Failed", "Aborted"},
		{status.Code(-1), "Failed", "Aborted"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d", int(tt.code)), func(t *testing.T) {
			require.Equal(t, tt.short, tt.code.String())
			require.Equal(t, tt.short, fmt.Sprint(tt.code))
			require.Equal(t, tt.long, tt.code.Description())
		})
	}
}

func TestCodeKnownAndGoString(t *testing.T) {
	for _, c := range status.Codes() {
		require.True(t, c.Known(), "%d", int(c))
		require.NotContains(t, fmt.Sprintf("%#v", c), "Code(")
	}
	for _, c := range []status.Code{-1, 14, 99, 101} {
		require.False(t, c.Known(), "%d", int(c))
		require.Equal(t, fmt.Sprintf("status.Code(%d)", int(c)), fmt.Sprintf("%#v", c))
	}
	require.Equal(t, "status.DepFailed", fmt.Sprintf("%#v", status.DepFailed))
}

func TestCodeRules(t *testing.T) {
	tests := []struct {
		code                                                           status.Code
		finished, failure, transient, aborted, restart, outputs, cache bool
	}{
		{status.Success, true, false, false, false, true, true, false},
		{status.Failed, true, true, false, false, true, false, true},
		{status.DepFailed, true, true, false, false, true, false, false},
		{status.Aborted, true, true, true, true, true, false, false},
		{status.Cancelled, true, true, false, true, true, false, false},
		{status.Obsolete, true, true, false, false, true, false, false},
		{status.FailedWithOutput, true, true, false, false, true, true, false},
		{status.TimedOut, true, true, false, false, true, false, false},
		{status.CachedFailure, true, true, false, false, true, false, false},
		{status.Unsupported, true, true, false, true, true, false, false},
		{status.LogLimitExceeded, true, true, false, false, true, false, false},
		{status.NarSizeLimitExceeded, true, true, false, false, true, false, false},
		{status.NotDeterministic, true, true, false, false, true, false, true},
		{status.Resolved, true, false, false, false, false, false, false},
		{status.Busy, false, false, false, false, false, false, false},
		{status.Code(42), true, true, false, false, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.code.String()+fmt.Sprint(int(tt.code)), func(t *testing.T) {
			require.Equal(t, tt.finished, tt.code.IsFinished(), "IsFinished")
			require.Equal(t, tt.code == status.Success, tt.code.IsSuccess(), "IsSuccess")
			require.Equal(t, tt.failure, tt.code.IsFailure(), "IsFailure")
			require.Equal(t, tt.transient, tt.code.IsTransient(), "IsTransient")
			require.Equal(t, tt.aborted, tt.code.IsAborted(), "IsAborted")
			require.Equal(t, tt.restart, tt.code.CanRestart(), "CanRestart")
			require.Equal(t, tt.outputs, tt.code.HasOutputs(), "HasOutputs")
			require.Equal(t, tt.cache, tt.code.IsCacheable(), "IsCacheable")
		})
	}
}

func TestBusyStates(t *testing.T) {
	tests := []struct {
		state status.BusyState
		value int
		name  string
	}{
		{status.NotBusy, 0, "Not busy"},
		{status.Preparing, 1, "Preparing"},
		{status.Connecting, 10, "Connecting"},
		{status.SendingInputs, 20, "Sending inputs"},
		{status.Building, 30, "Building"},
		{status.WaitingForLocalSlot, 35, "Waiting to receive outputs"},
		{status.ReceivingOutputs, 40, "Receiving outputs"},
		{status.PostProcessing, 50, "Post-processing"},
	}
	require.Len(t, status.BusyStates(), len(tests))
	for i, tt := range tests {
		require.Equal(t, tt.value, int(tt.state))
		require.Equal(t, tt.name, tt.state.String())
		require.True(t, tt.state.Known())
		require.Equal(t, tt.state, status.BusyStates()[i])
		require.NotContains(t, fmt.Sprintf("%#v", tt.state), "BusyState(")
	}
	for _, b := range []status.BusyState{-1, 2, 6, 36, 51} {
		require.False(t, b.Known())
		require.Equal(t, "Unknown state", b.String())
		require.Equal(t, fmt.Sprintf("status.BusyState(%d)", int(b)), fmt.Sprintf("%#v", b))
	}
}
