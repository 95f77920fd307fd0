package evaluation

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/events"
)

// TestAppendEachGroups appends more streams than one multi-stream append
// takes, so that groups are encoded while earlier ones are appended, and
// checks that every stream lands once; and that a group the store refuses
// (one of its streams exists though NoStream was expected) falls back to
// appends one by one, which land the other streams and name the culprit.
func TestAppendEachGroups(t *testing.T) {
	ctx := context.Background()
	store := pglog.New(pgtest.NewPool(t), pglog.Options{})
	codec := events.NewCodec()
	rt := commands.NewRuntime(store, codec, commands.Options{})
	s := New(rt, codec, commands.NewAllocator(rt, commands.AllocatorOptions{}), Ports{}, Options{})
	md := commands.NewMetadata(commands.ComponentActor("test"), rt)
	batches := func(first, n int) []streamBatch {
		bs := make([]streamBatch, n)
		for i := range bs {
			id := int64(first + i)
			bs[i] = streamBatch{stream: fmt.Sprintf("build-%d", id), expect: events.NoStream,
				payloads: []events.Payload{&events.BuildQueued{BuildID: id, EvalID: 1, JobsetID: 1, Project: "p", Jobset: "j",
					Job: fmt.Sprintf("job%d", id), DrvPath: fmt.Sprintf("/nix/store/%032d-x.drv", id), System: "x86_64-linux"}}}
		}
		return bs
	}
	count := func() int {
		head, err := store.Head(ctx)
		require.NoError(t, err)
		return int(head.Commit)
	}

	n := 2*multiAppendStreams + 7
	require.NoError(t, s.appendEach(ctx, md, batches(1, n)))
	require.Equal(t, n, count())
	for _, id := range []int{1, multiAppendStreams + 1, n} {
		recs, err := store.ReadStream(ctx, fmt.Sprintf("build-%d", id), 0, 10)
		require.NoError(t, err)
		require.Len(t, recs, 1)
	}

	// build-(first+600) exists already: its group is refused as a whole.
	first := n + 1
	culprit := fmt.Sprintf("build-%d", first+600)
	_, err := store.Append(ctx, culprit, events.NoStream, mustEncode(t, codec, md, &events.BuildKept{BuildID: 1, Keep: true}))
	require.NoError(t, err)
	before := count()
	err = s.appendEach(ctx, md, batches(first, n))
	require.ErrorContains(t, err, culprit)
	// The groups before and after the refused one landed whole; the
	// fallback stops at its first error.
	require.GreaterOrEqual(t, count(), before+multiAppendStreams+7)
	for _, id := range []int{first, first + 2*multiAppendStreams} {
		recs, err := store.ReadStream(ctx, fmt.Sprintf("build-%d", id), 0, 10)
		require.NoError(t, err)
		require.Len(t, recs, 1)
	}
	recs, err := store.ReadStream(ctx, culprit, 0, 10)
	require.NoError(t, err)
	require.Len(t, recs, 1, "the culprit keeps only its own event")
}

func mustEncode(t *testing.T, codec *events.Codec, md events.Metadata, p events.Payload) events.Event {
	t.Helper()
	ev, err := codec.Encode(p, md, time.Now())
	require.NoError(t, err)
	return ev
}
