package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/queries"
	"buildledger/domain/domainerr"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/insights"
	"buildledger/web"
)

// asOfCache serves the read models as they were at a log position: each
// position is replayed once into the schema asof_<position> and kept; only
// the most recent keep schemas stay, older ones are dropped.
//
// A replay reads the whole log up to its position, so the cache bounds
// what requests can make it do: positions at or past grid snap down to a
// multiple of it (below it a replay is cheap), one replay runs at a time
// and the next may start only minInterval after the last one did; other
// requests that need a replay get domainerr.ErrBusy. A replay writes into
// asofbuild_<position> and renames it when complete, so a schema left by
// a crash mid-replay is never served.
type asOfCache struct {
	sys         *system
	keep        int
	grid        uint64
	minInterval time.Duration

	building  sync.Mutex // held while a replay runs
	lastBuild time.Time  // guarded by building

	mu    sync.Mutex
	pools map[string]*pgxpool.Pool
	order []string // schemas, least recently used first
}

// Defaults of the as-of cache.
const (
	asOfKeep        = 4
	asOfGrid        = 1000
	asOfMinInterval = 10 * time.Second
)

func newAsOfCache(sys *system, keep int, grid uint64, minInterval time.Duration) *asOfCache {
	return &asOfCache{sys: sys, keep: max(keep, 1), grid: max(grid, 1), minInterval: minInterval, pools: map[string]*pgxpool.Pool{}}
}

// queries implements web.AsOfFunc.
func (c *asOfCache) queries(ctx context.Context, at string) (web.Queries, string, error) {
	pool, pos, err := c.pool(ctx, at)
	if err != nil {
		return nil, "", err
	}
	return queries.New(pool), fmt.Sprintf("position %d", pos.Commit), nil
}

// snap returns the position whose read models answer for pos.
func (c *asOfCache) snap(pos events.Position) events.Position {
	if pos.Commit < c.grid {
		return pos
	}
	return events.At(pos.Commit / c.grid * c.grid)
}

// pool returns a pool reading the read models as of at (a position or an
// RFC 3339 time, snapped), building them if needed and allowed.
func (c *asOfCache) pool(ctx context.Context, at string) (*pgxpool.Pool, events.Position, error) {
	pos, err := resolveUntil(ctx, c.sys, at)
	if err != nil {
		return nil, pos, err
	}
	head, err := c.sys.store.Head(ctx)
	if err != nil {
		return nil, pos, err
	}
	if head.Less(pos) {
		pos = head
	}
	pos = c.snap(pos)
	if pos.IsStart() {
		return nil, pos, fmt.Errorf("the log has no event at or before %s", at)
	}
	name := fmt.Sprintf("asof_%d", pos.Commit)
	if p := c.cached(name); p != nil {
		return p, pos, nil
	}
	schemas := postgres.NewSchemas(c.sys.pool)
	var exists bool
	if err := c.sys.pool.QueryRow(ctx, `select exists(select 1 from pg_namespace where nspname = $1)`, name).Scan(&exists); err != nil {
		return nil, pos, fmt.Errorf("look up schema %s: %w", name, err)
	}
	if !exists {
		if err := c.build(ctx, schemas, name, pos); err != nil {
			return nil, pos, err
		}
	}
	p, err := schemas.PoolFor(ctx, name)
	if err != nil {
		return nil, pos, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.pools[name]; old != nil {
		p.Close()
		p = old
	}
	c.pools[name] = p
	c.touch(name)
	c.prune(ctx, schemas)
	return p, pos, nil
}

// cached returns the open pool of schema name, if any.
func (c *asOfCache) cached(name string) *pgxpool.Pool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pools[name]
	if p != nil {
		c.touch(name)
	}
	return p
}

// build replays the log up to pos into schema name, if no other replay
// runs and the last one started minInterval ago or more.
func (c *asOfCache) build(ctx context.Context, schemas *postgres.Schemas, name string, pos events.Position) error {
	if !c.building.TryLock() {
		return domainerr.Busy("another point of the log's history is being built; ask again shortly")
	}
	defer c.building.Unlock()
	if wait := c.minInterval - time.Since(c.lastBuild); wait > 0 {
		return domainerr.Busy("a point of the log's history was built a moment ago; ask again in %s", wait.Round(time.Second))
	}
	c.lastBuild = time.Now()
	tmp := fmt.Sprintf("asofbuild_%d", pos.Commit)
	if err := schemas.Drop(ctx, tmp); err != nil {
		return err
	}
	if _, err := projections.Replay(ctx, c.sys.store, c.sys.codec, schemas, readModels(c.sys.vault), projections.ReplayOptions{Target: tmp, Until: pos}); err != nil {
		return fmt.Errorf("replay up to position %d: %w", pos.Commit, err)
	}
	return schemas.Rename(ctx, tmp, name)
}

func (c *asOfCache) touch(name string) {
	for i, n := range c.order {
		if n == name {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	c.order = append(c.order, name)
}

// prune drops the least recently used schemas beyond keep.
func (c *asOfCache) prune(ctx context.Context, schemas *postgres.Schemas) {
	for len(c.order) > c.keep {
		old := c.order[0]
		c.order = c.order[1:]
		if p := c.pools[old]; p != nil {
			p.Close()
		}
		delete(c.pools, old)
		if err := schemas.Drop(context.WithoutCancel(ctx), old); err != nil {
			c.sys.log.Warn("asof: drop old schema", "schema", old, "err", err)
		}
	}
}

// Close releases the pools (the schemas stay for the next process).
func (c *asOfCache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pools {
		p.Close()
	}
	c.pools = map[string]*pgxpool.Pool{}
}

// asOfFunc is the web's ?asof= source: a cache of the last few as-of
// schemas, for the life of the process.
func (s *system) asOfFunc() web.AsOfFunc {
	return newAsOfCache(s, asOfKeep, asOfGrid, asOfMinInterval).queries
}

// insightQueries answers the web's insight pages from the live read models.
func (s *system) insightQueries() web.InsightQueries {
	return insights.Reader{DB: postgres.NewReadModelDB(s.webPool)}
}
