package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/adapters/translog"
	"buildledger/events"
	"buildledger/test/tlogverify"
)

// tlogOrigin is the origin of the test's transparency log.
const tlogOrigin = "ci.test/log"

// noDatabase is given to the commands that must work from a log's tiles
// alone: were they to open it, they would fail.
const noDatabase = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"

// lockedBuffer is what up, running in the test's process, writes while the
// test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tlogUp is "buildledger up" with the transparency log on, run by the
// command's own function in this process on a fresh database, as the
// binary runs it: it publishes a checkpoint every second and accepts the
// cosignatures of the witness whose key is witnessKey.
type tlogUp struct {
	url, dir   string
	pool       *pgxpool.Pool
	store      *pglog.Store
	base       string // the log's URL, …/tlog
	vkey       string // the log's note verifier key
	witnessKey string // the witness's private key file
}

func startTlogUp(t *testing.T) *tlogUp {
	t.Helper()
	u := &tlogUp{url: pgtest.URL(t), dir: t.TempDir()}
	ctx := context.Background()
	pool, err := postgres.Open(ctx, u.url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	u.pool, u.store = pool, pglog.New(pool, pglog.Options{})
	// More than a tile of events before up starts, so that proofs use
	// level-1 and partial tiles: priority bumps of builds no one queued,
	// which the projections apply as no-ops.
	codec := events.NewCodec()
	for i := range 300 {
		ev, err := codec.Encode(&events.BuildBumped{BuildID: int64(9000 + i%7), GlobalPriority: i}, events.Metadata{Actor: "component:test"}, time.Now())
		require.NoError(t, err)
		_, err = u.store.Append(ctx, fmt.Sprintf("build-%d", 9000+i%7), events.Any, ev)
		require.NoError(t, err)
	}

	logKey := filepath.Join(u.dir, "log.pem")
	u.witnessKey = filepath.Join(u.dir, "witness.pem")
	runKeygen(t, logKey)
	runKeygen(t, u.witnessKey)
	priv, err := readPrivateKey(logKey)
	require.NoError(t, err)
	u.vkey, err = translog.VerifierKey(tlogOrigin, priv.Public().(ed25519.PublicKey))
	require.NoError(t, err)
	wpriv, err := readPrivateKey(u.witnessKey)
	require.NoError(t, err)
	pw := filepath.Join(u.dir, "admin-password")
	require.NoError(t, os.WriteFile(pw, []byte("an-admin-password\n"), 0o600))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	u.base = "http://" + addr + "/tlog"

	upCtx, stop := context.WithCancel(ctx)
	var out lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- newApp(&out, &out).main(upCtx, []string{"up", "--database-url", u.url, "--home", filepath.Join(u.dir, "home"),
			"--listen", addr, "--gc-roots", "", "--admin-password-file", pw,
			"--tlog-key", logKey, "--tlog-origin", tlogOrigin, "--tlog-interval", "1s",
			"--tlog-witness", translog.CosignatureVerifierKey("witness.test", wpriv.Public().(ed25519.PublicKey))})
	}()
	t.Cleanup(func() {
		stop()
		require.Equal(t, 0, <-done, "up exits 0 when stopped: %s", out.String())
	})
	require.Eventually(t, func() bool {
		select {
		case code := <-done:
			done <- code
			return true
		default:
			return strings.Contains(out.String(), "buildledger is up")
		}
	}, 2*time.Minute, 20*time.Millisecond)
	require.Contains(t, out.String(), "buildledger is up", "up did not start")
	return u
}

// head is the position of the log's last event.
func (u *tlogUp) head(t *testing.T) int64 {
	t.Helper()
	var n int64
	require.NoError(t, u.pool.QueryRow(context.Background(), `select coalesce(max(position), 0) from ledger.events`).Scan(&n))
	return n
}

