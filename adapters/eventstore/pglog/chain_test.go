package pglog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/events/audit"
)

// TestVerifyStreamedFindsTampering verifies logs tampered with in the
// table both streamed (ReadChain, the default) and in pages (--readers 1),
// and requires both to find the same break, or the same intact head. The
// log has 20 events in the streams c-0, c-1 and c-2 (position p is
// revision (p-1)/3 of stream c-(p-1)%3); the event at position 5 has an
// actor that its metadata JSON escapes, which is decoded the slow way.
func TestVerifyStreamedFindsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper []string
		until  uint64
		// wantPos is the position of the break, 0 when the chain holds
		// for wantEvents events.
		wantPos    uint64
		wantReason string
		wantEvents uint64
		// wantErr: the metadata does not decode, which is an error.
		wantErr bool
	}{
		{name: "intact", wantEvents: 20},
		{name: "intact until 10", until: 10, wantEvents: 10},
		{name: "data byte", tamper: []string{
			`update ledger.events set data = replace(data::text, '"n":7', '"n":8')::json where position = 8`,
		}, wantPos: 8, wantReason: "content does not match its hash"},
		{name: "data byte after until", until: 7, tamper: []string{
			`update ledger.events set data = replace(data::text, '"n":7', '"n":8')::json where position = 8`,
		}, wantEvents: 7},
		{name: "metadata hash", tamper: []string{
			`update ledger.events set metadata = replace(metadata::text, metadata->>'hash', reverse(metadata->>'hash'))::json where position = 12`,
		}, wantPos: 12, wantReason: "content does not match its hash"},
		{name: "no hash", tamper: []string{
			`update ledger.events set metadata = (metadata::jsonb - 'hash')::json where position = 3`,
		}, wantPos: 3, wantReason: "no hash recorded"},
		{name: "actor", tamper: []string{
			`update ledger.events set metadata = replace(metadata::text, 'user:auditor', 'user:mallory')::json where position = 9`,
		}, wantPos: 9, wantReason: "content does not match its hash"},
		{name: "escaped actor", tamper: []string{
			`update ledger.events set metadata = replace(metadata::text, 'rgen', 'rgem')::json where position = 5`,
		}, wantPos: 5, wantReason: "content does not match its hash"},
		{name: "deleted event", tamper: []string{
			`delete from ledger.events where position = 8`,
		}, wantPos: 11, wantReason: "revision 3 follows revision 1"},
		{name: "swapped revisions", tamper: []string{
			`update ledger.events set revision = -1 where position = 8`,
			`update ledger.events set revision = 2 where position = 11`,
			`update ledger.events set revision = 3 where position = 8`,
		}, wantPos: 8, wantReason: "content does not match its hash"},
		{name: "swapped positions", tamper: []string{
			`update ledger.events set position = -1 where position = 8`,
			`update ledger.events set position = 8 where position = 11`,
			`update ledger.events set position = 11 where position = -1`,
		}, wantPos: 8, wantReason: "revision 3 follows revision 1"},
		{name: "metadata of another type", tamper: []string{
			`update ledger.events set metadata = '{"actor": 5}' where position = 6`,
		}, wantErr: true},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool := pgtest.NewPool(t)
			store := pglog.New(pool, pglog.Options{})
			for i := 1; i <= 20; i++ {
				md := events.Metadata{Actor: "user:auditor", Host: "h"}
				if i == 5 {
					md.Actor = `user:"jürgen" <j@example.org>`
				}
				ev := events.Event{ID: events.NewID(time.Now()), Type: "T", Version: 1, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i-1)), Metadata: md}
				_, err := store.Append(ctx, fmt.Sprintf("c-%d", (i-1)%3), events.Any, ev)
				require.NoError(t, err)
			}
			for _, q := range tc.tamper {
				tag := pgtest.Rewrite(t, pool, q)
				require.EqualValues(t, 1, tag.RowsAffected(), q)
			}
			var batches int
			opts := audit.VerifyOptions{Until: events.At(tc.until), OnProgress: func(uint64, events.Position) { batches++ }}
			streamed, err := audit.VerifyLog(ctx, store, opts)
			opts.Readers = 1
			paged, pagedErr := audit.VerifyLog(ctx, store, opts)
			if tc.wantErr {
				require.ErrorContains(t, err, "metadata")
				require.ErrorContains(t, pagedErr, "metadata")
				return
			}
			require.NoError(t, err)
			require.NoError(t, pagedErr)
			require.Equal(t, paged, streamed, "the streamed verify finds what the paged one finds")
			if tc.wantPos == 0 {
				require.Nil(t, streamed.Break)
				require.Equal(t, tc.wantEvents, streamed.Events)
				require.Positive(t, batches)
				return
			}
			require.NotNil(t, streamed.Break)
			require.Equal(t, tc.wantPos, streamed.Break.Position.Commit, streamed.Break.Error())
			require.Contains(t, streamed.Break.Reason, tc.wantReason)
		})
	}
}

// TestVerifyStreamedStopsEarly stops a streamed verify of a log of many
// batches while the log is still being read: at a break near its start,
// and when the caller cancels. The store stays usable.
func TestVerifyStreamedStopsEarly(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	seedChain(t, pool, 20_000)
	store := pglog.New(pool, pglog.Options{})
	pgtest.Rewrite(t, pool, `update ledger.events set data = replace(data::text, '"attempt":1', '"attempt":2')::json where position = 10`)

	res, err := audit.VerifyLog(ctx, store, audit.VerifyOptions{})
	require.NoError(t, err)
	require.NotNil(t, res.Break)
	require.EqualValues(t, 10, res.Break.Position.Commit)
	require.EqualValues(t, 9, res.Events)

	pgtest.Rewrite(t, pool, `update ledger.events set data = replace(data::text, '"attempt":2', '"attempt":1')::json where position = 10`)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res, err = audit.VerifyLog(cctx, store, audit.VerifyOptions{OnProgress: func(uint64, events.Position) { cancel() }})
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, res.Break)
	require.Less(t, res.Events, uint64(20_000), "the verify stops after the batch it was cancelled in")

	res, err = audit.VerifyLog(ctx, store, audit.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, res.Break)
	require.EqualValues(t, 20_000, res.Events)
}
