// Package storetest is the contract every events.Store implementation
// must pass. An adapter's test calls Run with a function that returns a
// fresh, empty store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"buildledger/events"
)

// NewStore returns a fresh, empty store for one test.
type NewStore func(t *testing.T) events.Store

// Options relaxes parts of the contract a store cannot meet.
type Options struct {
	// PerStreamIDs means event ids are unique per stream only, as in
	// EventStoreDB: the store may accept an id already recorded in another
	// stream. The Postgres log makes ids unique in the whole log.
	PerStreamIDs bool
}

// Run runs the whole contract against stores made by newStore.
func Run(t *testing.T, newStore NewStore, opts ...Options) {
	var o Options
	for _, x := range opts {
		o = x
	}
	tests := []struct {
		name string
		fn   func(*testing.T, events.Store)
	}{
		{"ExpectedRevisions", testExpectedRevisions},
		{"IdempotentAppend", testIdempotentAppend},
		{"ReadStream", testReadStream},
		{"ReadAll", testReadAll},
		{"Metadata", testMetadata},
		{"HashChain", testHashChain},
		{"InvalidInput", testInvalidInput},
		{"RacingWriters", testRacingWriters},
		{"SubscribeCatchUpAndLive", testSubscribe},
		{"SubscribeFilter", testSubscribeFilter},
		{"ConcurrentWritersSubscriber", testConcurrentWritersSubscriber},
	}
	if !o.PerStreamIDs {
		tests = append(tests, struct {
			name string
			fn   func(*testing.T, events.Store)
		}{"DuplicateIDOtherStream", testDuplicateIDOtherStream})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// Ev returns a valid event of type typ with a small JSON body.
func Ev(typ string, n int) events.Event {
	return events.Event{
		ID:      events.NewID(time.Now()),
		Type:    typ,
		Version: 1,
		Data:    json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)),
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func testExpectedRevisions(t *testing.T, s events.Store) {
	c := ctx(t)
	_, err := s.Append(c, "s-a", events.StreamExists, Ev("T", 0))
	require.ErrorIs(t, err, events.ErrWrongRevision, "StreamExists on a missing stream")
	_, err = s.Append(c, "s-a", events.Exact(0), Ev("T", 0))
	require.ErrorIs(t, err, events.ErrWrongRevision, "Exact(0) on a missing stream")

	res, err := s.Append(c, "s-a", events.NoStream, Ev("T", 0), Ev("T", 1))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), res.NextRevision)

	_, err = s.Append(c, "s-a", events.NoStream, Ev("T", 2))
	require.ErrorIs(t, err, events.ErrWrongRevision, "NoStream on an existing stream")
	_, err = s.Append(c, "s-a", events.Exact(0), Ev("T", 2))
	require.ErrorIs(t, err, events.ErrWrongRevision, "stale Exact")
	_, err = s.Append(c, "s-a", events.Exact(5), Ev("T", 2))
	require.ErrorIs(t, err, events.ErrWrongRevision, "future Exact")

	res, err = s.Append(c, "s-a", events.Exact(1), Ev("T", 2))
	require.NoError(t, err)
	assert.Equal(t, uint64(2), res.NextRevision)
	res, err = s.Append(c, "s-a", events.StreamExists, Ev("T", 3))
	require.NoError(t, err)
	assert.Equal(t, uint64(3), res.NextRevision)
	res, err = s.Append(c, "s-a", events.Any, Ev("T", 4))
	require.NoError(t, err)
	assert.Equal(t, uint64(4), res.NextRevision)
	res, err = s.Append(c, "s-b", events.Any, Ev("T", 0))
	require.NoError(t, err)
	assert.Equal(t, uint64(0), res.NextRevision)

	got, err := s.ReadStream(c, "s-a", 0, 0)
	require.NoError(t, err)
	require.Len(t, got, 5, "failed appends wrote nothing")
	for i, r := range got {
		assert.Equal(t, uint64(i), r.Revision)
		assert.JSONEq(t, fmt.Sprintf(`{"n":%d}`, i), string(r.Data))
	}
}

