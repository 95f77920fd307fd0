package builder

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/logstore"
	"buildledger/adapters/nix/nixtest"
	"buildledger/commands"
)

// TestLocalQuerySession: the session on the local store that answers
// the steps' queries is reused while it works, replaced when its command
// exited or its stream broke (the query is answered all the same), and
// replaced after a path that is not valid, which comes back as an error
// naming it; a cancelled query is not retried. Every session it drops
// ends its command.
func TestLocalQuerySession(t *testing.T) {
	if _, err := exec.LookPath("nix-store"); err != nil {
		t.Skip("nix not installed")
	}
	store := nixtest.NewChrootStore(t)
	file := filepath.Join(t.TempDir(), "hello")
	require.NoError(t, os.WriteFile(file, []byte("hello\n"), 0o644))
	out, err := exec.Command("nix-store", "--store", store, "--add", file).Output()
	require.NoError(t, err)
	valid := strings.TrimSpace(string(out))
	logs, err := logstore.New(t.TempDir(), logstore.Options{})
	require.NoError(t, err)
	w, err := New(Config{Runtime: commands.NewRuntime(nil, nil, commands.Options{}), Logs: logs, LocalStore: store,
		NixStoreArgs: []string{"--option", "substituters", ""}})
	require.NoError(t, err)
	defer w.Close()

	current := func() *session {
		w.queries.mu.Lock()
		defer w.queries.mu.Unlock()
		return w.queries.sess
	}
	ended := func(s *session) {
		t.Helper()
		select {
		case <-s.link.exited:
		case <-time.After(30 * time.Second):
			t.Fatal("a dropped session's command is still running")
		}
	}
	tests := []struct {
		name string
		// before acts on the current session before the query.
		before    func(s *session)
		ctx       func() context.Context
		path      string
		wantErr   string
		wantSame  bool
		wantEnded bool
	}{
		{name: "first query", path: valid},
		{name: "reused", path: valid, wantSame: true},
		{name: "command exited", before: func(s *session) { _ = s.link.closeWrite(); ended(s) }, path: valid, wantEnded: true},
		{name: "reused again", path: valid, wantSame: true},
		// The query is sent before or after the command sees the end
		// of its input: either way it is answered by a new session.
		{name: "stream broken", before: func(s *session) { _ = s.link.closeWrite() }, path: valid, wantEnded: true},
		{name: "path not valid", path: "/nix/store/00000000000000000000000000000000-missing", wantErr: "is not valid", wantEnded: true},
		{name: "after the invalid path", path: valid},
		{name: "cancelled", ctx: func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, path: valid, wantErr: context.Canceled.Error(), wantSame: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := current()
			if tt.before != nil {
				tt.before(old)
			}
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			infos, err := w.localClosure(ctx, []string{tt.path})
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
				require.Len(t, infos, 1)
				require.Equal(t, valid, infos[0].Path)
				require.NotEmpty(t, infos[0].NarHash)
			}
			if tt.wantSame {
				require.Same(t, old, current())
			}
			if tt.wantEnded {
				require.NotSame(t, old, current())
				ended(old)
			}
		})
	}
	last := current()
	require.NotNil(t, last)
	require.NoError(t, w.Close())
	ended(last)
}
