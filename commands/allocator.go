package commands

import (
	"context"
	"fmt"
	"sync"

	"buildledger/domain/ids"
	"buildledger/domain/streams"
	"buildledger/events"
)

// DefaultBlockSizes are the reservation block sizes per id kind: builds
// are taken in blocks of 100 (an evaluation queues many), evals and
// jobsets one at a time so that their ids stay dense.
var DefaultBlockSizes = map[string]int64{ids.KindBuild: 100, ids.KindEval: 1, ids.KindJobset: 1}

// AllocatorOptions tune an Allocator.
type AllocatorOptions struct {
	// BlockSizes maps an id kind to how many ids one reservation takes.
	// Kinds not listed use 1. Default DefaultBlockSizes.
	BlockSizes map[string]int64
	// Actor is recorded on IDsReserved events. Default
	// ComponentActor("id-allocator").
	Actor string
}

// Allocator hands out numeric ids (builds, evals, jobsets) that are unique
// across every allocator of the ledger: each reserves blocks of ids by
// appending IDsReserved to ids-<kind> at the revision it read, retrying on
// conflict, and serves ids from its current block. Ids lost with an
// allocator's unused block are gaps, never duplicates. An Allocator is
// safe for concurrent use.
type Allocator struct {
	rt     *Runtime
	sizes  map[string]int64
	actor  string
	mu     sync.Mutex
	blocks map[string]*idBlock
	known  map[string]Loaded[ids.State]
}

type idBlock struct{ next, end int64 }

// IDsAggregate folds an ids-<kind> stream.
var IDsAggregate = Aggregate[ids.State]{Name: "ids", Evolve: ids.Evolve}

// NewAllocator returns an Allocator writing through rt.
func NewAllocator(rt *Runtime, opts AllocatorOptions) *Allocator {
	a := &Allocator{rt: rt, sizes: opts.BlockSizes, actor: opts.Actor,
		blocks: make(map[string]*idBlock), known: make(map[string]Loaded[ids.State])}
	if a.sizes == nil {
		a.sizes = DefaultBlockSizes
	}
	if a.actor == "" {
		a.actor = ComponentActor("id-allocator")
	}
	return a
}

// Next returns the first of n consecutive fresh ids of kind. If the
// current block has fewer than n ids left, the rest of it is abandoned
// and a new block of max(n, block size) is reserved.
func (a *Allocator) Next(ctx context.Context, kind string, n int64) (int64, error) {
	if n < 1 {
		return 0, fmt.Errorf("allocate %d %s ids: count must be positive", n, kind)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.blocks[kind]
	if b == nil || b.end-b.next < n {
		size := max(n, a.sizes[kind], 1)
		first, err := a.reserve(ctx, kind, size)
		if err != nil {
			return 0, err
		}
		b = &idBlock{next: first, end: first + size}
		a.blocks[kind] = b
	}
	first := b.next
	b.next += n
	return first, nil
}

// reserve appends one IDsReserved of size ids and returns the first.
func (a *Allocator) reserve(ctx context.Context, kind string, size int64) (int64, error) {
	var reserved events.IDsReserved
	decide := func(s ids.State) ([]events.Payload, error) {
		ps, err := ids.Decide(s, ids.Reserve{Kind: kind, Count: size})
		if err == nil {
			reserved = *ps[0].(*events.IDsReserved)
		}
		return ps, err
	}
	md := events.Metadata{Actor: a.actor}
	_, l, err := execute(ctx, a.rt, streams.IDs(kind), IDsAggregate, a.known[kind], decide, md)
	a.known[kind] = l
	if err != nil {
		return 0, fmt.Errorf("reserve %d %s ids: %w", size, kind, err)
	}
	return reserved.First, nil
}
