package esdb_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/esdb"
	"buildledger/events"
	"buildledger/events/storetest"
)

// TestIdempotency is the same-stream half of the contract's
// IdempotentAppend, which EventStoreDB does guarantee.
func TestIdempotency(t *testing.T) {
	s, _ := open(t, esdb.Options{})
	c := testCtx(t)
	a, b := storetest.Ev("T", 1), storetest.Ev("T", 2)
	first, err := s.Append(c, "idem", events.NoStream, a, b)
	require.NoError(t, err)
	for _, exp := range []events.Revision{events.NoStream, events.Any, events.StreamExists} {
		again, err := s.Append(c, "idem", exp, a, b)
		require.NoError(t, err, "retry with %s", exp)
		assert.Equal(t, first, again, "retry with %s", exp)
	}
	_, err = s.Append(c, "idem", events.Any, a, storetest.Ev("T", 3))
	require.ErrorIs(t, err, events.ErrWrongRevision, "a partly overlapping batch")
	_, err = s.Append(c, "idem", events.NoStream, b, a)
	require.ErrorIs(t, err, events.ErrWrongRevision, "the same ids in another order")
	got, err := s.ReadStream(c, "idem", 0, 0)
	require.NoError(t, err)
	assert.Len(t, got, 2)
}

// TestSystemEventsSkipped: system events between ours are invisible to
// ReadAll, Head and subscriptions.
func TestSystemEventsSkipped(t *testing.T) {
	s, srv := open(t, esdb.Options{BatchSize: 2})
	c := testCtx(t)
	head, err := s.Head(c)
	require.NoError(t, err)
	assert.True(t, head.IsStart(), "only system events: head is Start")
	sub, err := s.SubscribeAll(c, events.Start, events.Filter{})
	require.NoError(t, err)
	defer sub.Close()

	var ids []string
	for i := 0; i < 5; i++ {
		e := storetest.Ev("T", i)
		ids = append(ids, e.ID)
		_, err := s.Append(c, "sys", events.Any, e)
		require.NoError(t, err)
		srv.AppendSystemEvent("$stats-127.0.0.1:2113", "$statsCollected")
		srv.AppendSystemEvent("$$sys", "$metadata")
	}
	all, err := s.ReadAll(c, events.Start, 0) // BatchSize 2 forces paging past system events
	require.NoError(t, err)
	require.Len(t, all, 2)
	all, err = s.ReadAll(c, events.Start, 100)
	require.NoError(t, err)
	require.Len(t, all, 5)
	for i, r := range all {
		assert.Equal(t, ids[i], r.ID)
	}
	head, err = s.Head(c)
	require.NoError(t, err)
	assert.Equal(t, all[4].Position, head, "head skips the system events after the last of ours")
	for i := 0; i < 5; i++ {
		select {
		case r := <-sub.Events():
			assert.Equal(t, ids[i], r.ID)
		case <-time.After(5 * time.Second):
			t.Fatal("subscription stalled")
		}
	}
}

func TestPositionsAndMetadataLayout(t *testing.T) {
	s, _ := open(t, esdb.Options{})
	c := testCtx(t)
	ev := storetest.Ev("T", 1)
	ev.Version = 3
	ev.Metadata = events.Metadata{Actor: "user:alice", CorrelationID: "corr"}
	res, err := s.Append(c, "pos", events.NoStream, ev, storetest.Ev("T", 2), storetest.Ev("T", 3))
	require.NoError(t, err)
	got, err := s.ReadStream(c, "pos", 0, 0)
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, 3, got[0].Version, "schema version round-trips")
	md := got[0].Metadata
	assert.Equal(t, events.RecordedHash(got[0]), md.Hash, "the adapter seals events into the hash chain")
	md.Hash = ""
	assert.Equal(t, ev.Metadata, md)
	assert.Equal(t, got[2].Position, res.Position, "the append reports the last event's position")
	// The double, like the server, gives a batch one commit position and
	// increasing prepare positions: both halves must be kept.
	assert.Equal(t, got[0].Position.Commit, got[2].Position.Commit)
	assert.True(t, got[0].Position.Less(got[1].Position) && got[1].Position.Less(got[2].Position))
	page, err := s.ReadAll(c, got[0].Position, 10)
	require.NoError(t, err)
	require.Len(t, page, 2, "ReadAll after a position within a batch")
	assert.Equal(t, got[1].ID, page[0].ID)
}