func testIdempotentAppend(t *testing.T, s events.Store) {
	c := ctx(t)
	a, b := Ev("T", 1), Ev("T", 2)
	first, err := s.Append(c, "idem", events.NoStream, a, b)
	require.NoError(t, err)
	again, err := s.Append(c, "idem", events.NoStream, a, b)
	require.NoError(t, err, "re-appending the same ids is a no-op")
	assert.Equal(t, first, again)
	got, err := s.ReadStream(c, "idem", 0, 0)
	require.NoError(t, err)
	assert.Len(t, got, 2)

	_, err = s.Append(c, "idem", events.Any, a, Ev("T", 3))
	require.Error(t, err, "a batch that partly overlaps recorded ids is refused")
	got, err = s.ReadStream(c, "idem", 0, 0)
	require.NoError(t, err)
	assert.Len(t, got, 2)
}

func testDuplicateIDOtherStream(t *testing.T, s events.Store) {
	c := ctx(t)
	a := Ev("T", 1)
	_, err := s.Append(c, "idem", events.NoStream, a)
	require.NoError(t, err)
	_, err = s.Append(c, "other", events.Any, a)
	require.Error(t, err, "a recorded id cannot be appended to another stream")
	_, err = s.ReadStream(c, "other", 0, 0)
	assert.ErrorIs(t, err, events.ErrStreamNotFound)
}

func testReadStream(t *testing.T, s events.Store) {
	c := ctx(t)
	_, err := s.ReadStream(c, "missing", 0, 10)
	require.ErrorIs(t, err, events.ErrStreamNotFound)
	var evs []events.Event
	for i := 0; i < 10; i++ {
		evs = append(evs, Ev("T", i))
	}
	_, err = s.Append(c, "rs", events.NoStream, evs...)
	require.NoError(t, err)
	got, err := s.ReadStream(c, "rs", 3, 4)
	require.NoError(t, err)
	require.Len(t, got, 4)
	for i, r := range got {
		assert.Equal(t, uint64(3+i), r.Revision)
		assert.Equal(t, evs[3+i].ID, r.ID)
		assert.Equal(t, "rs", r.Stream)
		assert.Equal(t, "T", r.Type)
		assert.Equal(t, 1, r.Version)
		assert.False(t, r.RecordedAt.IsZero())
	}
	got, err = s.ReadStream(c, "rs", 10, 5)
	require.NoError(t, err)
	assert.Empty(t, got, "reading past the end of an existing stream is empty, not an error")
}

func testReadAll(t *testing.T, s events.Store) {
	c := ctx(t)
	head, err := s.Head(c)
	require.NoError(t, err)
	assert.True(t, head.IsStart(), "a fresh store's head is Start")
	var ids []string
	for i := 0; i < 6; i++ {
		e1, e2 := Ev("T", i), Ev("U", i)
		ids = append(ids, e1.ID, e2.ID)
		_, err := s.Append(c, fmt.Sprintf("ra-%d", i%3), events.Any, e1, e2)
		require.NoError(t, err)
	}
	all, err := s.ReadAll(c, events.Start, 100)
	require.NoError(t, err)
	require.Len(t, all, 12)
	for i, r := range all {
		assert.Equal(t, ids[i], r.ID, "log order is append order")
		if i > 0 {
			assert.True(t, all[i-1].Position.Less(r.Position), "positions increase")
		}
	}
	page, err := s.ReadAll(c, all[4].Position, 3)
	require.NoError(t, err)
	require.Len(t, page, 3)
	assert.Equal(t, ids[5:8], []string{page[0].ID, page[1].ID, page[2].ID})
	head, err = s.Head(c)
	require.NoError(t, err)
	assert.Equal(t, all[11].Position, head)
	rest, err := s.ReadAll(c, head, 10)
	require.NoError(t, err)
	assert.Empty(t, rest)
}

func testMetadata(t *testing.T, s events.Store) {
	c := ctx(t)
	ev := Ev("T", 1)
	ev.Data = json.RawMessage(`{"b": 2,  "a": [1, "x"], "u": "ünïcode"}`)
	ev.Metadata = events.Metadata{Actor: "user:alice", CorrelationID: "corr-1", CausationID: "cause-1", Host: "h1", PrevHash: "p", Hash: "h"}
	_, err := s.Append(c, "md", events.NoStream, ev)
	require.NoError(t, err)
	got, err := s.ReadStream(c, "md", 0, 1)
	require.NoError(t, err)
	require.Len(t, got, 1)
	want := ev.Metadata
	want.PrevHash, want.Hash = "", ""
	gotMD := got[0].Metadata
	assert.Equal(t, events.RecordedHash(got[0]), gotMD.Hash, "the store seals each event with its content hash")
	gotMD.PrevHash, gotMD.Hash = "", ""
	assert.Equal(t, want, gotMD, "the store replaces the caller's chain fields")
	assert.Equal(t, string(ev.Data), string(got[0].Data), "data bytes are kept exactly")
}

