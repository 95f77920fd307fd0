package pglog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
)

// TestChainDecoderChunks decodes one binary COPY of the log written in
// pieces of every size, into batches of every size, and requires the
// events ReadAll reads.
func TestChainDecoderChunks(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	store := New(pool, Options{})
	for i := range 40 {
		ev := events.Event{ID: events.NewID(time.Now()), Type: fmt.Sprintf("T%d", i%4), Version: 1 + i%2,
			Data: json.RawMessage(fmt.Sprintf(`{"n": %d, "s": "tab\tand \"quote\""}`, i)), Metadata: events.Metadata{Actor: "user:a", CorrelationID: "c"}}
		_, err := store.Append(ctx, fmt.Sprintf("d-%d", i%5), events.Any, ev)
		require.NoError(t, err)
	}
	want, err := store.ReadAll(ctx, events.Start, 100)
	require.NoError(t, err)
	require.Len(t, want, 40)
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	var copied bytes.Buffer
	_, err = conn.Conn().PgConn().CopyTo(ctx, &copied, chainCopySQL(events.Start))
	conn.Release()
	require.NoError(t, err)

	for _, tc := range []struct{ chunk, batchBytes int }{{1, 1}, {3, 64}, {100, 1000}, {copied.Len(), chainBatchBytes}} {
		t.Run(fmt.Sprintf("chunk%d-batch%d", tc.chunk, tc.batchBytes), func(t *testing.T) {
			var got [][]events.ChainLink
			d := &chainDecoder{batchBytes: tc.batchBytes, fn: func(links []events.ChainLink) error {
				got = append(got, links)
				return nil
			}}
			for b := copied.Bytes(); len(b) > 0; {
				n := min(tc.chunk, len(b))
				// pgconn reuses the bytes it writes: so does this test.
				p := bytes.Clone(b[:n])
				_, err := d.Write(p)
				require.NoError(t, err)
				clear(p)
				b = b[n:]
			}
			require.NoError(t, d.finish())
			var links []events.ChainLink
			for _, batch := range got {
				require.NotEmpty(t, batch)
				links = append(links, batch...)
			}
			if tc.batchBytes < copied.Len()/2 {
				require.Greater(t, len(got), 1, "the log is cut into batches")
			}
			require.Len(t, links, len(want))
			for i, r := range want {
				l := links[i]
				var md events.Metadata
				require.NoError(t, json.Unmarshal(l.Metadata, &md))
				require.Equal(t, r, events.Recorded{ID: string(l.ID), Type: string(l.Type), Version: l.Version, Stream: string(l.Stream),
					Revision: l.Revision, Position: l.Position, RecordedAt: r.RecordedAt, Data: json.RawMessage(l.Data), Metadata: md})
			}
		})
	}
}

func TestChainDecoderRejects(t *testing.T) {
	const (
		header  = "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"
		trailer = "\xff\xff"
		field1  = "\x00\x00\x00\x01x"
	)
	tests := []struct {
		name, stream, want string
	}{
		{"not binary", "1\tbuild-1\t0\t0190a000-0000-7000-8000-000000000000\n", "not a binary COPY stream"},
		{"no trailer", header, "without its trailer"},
		{"other columns", header + "\x00\x01" + field1 + trailer, "1 fields, want 8"},
		{"null", header + "\x00\x08" + "\xff\xff\xff\xff", "null in field 1"},
		{"field size", header + "\x00\x08" + strings.Repeat(field1, 8) + trailer, "field 1 has 1 bytes, want 8"},
		{"after the trailer", header + trailer + trailer, "after the COPY trailer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &chainDecoder{batchBytes: chainBatchBytes, fn: func([]events.ChainLink) error { return nil }}
			_, err := d.Write([]byte(tc.stream))
			if err == nil {
				err = d.finish()
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}
