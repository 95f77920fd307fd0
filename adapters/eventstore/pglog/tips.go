package pglog

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
)

// tip is where a stream's hash chain ends: the revision of its last event
// (-1 for a stream with no events) and that event's hash.
type tip struct {
	rev  int64
	hash string
}

// noTip is the tip of a stream that does not exist yet.
var noTip = tip{rev: -1}

// tipCache remembers the tips this process appended, so that the next
// append to the same stream can be sealed without reading the log first.
// An entry may be stale (another process appended since); append_sealed
// then refuses the append with BLTIP and the store reads the tip again.
type tipCache struct {
	mu  sync.Mutex
	max int
	m   map[string]tip
}

// maxCachedTips bounds the cache; when it is full it starts over, which
// only costs one tip read per stream appended to again.
const maxCachedTips = 1 << 16

func newTipCache(max int) *tipCache {
	return &tipCache{max: max, m: make(map[string]tip)}
}

func (c *tipCache) get(stream string) (tip, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[stream]
	return t, ok
}

func (c *tipCache) put(stream string, t tip) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[stream] = t
}

func (c *tipCache) forget(streams ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range streams {
		delete(c.m, s)
	}
}

// querier is what reading tips needs of a pool or a transaction.
type querier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}

// readTips reads the tips of streams from the log; a stream with no events
// gets noTip.
func readTips(ctx context.Context, q querier, streams []string) (map[string]tip, error) {
	rows, err := q.Query(ctx, `select s.stream, s.revision, coalesce(e.metadata->>'hash', '')
		from ledger.streams s join ledger.events e on e.stream = s.stream and e.revision = s.revision
		where s.stream = any($1)`, streams)
	if err != nil {
		return nil, fmt.Errorf("read stream tips: %w", err)
	}
	out := make(map[string]tip, len(streams))
	for _, s := range streams {
		out[s] = noTip
	}
	var (
		stream string
		t      tip
	)
	_, err = pgx.ForEachRow(rows, []any{&stream, &t.rev, &t.hash}, func() error {
		out[stream] = t
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read stream tips: %w", err)
	}
	return out, nil
}