func testInvalidInput(t *testing.T, s events.Store) {
	c := ctx(t)
	bad := []struct {
		stream string
		ev     events.Event
		want   error
	}{
		{"", Ev("T", 0), events.ErrInvalidStream},
		{"has space", Ev("T", 0), events.ErrInvalidStream},
		{"ctl\x00char", Ev("T", 0), events.ErrInvalidStream},
		{"$system", Ev("T", 0), events.ErrInvalidStream},
		{"bad\xffutf8", Ev("T", 0), events.ErrInvalidStream},
		{"ok", events.Event{ID: "not-a-uuid", Type: "T", Version: 1, Data: json.RawMessage(`{}`)}, events.ErrInvalidEvent},
		{"ok", events.Event{ID: events.NewID(time.Now()), Type: "", Version: 1, Data: json.RawMessage(`{}`)}, events.ErrInvalidEvent},
		{"ok", events.Event{ID: events.NewID(time.Now()), Type: "T", Version: 0, Data: json.RawMessage(`{}`)}, events.ErrInvalidEvent},
		{"ok", events.Event{ID: events.NewID(time.Now()), Type: "T", Version: 1, Data: json.RawMessage(`{not json`)}, events.ErrInvalidEvent},
	}
	for _, b := range bad {
		_, err := s.Append(c, b.stream, events.Any, b.ev)
		assert.ErrorIs(t, err, b.want, "stream %q event %+v", b.stream, b.ev)
	}
	good := Ev("T", 1)
	_, err := s.Append(c, "ok", events.Any, good, events.Event{ID: "x", Type: "T", Version: 1, Data: json.RawMessage(`{}`)})
	require.ErrorIs(t, err, events.ErrInvalidEvent, "one bad event fails the whole append")
	_, err = s.Append(c, "ok", events.Any, good, good)
	require.ErrorIs(t, err, events.ErrInvalidEvent, "the same id twice in one append")
	all, err := s.ReadAll(c, events.Start, 10)
	require.NoError(t, err)
	assert.Empty(t, all, "nothing was written")
}

func testRacingWriters(t *testing.T, s events.Store) {
	c := ctx(t)
	_, err := s.Append(c, "race", events.NoStream, Ev("T", 0))
	require.NoError(t, err)
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	start := make(chan struct{})
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			_, errs[i] = s.Append(c, "race", events.Exact(0), Ev("T", i+1))
		}(i)
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			assert.ErrorIs(t, err, events.ErrWrongRevision)
		}
	}
	assert.Equal(t, 1, won, "exactly one writer wins")
	got, err := s.ReadStream(c, "race", 0, 0)
	require.NoError(t, err)
	assert.Len(t, got, 2)
}

func collect(t *testing.T, sub events.Subscription, n int, timeout time.Duration) []events.Recorded {
	t.Helper()
	var out []events.Recorded
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case r, ok := <-sub.Events():
			if !ok {
				t.Fatalf("subscription ended after %d of %d events: %v", len(out), n, sub.Err())
			}
			out = append(out, r)
		case <-deadline:
			t.Fatalf("timed out after %d of %d events", len(out), n)
		}
	}
	return out
}

func testSubscribe(t *testing.T, s events.Store) {
	c := ctx(t)
	for i := 0; i < 5; i++ {
		_, err := s.Append(c, "sub-a", events.Any, Ev("T", i))
		require.NoError(t, err)
	}
	all, err := s.ReadAll(c, events.Start, 10)
	require.NoError(t, err)
	sub, err := s.SubscribeAll(c, all[1].Position, events.Filter{})
	require.NoError(t, err)
	defer sub.Close()
	got := collect(t, sub, 3, 10*time.Second)
	assert.Equal(t, all[2].ID, got[0].ID, "starts after the given position")
	e := Ev("T", 99)
	_, err = s.Append(c, "sub-b", events.Any, e)
	require.NoError(t, err)
	live := collect(t, sub, 1, 10*time.Second)
	assert.Equal(t, e.ID, live[0].ID, "live events arrive")
	require.NoError(t, sub.Close())
	_, open := <-sub.Events()
	assert.False(t, open, "Close ends the channel")
	assert.NoError(t, sub.Err())
}

