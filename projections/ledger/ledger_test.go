package ledger_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/projections/ledger"
	"buildledger/test/projtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestAuditLog projects a few events and reads them back from audit_log:
// one row per event, with its id, place in the log, actor, correlation
// and a summary cut at 300 bytes.
func TestAuditLog(t *testing.T) {
	ctx := context.Background()
	env := projtest.New(t)
	pool, store := env.Pool, env.Store
	md := events.Metadata{Actor: "user:alice", CorrelationID: "req-1"}
	for _, e := range []struct {
		stream  string
		payload events.Payload
	}{
		{"project-p", &events.ProjectCreated{Name: "p", ProjectConfig: events.ProjectConfig{DisplayName: "P", Owner: "alice", Enabled: true,
			Description: strings.Repeat("d", 400)}}},
		{"user-alice", &events.UserCreated{UserName: "alice", Type: "hydra"}},
		// Its 300th byte is inside a two-byte character.
		{"project-q", &events.ProjectCreated{Name: "q", ProjectConfig: events.ProjectConfig{DisplayName: "Q", Owner: "alice", Enabled: true,
			Description: strings.Repeat("é", 200)}}},
	} {
		env.Append(t, e.stream, md, e.payload)
	}
	env.CatchUp(t, ledger.Projection{})

	recs, err := store.ReadAll(ctx, events.Position{}, 10)
	require.NoError(t, err)
	require.Len(t, recs, 3)
	type row struct {
		Position                     int64
		EventID, Stream, Type, Actor string
		CorrelationID, Summary       string
	}
	rows, err := pool.Query(ctx, `select position, event_id::text, stream, type, actor, correlation_id, summary from audit_log order by position`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	require.NoError(t, err)
	require.Len(t, got, 3)
	for i, rec := range recs {
		summary := string(rec.Data)
		if len(summary) > 300 {
			summary = strings.ToValidUTF8(summary[:300], "") + "…"
		}
		require.Equal(t, row{int64(rec.Position.Commit), rec.ID, rec.Stream, rec.Type, "user:alice", "req-1", summary}, got[i])
	}
	require.True(t, strings.HasSuffix(got[0].Summary, "…"), "the project's summary is cut")
	require.Len(t, got[2].Summary, 299+len("…"), "cut before the character it would split")
}