// waitCheckpoint waits until up publishes a checkpoint that ok accepts and
// returns it as served, as an auditor saves it.
func (u *tlogUp) waitCheckpoint(t *testing.T, ok func(tlog.Tree) bool) []byte {
	t.Helper()
	v := tlogverify.New(context.Background(), u.base, u.vkey)
	var raw []byte
	require.Eventually(t, func() bool {
		tree, err := v.Checkpoint()
		if err != nil || !ok(tree) {
			return false
		}
		raw = u.get(t, "checkpoint")
		return bytes.Contains(raw, []byte("\n"+strconv.FormatInt(tree.N, 10)+"\n"))
	}, 2*time.Minute, 50*time.Millisecond, "no such checkpoint published")
	return raw
}

func (u *tlogUp) get(t *testing.T, path string) []byte {
	t.Helper()
	res, err := http.Get(u.base + "/" + path)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "GET %s: %s", path, b)
	return b
}

// event is the event at pos as /tlog/event serves it.
func (u *tlogUp) event(t *testing.T, pos int64) (id, stream string) {
	t.Helper()
	var row struct {
		ID     string `json:"id"`
		Stream string `json:"stream"`
	}
	require.NoError(t, json.Unmarshal(u.get(t, "event/"+strconv.FormatInt(pos, 10)), &row))
	require.NotEmpty(t, row.ID)
	return row.ID, row.Stream
}

// prove runs audit prove with a database it must not need.
func (u *tlogUp) prove(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return u.audit(t, append([]string{"prove", "--database-url", noDatabase}, args...)...)
}

// audit runs an audit subcommand.
func (u *tlogUp) audit(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := newApp(&out, &out).main(context.Background(), append([]string{"audit"}, args...))
	return out.String(), code
}