func testSubscribeFilter(t *testing.T, s events.Store) {
	c := ctx(t)
	sub, err := s.SubscribeAll(c, events.Start, events.Filter{StreamPrefixes: []string{"build-"}, Types: []string{"Wanted"}})
	require.NoError(t, err)
	defer sub.Close()
	want := Ev("Wanted", 1)
	_, err = s.Append(c, "build-1", events.Any, Ev("Other", 0), want)
	require.NoError(t, err)
	_, err = s.Append(c, "eval-1", events.Any, Ev("Wanted", 2))
	require.NoError(t, err)
	last := Ev("Wanted", 3)
	_, err = s.Append(c, "build-2", events.Any, last)
	require.NoError(t, err)
	got := collect(t, sub, 2, 10*time.Second)
	assert.Equal(t, []string{want.ID, last.ID}, []string{got[0].ID, got[1].ID})
}

// testConcurrentWritersSubscriber is the ordering proof: writers append
// concurrently while a subscriber reads; it must see every event exactly
// once, in strictly increasing position order.
func testConcurrentWritersSubscriber(t *testing.T, s events.Store) {
	c := ctx(t)
	const writers, perWriter = 8, 40
	sub, err := s.SubscribeAll(c, events.Start, events.Filter{})
	require.NoError(t, err)
	defer sub.Close()
	var wg sync.WaitGroup
	sent := make(chan string, writers*perWriter*2)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				evs := []events.Event{Ev("T", i)}
				if i%4 == 0 {
					evs = append(evs, Ev("T", i))
				}
				if _, err := s.Append(c, fmt.Sprintf("cw-%d", w), events.Any, evs...); err != nil {
					t.Error(err)
					return
				}
				for _, e := range evs {
					sent <- e.ID
				}
			}
		}(w)
	}
	wg.Wait()
	close(sent)
	want := map[string]bool{}
	for id := range sent {
		want[id] = true
	}
	got := collect(t, sub, len(want), 30*time.Second)
	seen := map[string]bool{}
	for i, r := range got {
		require.False(t, seen[r.ID], "event %s delivered twice", r.ID)
		seen[r.ID] = true
		require.True(t, want[r.ID], "unexpected event %s", r.ID)
		if i > 0 {
			require.True(t, got[i-1].Position.Less(r.Position), "positions out of order at %d", i)
		}
	}
	select {
	case r, ok := <-sub.Events():
		if ok {
			t.Fatalf("extra event delivered: %s", r.ID)
		}
	case <-time.After(300 * time.Millisecond):
	}
	if err := sub.Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// testHashChain checks that the store seals every event into its stream's
// hash chain, across appends with every kind of expected revision.
func testHashChain(t *testing.T, s events.Store) {
	c := ctx(t)
	_, err := s.Append(c, "chain-a", events.NoStream, Ev("T", 1), Ev("T", 2))
	require.NoError(t, err)
	_, err = s.Append(c, "chain-b", events.Any, Ev("T", 3))
	require.NoError(t, err)
	_, err = s.Append(c, "chain-a", events.Any, Ev("T", 4))
	require.NoError(t, err)
	_, err = s.Append(c, "chain-a", events.Exact(2), Ev("T", 5), Ev("T", 6))
	require.NoError(t, err)
	_, err = s.Append(c, "chain-b", events.StreamExists, Ev("T", 7))
	require.NoError(t, err)
	v := events.NewChainVerifier()
	n := 0
	for _, stream := range []string{"chain-a", "chain-b"} {
		recs, err := s.ReadStream(c, stream, 0, 100)
		require.NoError(t, err)
		for _, r := range recs {
			require.NoError(t, v.Add(r))
			n++
		}
	}
	assert.Equal(t, 7, n)
	a, err := s.ReadStream(c, "chain-a", 0, 10)
	require.NoError(t, err)
	require.Len(t, a, 5)
	assert.Empty(t, a[0].Metadata.PrevHash)
	for i := 1; i < len(a); i++ {
		assert.Equal(t, a[i-1].Metadata.Hash, a[i].Metadata.PrevHash, "revision %d links to %d", i, i-1)
	}
}
