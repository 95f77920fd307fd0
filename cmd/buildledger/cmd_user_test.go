package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
)

// TestUserAccessCommands: an operator disables, enables and logs a user
// out everywhere from the CLI; each records its event (as component:cli),
// and the account's stream says what the web will check.
func TestUserAccessCommands(t *testing.T) {
	ctx := context.Background()
	cfg := config{home: t.TempDir(), databaseURL: pgtest.URL(t)}
	url := cfg.databaseURL
	pw := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(pw, []byte("correct horse battery\n"), 0o600))
	out, code := runCLI(t, url, "user", "create", "bob", "--password-file", pw)
	require.Equal(t, 0, code, out)

	sys, err := openSystem(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer sys.Close()
	acc := commands.NewAccounts(sys.runtime, nil)
	st, err := acc.User(ctx, "bob")
	require.NoError(t, err)
	gen := st.Generation

	tests := []struct {
		args        []string
		code        int
		mayAuth     bool
		newSessions bool
	}{
		{[]string{"disable", "bob"}, 0, false, true},
		{[]string{"disable", "bob"}, 0, false, false},
		{[]string{"enable", "bob"}, 0, true, false},
		{[]string{"logout-everywhere", "bob"}, 0, true, true},
		{[]string{"disable", "ghost"}, 1, true, false},
		{[]string{"enable"}, 1, true, false},
		{[]string{"wander", "bob"}, 1, true, false},
	}
	for _, tt := range tests {
		out, code := runCLI(t, url, append([]string{"user"}, tt.args...)...)
		require.Equal(t, tt.code, code, "%v: %s", tt.args, out)
		st, err := acc.User(ctx, "bob")
		require.NoError(t, err)
		require.Equal(t, tt.mayAuth, st.MayAuthenticate(), "%v", tt.args)
		require.Equal(t, tt.newSessions, st.Generation != gen, "%v: sessions ended", tt.args)
		gen = st.Generation
	}
	var actors []string
	rows, err := sys.pool.Query(ctx, `select type || ' ' || (metadata::jsonb->>'actor') from ledger.events
		where stream = 'user-bob' and type <> 'UserCreated' order by position`)
	require.NoError(t, err)
	for rows.Next() {
		var a string
		require.NoError(t, rows.Scan(&a))
		actors = append(actors, a)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"UserDisabled component:cli", "UserEnabled component:cli", "UserSessionsRevoked component:cli"}, actors)
}