// writeFile writes b to name in the test's directory and returns its path.
func (u *tlogUp) writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(u.dir, name)
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// TestTransparencyLogOfUp is the acceptance of the transparency log on a
// running up: an outside verifier (x/mod only) proves inclusion of random
// events and of one a command appended while up runs; audit prove proves
// inclusion and consistency from the tiles alone; a witness cosigns, and
// after a row of ledger.events is rewritten, its stream re-sealed and the
// tree recomputed, the consistency proof fails and the witness refuses.
func TestTransparencyLogOfUp(t *testing.T) {
	u := startTlogUp(t)
	ctx := context.Background()

	// An event appended through the command path while up runs.
	pw := u.writeFile(t, "alice-password", []byte("alice's password\n"))
	out, code := runCLI(t, u.url, "user", "create", "alice", "--full-name", "Alice", "--password-file", pw)
	require.Equal(t, 0, code, out)
	alicePos := u.head(t)
	aliceID, aliceStream := u.event(t, alicePos)
	cp1 := u.writeFile(t, "cp1.note", u.waitCheckpoint(t, func(tr tlog.Tree) bool { return tr.N >= alicePos }))

	t.Run("an outside verifier proves inclusion of random events", func(t *testing.T) {
		v := tlogverify.New(ctx, u.base, u.vkey)
		tree, err := v.Checkpoint()
		require.NoError(t, err)
		require.Greater(t, tree.N, int64(256), "more than one tile")
		for _, pos := range []int64{alicePos, 1 + rand.Int64N(tree.N), 1 + rand.Int64N(tree.N), 1 + rand.Int64N(tree.N), 1, tree.N} {
			h, err := v.EventHash(pos)
			require.NoError(t, err)
			require.NoError(t, v.ProveInclusion(tree, pos-1, h), "event at %d", pos)
			h[rand.IntN(len(h))] ^= 1
			require.Error(t, v.ProveInclusion(tree, pos-1, h), "an altered hash of the event at %d", pos)
		}
	})

	t.Run("audit prove --inclusion from the tiles alone", func(t *testing.T) {
		keyFile := u.writeFile(t, "log.vkey", []byte(u.vkey+"\n"))
		tests := []struct {
			name string
			args []string
			want string
			code int
		}{
			{"by id", []string{"--inclusion", aliceID, "--log-key", u.vkey}, "proved: event " + aliceID + " at position " + strconv.FormatInt(alicePos, 10) + " is in the log of", 0},
			{"by position, the key in a file", []string{"--inclusion", "1", "--log-key", keyFile}, "at position 1 is in the log of", 0},
			{"in a saved checkpoint", []string{"--inclusion", strconv.FormatInt(alicePos, 10), "--log-key", u.vkey, "--checkpoint", cp1}, "; its content matches its hash", 0},
			{"no such event", []string{"--inclusion", events.NewID(time.Now()), "--log-key", u.vkey}, "404 Not Found: {", 1},
			{"a path, not a reference", []string{"--inclusion", "../checkpoint", "--log-key", u.vkey}, "is neither a position nor an event id", 1},
			{"position 0", []string{"--inclusion", "0", "--log-key", u.vkey}, "positions start at 1", 1},
			{"no log key", []string{"--inclusion", "1"}, "--log-key is required", 1},
			{"another log's key", []string{"--inclusion", "1", "--log-key", otherLogKey(t)}, "checkpoint:", 1},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				out, code := u.prove(t, append([]string{"--tiles", u.base}, tc.args...)...)
				require.Equal(t, tc.code, code, out)
				require.Contains(t, out, tc.want)
			})
		}
		out, code := u.prove(t, "--inclusion", "1", "--log-key", u.vkey)
		require.Equal(t, 1, code, out)
		require.Contains(t, out, "need --tiles URL")
	})

	// A witness cosigns, the log grows and the witness cosigns again.
	witness := func() (string, int) {
		return u.audit(t, "witness", "--log", u.base, "--log-key", u.vkey, "--key", u.witnessKey, "--name", "witness.test", "--state", filepath.Join(u.dir, "witness"))
	}
	out, code = witness()
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "cosigned the log of ")
	require.Contains(t, string(u.get(t, "checkpoint")), "\n— witness.test ", "the log serves its witness's cosignature")
	state := filepath.Join(u.dir, "witness", "checkpoint")
	require.FileExists(t, state)

	out, code = runCLI(t, u.url, "user", "create", "bob", "--password-file", pw)
	require.Equal(t, 0, code, out)
	grownPos := u.head(t)
	cp2raw := u.waitCheckpoint(t, func(tr tlog.Tree) bool { return tr.N >= grownPos })
	cp2 := u.writeFile(t, "cp2.note", cp2raw)
	out, code = witness()
	require.Equal(t, 0, code, out)
	kept, err := os.ReadFile(state)
	require.NoError(t, err)
	_, cosigned, err := translog.OpenCheckpoint(kept, mustVerifier(t, u.vkey))
	require.NoError(t, err)
	require.GreaterOrEqual(t, cosigned.Tree.N, grownPos, "the witness keeps the last checkpoint it cosigned")

	out, code = u.prove(t, "--inclusion", strconv.FormatInt(grownPos, 10), "--tiles", u.base, "--log-key", u.vkey, "--checkpoint", cp1)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "is not in a tree of", "an event after the checkpoint given")

	// A witness that trusts the log's key on first use keeps it, and from
	// then on trusts only it.
	tofu := func(state string) (string, int) {
		return u.audit(t, "witness", "--log", u.base, "--trust-on-first-use", "--key", u.witnessKey, "--name", "witness.test", "--state", filepath.Join(u.dir, state))
	}
	out, code = tofu("tofu")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "trusting the log key "+u.vkey+" on first use")
	require.FileExists(t, filepath.Join(u.dir, "tofu", "log.vkey"))
	out, code = tofu("tofu")
	require.Equal(t, 0, code, out)
	require.NotContains(t, out, "trusting")
	require.NoError(t, os.MkdirAll(filepath.Join(u.dir, "tofu-other"), 0o700))
	u.writeFile(t, filepath.Join("tofu-other", "log.vkey"), []byte(otherLogKey(t)+"\n"))
	out, code = tofu("tofu-other")
	require.Equal(t, 1, code, "a log whose key changed: %s", out)
	require.Contains(t, out, "checkpoint:")

	t.Run("audit prove --consistency from the tiles alone", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			want string
			code int
		}{
			{"the log grew", []string{cp1, cp2}, "proved: the log of ", 0},
			{"the same", []string{cp2, cp2}, "proved", 0},
			{"newer first", []string{cp2, cp1}, "the log forked", 1},
			{"one file", []string{cp1}, "two checkpoint files", 1},
			{"not a checkpoint", []string{cp1, u.writeFile(t, "junk", []byte("junk\n"))}, "junk", 1},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				out, code := u.prove(t, append([]string{"--consistency", "--tiles", u.base, "--log-key", u.vkey}, tc.args...)...)
				require.Equal(t, tc.code, code, out)
				require.Contains(t, out, tc.want)
			})
		}
	})

	// The operator makes Alice an admin from the start: it rewrites her
	// event, re-seals her stream so the hash chain verifies, recomputes
	// the tree and lets up publish it.
	resealStream(t, u.pool, u.store, aliceStream, func(_ int, r *events.Recorded) {
		if r.Position.Commit != uint64(alicePos) {
			return
		}
		var data map[string]any
		require.NoError(t, json.Unmarshal(r.Data, &data))
		data["roles"] = []string{"admin"}
		b, err := json.Marshal(data)
		require.NoError(t, err)
		require.NotEqual(t, string(r.Data), string(b))
		r.Data = b
	})
	out, code = runCLI(t, u.url, "audit", "verify")
	require.Equal(t, 0, code, "the re-sealed chain verifies: %s", out)
	pgtest.Rewrite(t, u.pool, `truncate commandstate.tlog_hashes; update commandstate.tlog_tree set size = 0, checkpoint = null`)
	_, old, err := translog.OpenCheckpoint(cp2raw, mustVerifier(t, u.vkey))
	require.NoError(t, err)
	forked := u.writeFile(t, "forked.note", u.waitCheckpoint(t, func(tr tlog.Tree) bool { return tr.N >= old.Tree.N && tr.Hash != old.Tree.Hash }))

	out, code = u.prove(t, "--consistency", "--tiles", u.base, "--log-key", u.vkey, cp1, forked)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "the log forked")
	out, code = witness()
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "refusing to cosign")
	require.Contains(t, out, "the log forked")
	out, code = tofu("tofu")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "refusing to cosign")
	after, err := os.ReadFile(state)
	require.NoError(t, err)
	require.Equal(t, string(kept), string(after), "the witness still holds the checkpoint it cosigned")
	require.NotContains(t, string(u.get(t, "checkpoint")), "— witness.test ", "the forked checkpoint has no cosignature")
}

