package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/domain/password"
)

// TestWebPool: the web reads through a pool of its own. A read that
// waits too long is cancelled by the pool's statement timeout and
// answers 503 in JSON instead of hanging; a web pool with every
// connection taken does not stop a command from writing.
func TestWebPool(t *testing.T) {
	ctx := context.Background()
	sys, err := openSystem(ctx, config{home: t.TempDir(), databaseURL: pgtest.URL(t)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer sys.Close()
	h, err := sys.newWeb(ctx, webOptions{dbTimeout: 300 * time.Millisecond, dbConns: 2})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	require.NotSame(t, sys.pool, sys.webPool)
	require.EqualValues(t, 2, sys.webPool.Config().MaxConns)

	get := func() (*http.Response, string) {
		req, err := http.NewRequest("GET", srv.URL+"/", nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "application/json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, string(b)
	}
	res, body := get()
	require.Equal(t, http.StatusOK, res.StatusCode, body)

	// A writer holds the projects table: the list of projects would wait
	// for it as long as it is held.
	tx, err := sys.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `lock table projects in access exclusive mode`)
	require.NoError(t, err)
	res, body = get()
	require.NoError(t, tx.Rollback(ctx))
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, body)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	require.JSONEq(t, `{"error":"the database took too long to answer; try again later"}`, body)
	require.NotEmpty(t, res.Header.Get("Retry-After"))

	// Every web connection is taken (slow anonymous requests): a command
	// still writes through the writers' pool. The deadline only turns a
	// hang into a failure.
	var held []*pgxpool.Conn
	for range sys.webPool.Config().MaxConns {
		c, err := sys.webPool.Acquire(ctx)
		require.NoError(t, err)
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	md := commands.NewMetadata(commands.UserActor("tester"), sys.runtime)
	_, err = sys.handlers.CreateUser(wctx, md, commands.CreateUser{UserName: "written", EmailAddress: "w@example.org", PasswordHash: testHash(t)})
	require.NoError(t, err, "a command writes while the web's pool is exhausted")
}

func testHash(t *testing.T) string {
	hash, err := password.Hash("pw", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	require.NoError(t, err)
	return hash
}

// TestWebHosts: the web answers for the --base-url host and every
// --allowed-host; a base URL without a host is refused.
func TestWebHosts(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		opts webOptions
		want []string
		err  string
	}{
		{webOptions{}, nil, ""},
		{webOptions{baseURL: "https://CI.example.org:8443/hydra"}, []string{"CI.example.org"}, ""},
		{webOptions{baseURL: "https://ci.example.org", allowedHosts: []string{"ci.lan"}}, []string{"ci.lan", "ci.example.org"}, ""},
		{webOptions{baseURL: "ci.example.org"}, nil, "want scheme://host"},
	}
	for _, tt := range tests {
		got, err := tt.opts.hosts("0.0.0.0:3000", log)
		if tt.err != "" {
			require.ErrorContains(t, err, tt.err)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.want, got)
	}
}

// TestWebhookSecretFile: webhook secrets come only from files no one but
// their owner may read; the flags and variables that once carried them
// are refused with a clear error.
func TestWebhookSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	tests := []struct {
		name, path, want, err string
	}{
		{"owner only", write("ok", "s3cret\n", 0o600), "s3cret", ""},
		{"read-only for the owner", write("ro", "s3cret", 0o400), "s3cret", ""},
		{"group may read", write("group", "s3cret", 0o640), "", "mode 0640, open to group or others: chmod 600 it"},
		{"anyone may read", write("world", "s3cret", 0o644), "", "mode 0644"},
		{"group may write", write("gw", "s3cret", 0o620), "", "mode 0620"},
		{"empty", write("empty", "\n", 0o600), "", "is empty"},
		{"directory", dir, "", "not a regular file"},
		{"missing", filepath.Join(dir, "nothing"), "", "no such file"},
		{"none", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := webhookSecret("github", tt.path)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				require.ErrorContains(t, err, "--github-secret-file")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	t.Setenv("BUILDLEDGER_GITEA_SECRET", "s3cret")
	_, err := webhookSecret("gitea", tests[0].path)
	require.ErrorContains(t, err, "BUILDLEDGER_GITEA_SECRET is no longer read")

	for _, name := range []string{"github-secret", "gitea-secret"} {
		var o webOptions
		fs := flag.NewFlagSet("up", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o.register(fs)
		err := fs.Parse([]string{"--" + name, "s3cret"})
		require.ErrorContains(t, err, "pass --"+name+"-file")
	}
}

// TestSessionKeyFile: servers given the same --session-key-file sign with
// the same key, whatever their homes; a missing, short or world-readable
// file is refused rather than replaced by a key of the server's own,
// which would refuse every session the other servers made.
func TestSessionKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	shared := write("shared", strings.Repeat("k", 64)+"\n", 0o600)
	tests := []struct {
		name, path, err string
	}{
		{"shared", shared, ""},
		{"short", write("short", "0123456789", 0o600), "holds 10 bytes; want at least 32"},
		{"anyone may read", write("world", strings.Repeat("k", 64), 0o644), "mode 0644"},
		{"missing", filepath.Join(dir, "nothing"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, errA := webOptions{sessionKeyFile: tt.path}.sessionKey(t.TempDir())
			b, errB := webOptions{sessionKeyFile: tt.path}.sessionKey(t.TempDir())
			if tt.err != "" {
				require.ErrorContains(t, errA, tt.err)
				require.ErrorContains(t, errA, "--session-key-file")
				require.Error(t, errB)
				return
			}
			require.NoError(t, errA)
			require.NoError(t, errB)
			require.Equal(t, a, b, "two homes, one key")
			require.Equal(t, []byte(strings.Repeat("k", 64)), a)
		})
	}
	// Without the flag each home has its own key, made on first use and
	// kept.
	home := t.TempDir()
	first, err := webOptions{}.sessionKey(home)
	require.NoError(t, err)
	again, err := webOptions{}.sessionKey(home)
	require.NoError(t, err)
	other, err := webOptions{}.sessionKey(t.TempDir())
	require.NoError(t, err)
	require.Equal(t, first, again)
	require.NotEqual(t, first, other)
}