func TestAppendSize(t *testing.T) {
	big := func(n int) events.Event {
		e := storetest.Ev("Big", n)
		e.Data = json.RawMessage(`{"pad":"` + strings.Repeat("x", 300<<10) + `"}`)
		return e
	}
	s, _ := open(t, esdb.Options{})
	c := testCtx(t)
	evs := []events.Event{big(0), big(1), big(2), big(3)} // about 1.2 MiB
	_, err := s.Append(c, "big", events.NoStream, evs...)
	require.ErrorIs(t, err, esdb.ErrAppendTooLarge)
	_, err = s.ReadStream(c, "big", 0, 0)
	require.ErrorIs(t, err, events.ErrStreamNotFound, "nothing written")
	_, err = s.Append(c, "big", events.NoStream, evs[:3]...)
	require.NoError(t, err, "under the limit in one append")

	huge := storetest.Ev("Huge", 0)
	huge.Data = json.RawMessage(`"` + strings.Repeat("y", 2<<20) + `"`)
	_, err = s.Append(c, "huge", events.Any, huge)
	require.ErrorIs(t, err, esdb.ErrAppendTooLarge, "one event over the limit")

	// Splitting, and a server whose limit is below ours.
	split, _ := open(t, esdb.Options{SplitLargeAppends: true})
	res, err := split.Append(c, "big", events.NoStream, evs...)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), res.NextRevision)
	again, err := split.Append(c, "big", events.NoStream, evs...)
	require.NoError(t, err, "a retried split append is idempotent")
	assert.Equal(t, res, again)
	got, err := split.ReadStream(c, "big", 0, 0)
	require.NoError(t, err)
	require.Len(t, got, 4)

	lying, _ := open(t, esdb.Options{MaxAppendSize: 4 << 20})
	_, err = lying.Append(c, "big", events.NoStream, evs...)
	require.ErrorIs(t, err, esdb.ErrAppendTooLarge, "the server's refusal is recognised")
	require.ErrorContains(t, err, "refused by the server")
}

func TestSubscribeFromPositionAndNamespace(t *testing.T) {
	s, srv := open(t, esdb.Options{Namespace: "ns1-"})
	c := testCtx(t)
	other, err := esdb.Open(c, srv.ConnString(), esdb.Options{Namespace: "ns2-", Logger: quiet()})
	require.NoError(t, err)
	defer other.Close()
	var mine []events.Event
	for i := 0; i < 4; i++ {
		mine = append(mine, storetest.Ev("T", i))
		_, err := s.Append(c, "a", events.Any, mine[i])
		require.NoError(t, err)
		_, err = other.Append(c, "a", events.Any, storetest.Ev("T", i))
		require.NoError(t, err)
	}
	all, err := s.ReadAll(c, events.Start, 0)
	require.NoError(t, err)
	require.Len(t, all, 4, "only the namespace's events")
	assert.Equal(t, "a", all[0].Stream, "the namespace is not visible")
	sub, err := s.SubscribeAll(c, all[1].Position, events.Filter{StreamPrefixes: []string{"a"}})
	require.NoError(t, err)
	defer sub.Close()
	for _, want := range mine[2:] {
		select {
		case r := <-sub.Events():
			assert.Equal(t, want.ID, r.ID)
		case <-time.After(5 * time.Second):
			t.Fatal("subscription stalled")
		}
	}
}
