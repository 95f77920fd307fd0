package nixsupport_test

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"buildledger/domain/nixsupport"
	"buildledger/domain/status"
)

func TestParseReleaseName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"hello-1.0\n", "hello-1.0", true},
		{"  hello-1.0 \t\r\n", "hello-1.0", true},
		{"nixos-24.05.1234.abcdef@x:y_z", "nixos-24.05.1234.abcdef@x:y_z", true},
		{"first\nsecond line\n", "first", true},
		{"", "", false},
		{"\nhello\n", "", false},
		{"hello world\n", "", false},
		{"hello/1.0\n", "", false},
		{"héllo\n", "", false},
		{strings.Repeat("a", nixsupport.MaxReleaseNameBytes+10), "", false},
		{strings.Repeat("a", nixsupport.MaxReleaseNameBytes-1), strings.Repeat("a", nixsupport.MaxReleaseNameBytes-1), true},
	}
	for _, tt := range tests {
		got, err := nixsupport.ParseReleaseName(strings.NewReader(tt.in))
		if !tt.ok {
			require.ErrorIs(t, err, nixsupport.ErrInvalidReleaseName, "%q", tt.in)
			require.Empty(t, got)
			continue
		}
		require.NoError(t, err, "%q", tt.in)
		require.Equal(t, tt.want, got)
	}
}

func TestParseReleaseNameReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := nixsupport.ParseReleaseName(iotest.ErrReader(boom))
	require.ErrorIs(t, err, boom)
	require.NotErrorIs(t, err, nixsupport.ErrInvalidReleaseName)
}

func TestBuildStatus(t *testing.T) {
	require.Equal(t, status.FailedWithOutput, nixsupport.BuildStatus(true))
	require.Equal(t, status.Success, nixsupport.BuildStatus(false))
}