// TestAuditWitnessFlags: the witness refuses to start without what it
// needs, and with a name that cannot be a key name.
func TestAuditWitnessFlags(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "w.pem")
	runKeygen(t, key)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--log", "http://127.0.0.1:1/tlog", "--key", key, "--name", "w"}, "--state are required"},
		{[]string{"--log", "http://127.0.0.1:1/tlog", "--key", key, "--name", "two words", "--state", dir, "--log-key", otherLogKey(t)}, "want a name without spaces"},
		{[]string{"--log", "http://127.0.0.1:1/tlog", "--key", key, "--name", "w", "--state", dir}, "--log-key is required"},
		{[]string{"--log", "http://127.0.0.1:1/tlog", "--key", key, "--name", "w", "--state", dir, "--log-key", "not+a+key"}, "--log-key:"},
		{[]string{"--log", "http://127.0.0.1:1/tlog", "--key", key, "--name", "w", "--state", dir, "--log-key", otherLogKey(t), "--trust-on-first-use"}, "not both"},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		code := newApp(&out, &out).main(context.Background(), append([]string{"audit", "witness"}, tc.args...))
		require.Equal(t, 1, code, "%v: %s", tc.args, out.String())
		require.Contains(t, out.String(), tc.want, tc.args)
	}
}

// otherLogKey is the verifier key of another log of the same origin.
func otherLogKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	vkey, err := translog.VerifierKey(tlogOrigin, pub)
	require.NoError(t, err)
	return vkey
}

func mustVerifier(t *testing.T, vkey string) note.Verifier {
	t.Helper()
	v, err := readLogKey(vkey)
	require.NoError(t, err)
	return v
}
