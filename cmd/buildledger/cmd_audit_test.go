package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/adapters/translog"
	"buildledger/events"
)

// auditLog opens a fresh migrated database with 20 events in 3 streams.
func auditLog(t *testing.T) (string, *pgxpool.Pool, *pglog.Store) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.URL(t)
	pool, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, postgres.Migrate(ctx, pool))
	store := pglog.New(pool, pglog.Options{})
	appendAudit(t, store, 0, 20)
	return url, pool, store
}

func appendAudit(t *testing.T, store events.Store, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		ev := events.Event{ID: events.NewID(time.Now()), Type: "Test", Version: 1,
			Data: json.RawMessage(fmt.Sprintf(`{"n": %d, "s": "value %d"}`, i, i)), Metadata: events.Metadata{Actor: "user:auditor"}}
		_, err := store.Append(context.Background(), fmt.Sprintf("audit-%d", i%3), events.Any, ev)
		require.NoError(t, err)
	}
}

// resealStream plays an attacker who is the database's superuser: edit
// changes events of stream (the i-th is passed as i), and every event of
// the stream is sealed again, so that its hash chain verifies.
func resealStream(t *testing.T, pool *pgxpool.Pool, store events.Store, stream string, edit func(i int, r *events.Recorded)) {
	t.Helper()
	recs, err := store.ReadStream(context.Background(), stream, 0, 0)
	require.NoError(t, err)
	prev := ""
	for i, r := range recs {
		edit(i, &r)
		ev := events.Event{ID: r.ID, Type: r.Type, Version: r.Version, Data: r.Data, Metadata: r.Metadata}
		md := events.Seal(ev, r.Stream, r.Revision, prev)
		prev = md.Hash
		raw, err := json.Marshal(md)
		require.NoError(t, err)
		pgtest.Rewrite(t, pool, `update ledger.events set data = $2::json, metadata = $3::json where position = $1`, int64(r.Position.Commit), string(r.Data), string(raw))
	}
}

func runCLI(t *testing.T, url string, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := newApp(&out, &errb).main(context.Background(), append(args, "--database-url", url))
	return out.String() + errb.String(), code
}

func runKeygen(t *testing.T, key string) {
	t.Helper()
	var out bytes.Buffer
	code := newApp(&out, &out).main(context.Background(), []string{"audit", "keygen", "--key", key})
	require.Equal(t, 0, code, out.String())
}

func TestAuditVerifyFindsFlippedByte(t *testing.T) {
	url, pool, _ := auditLog(t)
	for _, args := range [][]string{{}, {"--readers", "1", "--page-size", "4"}, {"--readers", "4", "--page-size", "3"}, {"--page-size", "20"}} {
		out, code := runCLI(t, url, append([]string{"audit", "verify"}, args...)...)
		require.Equal(t, 0, code, "%v: %s", args, out)
		require.Contains(t, out, "ok: 20 events verified up to position 20", args)
	}

	// Flip one byte of the data of the event at position 8 (audit-1@2).
	var out string
	var code int
	tag := pgtest.Rewrite(t, pool, `update ledger.events set data = replace(data::text, 'value 7', 'value 8')::json where position = 8`)
	require.EqualValues(t, 1, tag.RowsAffected())

	for _, args := range [][]string{{}, {"--readers", "1"}, {"--readers", "3", "--page-size", "3"}, {"--page-size", "7"}} {
		out, code = runCLI(t, url, append([]string{"audit", "verify"}, args...)...)
		require.Equal(t, 1, code, "%v: %s", args, out)
		require.Contains(t, out, "position 8 (audit-1@2", args)
		require.Contains(t, out, "content does not match its hash", args)
		require.Contains(t, out, "after 7 good events", args)
	}

	out, code = runCLI(t, url, "audit", "verify", "--stream", "audit-0")
	require.Equal(t, 0, code, "another stream is intact: %s", out)
	require.Contains(t, out, "7 events verified")
	out, code = runCLI(t, url, "audit", "verify", "--stream", "audit-1")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "audit-1@2")
}

func TestAuditCheckpointProve(t *testing.T) {
	url, pool, store := auditLog(t)
	dir := t.TempDir()
	key, pub, cp := filepath.Join(dir, "key.pem"), filepath.Join(dir, "key.pem.pub"), filepath.Join(dir, "cp.json")
	runKeygen(t, key)
	out, code := runCLI(t, url, "audit", "checkpoint", "--key", key, "--out", cp)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "20 events up to position 20")

	out, code = runCLI(t, url, "audit", "prove", "--checkpoint", cp, "--pubkey", pub)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "proved")

	// A log that only grew still proves.
	appendAudit(t, store, 20, 25)
	out, code = runCLI(t, url, "audit", "prove", "--checkpoint", cp, "--pubkey", pub)
	require.Equal(t, 0, code, out)

	// Another key does not.
	runKeygen(t, filepath.Join(dir, "other.pem"))
	out, code = runCLI(t, url, "audit", "prove", "--checkpoint", cp, "--pubkey", filepath.Join(dir, "other.pem.pub"))
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "signature")

	// Rewrite history cleverly: change an event before the checkpoint and
	// re-seal its stream so that the chain itself verifies again.
	resealStream(t, pool, store, "audit-2", func(i int, r *events.Recorded) {
		if i == 1 {
			r.Data = json.RawMessage(`{"n": 5, "s": "rewritten"}`)
		}
	})
	out, code = runCLI(t, url, "audit", "verify")
	require.Equal(t, 0, code, "the re-sealed chain is self-consistent: %s", out)
	out, code = runCLI(t, url, "audit", "prove", "--checkpoint", cp, "--pubkey", pub)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "does not match the checkpoint")
	require.Contains(t, out, "head hash")
}

// TestAuditNoteCheckpoint: audit checkpoint --origin signs a C2SP
// checkpoint of the transparency log that x/mod's note opens with the
// key's verifier key, and refuses an origin that is not a key name.
func TestAuditNoteCheckpoint(t *testing.T) {
	url, _, _ := auditLog(t)
	dir := t.TempDir()
	key, cp := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cp.note")
	runKeygen(t, key)
	out, code := runCLI(t, url, "audit", "checkpoint", "--key", key, "--origin", "ci.test/log", "--out", cp)
	require.Equal(t, 0, code, out)
	priv, err := readPrivateKey(key)
	require.NoError(t, err)
	vkey, err := translog.VerifierKey("ci.test/log", priv.Public().(ed25519.PublicKey))
	require.NoError(t, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	raw, err := os.ReadFile(cp)
	require.NoError(t, err)
	n, err := note.Open(raw, note.VerifierList(v))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(n.Text, "ci.test/log\n20\n"), n.Text)

	out, code = runCLI(t, url, "audit", "checkpoint", "--key", key, "--origin", "two words")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "want a name without spaces")
}
