package runcommand_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/domainerr"
	"buildledger/domain/runcommand"
	"buildledger/events"
)

// TestMatcher follows Hydra's matcher tests: "*" is a whole part, never
// a glob inside a name, and missing parts match anything.
func TestMatcher(t *testing.T) {
	for _, tc := range []struct {
		matcher string
		job     [3]string
		want    bool
	}{
		{"", [3]string{"p", "j", "x"}, true},
		{"*:*:*", [3]string{"p", "j", "x"}, true},
		{"p", [3]string{"p", "j", "x"}, true},
		{"p", [3]string{"q", "j", "x"}, false},
		{"p:j", [3]string{"p", "j", "x"}, true},
		{"p:k", [3]string{"p", "j", "x"}, false},
		{"*:*:x", [3]string{"p", "j", "x"}, true},
		{"*:*:x", [3]string{"p", "j", "y"}, false},
		{"p:*:x", [3]string{"p", "j", "x"}, true},
		{"p*:*:*", [3]string{"pp", "j", "x"}, false},
		{"*:*:x*", [3]string{"p", "j", "xy"}, false},
		{"p:j:x", [3]string{"p", "j", "x"}, true},
	} {
		m, err := runcommand.ParseMatcher(tc.matcher)
		require.NoError(t, err, tc.matcher)
		require.Equal(t, tc.want, m.Match(tc.job[0], tc.job[1], tc.job[2]), "%q on %v", tc.matcher, tc.job)
	}
	m, _ := runcommand.ParseMatcher("")
	require.Equal(t, "*:*:*", m.String(), "Hydra records the default matcher")
	_, err := runcommand.ParseMatcher("a:b:c:d")
	require.ErrorIs(t, err, domainerr.ErrInvalid)
}

func TestIsHook(t *testing.T) {
	for job, want := range map[string]bool{
		"runCommandHook.example": true, "runCommandHook.": false, "runCommandHook": false,
		"xrunCommandHook.a": false, "runcommandhook.a": false, "runCommandHook.a.b": true,
	} {
		require.Equal(t, want, runcommand.IsHook(job), job)
	}
}

func TestUUID(t *testing.T) {
	u, err := runcommand.UUID("0123456789abcdef0123456789ABCDEF")
	require.NoError(t, err)
	require.Equal(t, "01234567-89ab-4def-8123-456789abcdef", u)
	require.True(t, runcommand.ValidUUID(u))
	for _, bad := range []string{"", "0123", strings.Repeat("g", 32), strings.Repeat("0", 33)} {
		_, err := runcommand.UUID(bad)
		require.ErrorIs(t, err, domainerr.ErrInvalid, bad)
	}
	for _, bad := range []string{"../../etc/passwd", "01234567-89ab-1def-8123-456789abcdef", "01234567-89AB-4DEF-8123-456789ABCDEF",
		"01234567-89ab-4def-c123-456789abcdef", "01234567+89ab-4def-8123-456789abcdef"} {
		require.False(t, runcommand.ValidUUID(bad), bad)
	}
}

// TestRunsOnce: a run starts once and finishes once.
func TestRunsOnce(t *testing.T) {
	start := events.RunCommandStarted{UUID: "u", Key: "k", JobMatcher: "*:*:*", BuildID: 1, Command: "true", StartTime: 5}
	var s runcommand.State
	evs, err := runcommand.Start(s, start)
	require.NoError(t, err)
	s = runcommand.Evolve(s, evs[0])
	_, err = runcommand.Start(s, start)
	require.ErrorIs(t, err, domainerr.ErrConflict)
	code := 0
	evs, err = runcommand.Finish(s, events.RunCommandFinished{UUID: "u", ExitCode: &code})
	require.NoError(t, err)
	s = runcommand.Evolve(s, evs[0])
	_, err = runcommand.Finish(s, events.RunCommandFinished{UUID: "u"})
	require.ErrorIs(t, err, domainerr.ErrConflict)
	_, err = runcommand.Finish(runcommand.State{}, events.RunCommandFinished{UUID: "u"})
	require.ErrorIs(t, err, domainerr.ErrNotFound)
	_, err = runcommand.Start(runcommand.State{}, events.RunCommandStarted{UUID: "u"})
	require.ErrorIs(t, err, domainerr.ErrInvalid)
}

// FuzzParseMatcher: any text parses or is refused; a parsed matcher
// keeps its text and matches its own literal parts.
func FuzzParseMatcher(f *testing.F) {
	for _, s := range []string{"", "*:*:*", "p:j:x", "a:b:c:d", "::", "p"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := runcommand.ParseMatcher(s)
		if err != nil {
			require.Greater(t, strings.Count(s, ":"), 2)
			return
		}
		if s == "" {
			s = runcommand.DefaultMatcher
		}
		require.Equal(t, s, m.String())
		parts := append(strings.Split(s, ":"), "*", "*")[:3]
		require.True(t, m.Match(parts[0], parts[1], parts[2]))
	})
}
