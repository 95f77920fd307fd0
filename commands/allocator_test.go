package commands_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"buildledger/commands"
	"buildledger/domain/ids"
	"buildledger/events"

	"github.com/stretchr/testify/require"
)

// TestAllocatorConcurrent runs 16 allocators (as 16 processes would) that
// each take build ids in a loop: every id is distinct, every id lies in a
// block one of them reserved, and the reserved blocks tile 1..N.
func TestAllocatorConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, store := newRuntime(t, commands.Options{MaxAttempts: 1000})
	const allocators, perAllocator = 16, 40
	var (
		mu  sync.Mutex
		got []int64
		wg  sync.WaitGroup
	)
	errs := make(chan error, allocators)
	for range allocators {
		a := commands.NewAllocator(rt, commands.AllocatorOptions{BlockSizes: map[string]int64{ids.KindBuild: 7}})
		wg.Go(func() {
			for i := range perAllocator {
				n := int64(1 + i%3)
				first, err := a.Next(ctx, ids.KindBuild, n)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for k := range n {
					got = append(got, first+k)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	slices.Sort(got)
	require.Equal(t, len(got), len(slices.Compact(slices.Clone(got))), "duplicate ids")

	recs, err := store.ReadStream(ctx, "ids-build", 0, 10000)
	require.NoError(t, err)
	next := int64(1)
	inBlock := func(id int64) bool {
		for _, r := range recs {
			var b events.IDsReserved
			require.NoError(t, json.Unmarshal(r.Data, &b))
			if id >= b.First && id < b.First+b.Count {
				return true
			}
		}
		return false
	}
	for _, r := range recs {
		var b events.IDsReserved
		require.NoError(t, json.Unmarshal(r.Data, &b))
		require.Equal(t, next, b.First, "blocks are contiguous and disjoint")
		require.GreaterOrEqual(t, b.Count, int64(7))
		next = b.First + b.Count
		require.Equal(t, "component:id-allocator", r.Metadata.Actor)
		require.Equal(t, "testhost", r.Metadata.Host)
	}
	for _, id := range got {
		require.True(t, inBlock(id), "id %d outside every reserved block", id)
	}
}

func TestAllocatorBlocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, store := newRuntime(t, commands.Options{})
	a := commands.NewAllocator(rt, commands.AllocatorOptions{})
	for want := int64(1); want <= 3; want++ {
		id, err := a.Next(ctx, ids.KindEval, 1)
		require.NoError(t, err)
		require.Equal(t, want, id)
	}
	first, err := a.Next(ctx, ids.KindBuild, 1)
	require.NoError(t, err)
	require.Equal(t, int64(1), first)
	first, err = a.Next(ctx, ids.KindBuild, 99)
	require.NoError(t, err)
	require.Equal(t, int64(2), first, "served from the first block of 100")
	first, err = a.Next(ctx, ids.KindBuild, 2)
	require.NoError(t, err)
	require.Equal(t, int64(101), first, "a new block")
	first, err = a.Next(ctx, ids.KindBuild, 250)
	require.NoError(t, err)
	require.Equal(t, int64(201), first, "the rest of the second block is abandoned for a block of 250")

	b := commands.NewAllocator(rt, commands.AllocatorOptions{})
	first, err = b.Next(ctx, ids.KindBuild, 1)
	require.NoError(t, err)
	require.Equal(t, int64(451), first, "another allocator starts after every reserved block")

	recs, err := store.ReadStream(ctx, "ids-eval", 0, 10)
	require.NoError(t, err)
	require.Len(t, recs, 3, "evals are reserved one by one")

	_, err = a.Next(ctx, ids.KindBuild, 0)
	require.Error(t, err)
}
