package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/events"
	"buildledger/projections"
)

// TestSecretsStayOutOfTheLog follows one user through the real CLI,
// command handlers, projections and Postgres (H4): their password hash
// and profile never reach the log or the audit log, a token in a jobset
// input is masked in history and exports, exports are 0600, and once
// the user is forgotten their profile is unreadable everywhere, after a
// replay too, while audit verify and prove still pass.
func TestSecretsStayOutOfTheLog(t *testing.T) {
	ctx := context.Background()
	cfg := config{home: t.TempDir(), databaseURL: pgtest.URL(t)}
	url, dir := cfg.databaseURL, t.TempDir()
	pw := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pw, []byte("correct horse battery\n"), 0o600))
	out, code := runCLI(t, url, "user", "create", "bob", "--password-file", pw, "--email", "bob@example.org", "--full-name", "Bob Smith")
	require.Equal(t, 0, code, out)

	sys, err := openSystem(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer sys.Close()
	project := func() {
		t.Helper()
		r, err := projections.NewRunner(sys.store, sys.codec, postgres.NewReadModelDB(sys.pool), readModels(sys.vault), projections.RunnerOptions{})
		require.NoError(t, err)
		_, err = r.CatchUp(ctx)
		require.NoError(t, err)
	}
	const token = "ghp_0123456789abcdefTOKEN"
	md := commands.NewMetadata(commands.UserActor("bob"), sys.runtime)
	_, err = sys.handlers.CreateProject(ctx, md, commands.CreateProject{Name: "p", Config: events.ProjectConfig{DisplayName: "P", Owner: "bob", Enabled: true}})
	require.NoError(t, err)
	_, err = sys.handlers.CreateJobset(ctx, md, commands.CreateJobset{Project: "p", Name: "j", Config: events.JobsetConfig{
		NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1, KeepNr: 3, CheckInterval: 60, SchedulingShares: 1,
		Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: "https://bob:" + token + "@github.com/acme/x.git"}}}})
	require.NoError(t, err)
	project()

	var hash string
	require.NoError(t, sys.pool.QueryRow(ctx, `select password_hash from vault.credentials where user_name = 'bob'`).Scan(&hash))
	require.True(t, strings.HasPrefix(hash, "$argon2id$"), hash)
	var fullName, email string
	require.NoError(t, sys.pool.QueryRow(ctx, `select fullname, emailaddress from users where username = 'bob'`).Scan(&fullName, &email))
	require.Equal(t, []string{"Bob Smith", "bob@example.org"}, []string{fullName, email}, "the projection opens the profile")
	_, salt, _ := strings.Cut(strings.TrimPrefix(hash, "$argon2id$v=19$"), "$")
	salt, _, _ = strings.Cut(salt, "$")
	for _, q := range []string{`select string_agg(data::text, ' ') from ledger.events`, `select string_agg(summary, ' ') from audit_log`} {
		var text string
		require.NoError(t, sys.pool.QueryRow(ctx, q).Scan(&text))
		for _, leak := range []string{hash, salt, "argon2id", "bob@example.org", "Bob Smith"} {
			require.NotContains(t, text, leak, q)
		}
	}
	var summary string
	require.NoError(t, sys.pool.QueryRow(ctx, `select summary from audit_log where type = 'JobsetCreated'`).Scan(&summary))
	require.NotContains(t, summary, "TOKEN")

	out, code = runCLI(t, url, "history", "jobset", "p:j")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "https://bob:***@github.com/acme/x.git")
	require.NotContains(t, out, "TOKEN")
	out, code = runCLI(t, url, "events", "tail", "--json")
	require.Equal(t, 0, code, out)
	require.NotContains(t, out, "TOKEN")

	// An export is 0600, even over a file that was world-readable.
	export := filepath.Join(dir, "events.jsonl")
	require.NoError(t, os.WriteFile(export, nil, 0o644))
	out, code = runCLI(t, url, "events", "export", "--out", export)
	require.Equal(t, 0, code, out)
	st, err := os.Stat(export)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	b, err := os.ReadFile(export)
	require.NoError(t, err)
	require.NotContains(t, string(b), "TOKEN")
	require.NotContains(t, string(b), "bob@example.org")

	key := filepath.Join(dir, "key.pem")
	runKeygen(t, key)
	cp := filepath.Join(dir, "cp.json")
	out, code = runCLI(t, url, "audit", "checkpoint", "--key", key, "--out", cp)
	require.Equal(t, 0, code, out)

	out, code = runCLI(t, url, "user", "forget", "bob")
	require.Equal(t, 0, code, out)
	out, code = runCLI(t, url, "user", "forget", "bob")
	require.Equal(t, 1, code, "forgotten once: %s", out)
	project()
	forgotten := func(when string) {
		t.Helper()
		var gone bool
		require.NoError(t, sys.pool.QueryRow(ctx, `select fullname, emailaddress, forgotten from users where username = 'bob'`).Scan(&fullName, &email, &gone))
		require.Equal(t, []any{"forgotten user", "", true}, []any{fullName, email, gone}, when)
		var n int
		require.NoError(t, sys.pool.QueryRow(ctx, `select count(*) from vault.user_keys where user_name = 'bob' and secret is not null`).Scan(&n))
		require.Zero(t, n, when)
		require.NoError(t, sys.pool.QueryRow(ctx, `select count(*) from vault.credentials where user_name = 'bob'`).Scan(&n))
		require.Zero(t, n, when)
	}
	forgotten("after forget")
	out, code = runCLI(t, url, "replay")
	require.Equal(t, 0, code, out)
	forgotten("after a replay from the log")

	out, code = runCLI(t, url, "audit", "verify")
	require.Equal(t, 0, code, out)
	out, code = runCLI(t, url, "audit", "prove", "--checkpoint", cp, "--pubkey", key+".pub")
	require.Equal(t, 0, code, out)
}
