package streams

import (
	"testing"

	"buildledger/events"

	"github.com/stretchr/testify/require"
)

func TestNames(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Project("nixpkgs"), "project-nixpkgs"},
		{Jobset("nixpkgs", "trunk.x"), "jobset-nixpkgs.trunk.x"},
		{User("alice"), "user-alice"},
		{Machine("builder1"), "machine-builder1"},
		{IDs("build"), "ids-build"},
		{Eval(42), "eval-42"},
		{Build(7), "build-7"},
		{Step("/nix/store/0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p-hello-2.10.drv"), "step-0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p"},
		{Step("0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p-hello.drv"), "step-0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.got)
		require.NoError(t, events.ValidateStreamName(tt.got))
	}
}

func TestParseJobset(t *testing.T) {
	tests := []struct {
		stream, project, jobset string
		ok                      bool
	}{
		{"jobset-nixpkgs.trunk", "nixpkgs", "trunk", true},
		{"jobset-nixpkgs.release-23.05", "nixpkgs", "release-23.05", true},
		{"jobset-nixpkgs..jobsets", "nixpkgs", ".jobsets", true},
		{"jobset-nixpkgs", "", "", false},
		{"jobset-.x", "", "", false},
		{"project-nixpkgs.trunk", "", "", false},
	}
	for _, tt := range tests {
		p, j, ok := ParseJobset(tt.stream)
		require.Equal(t, tt.ok, ok, tt.stream)
		require.Equal(t, tt.project, p, tt.stream)
		require.Equal(t, tt.jobset, j, tt.stream)
	}
}

func TestParseID(t *testing.T) {
	id, ok := ParseID(Build(123), BuildPrefix)
	require.True(t, ok)
	require.Equal(t, int64(123), id)
	_, ok = ParseID("build-x", BuildPrefix)
	require.False(t, ok)
	_, ok = ParseID(Eval(1), BuildPrefix)
	require.False(t, ok)
}
