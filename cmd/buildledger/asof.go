package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/queries"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/insights"
	"buildledger/web"
)

// asOfCache serves the read models as they were at a log position: each
// position is replayed once into the scratch schema asof_<position> and
// kept; only the most recent keep schemas stay, older ones are dropped.
type asOfCache struct {
	sys  *system
	keep int

	mu    sync.Mutex
	pools map[string]*pgxpool.Pool
	order []string // schemas, least recently used first
}

func newAsOfCache(sys *system, keep int) *asOfCache {
	return &asOfCache{sys: sys, keep: max(keep, 1), pools: map[string]*pgxpool.Pool{}}
}

// queries implements web.AsOfFunc.
func (c *asOfCache) queries(ctx context.Context, at string) (web.Queries, string, error) {
	pool, pos, err := c.pool(ctx, at)
	if err != nil {
		return nil, "", err
	}
	return queries.New(pool), fmt.Sprintf("position %d", pos.Commit), nil
}

// pool returns a pool reading the read models as of at (a position or an
// RFC 3339 time), building them if needed.
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
	if pos.IsStart() {
		return nil, pos, fmt.Errorf("the log has no event at or before %s", at)
	}
	name := fmt.Sprintf("asof_%d", pos.Commit)
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pools[name]; ok {
		c.touch(name)
		return p, pos, nil
	}
	schemas := postgres.NewSchemas(c.sys.pool)
	var exists bool
	if err := c.sys.pool.QueryRow(ctx, `select exists(select 1 from pg_namespace where nspname = $1)`, name).Scan(&exists); err != nil {
		return nil, pos, fmt.Errorf("look up schema %s: %w", name, err)
	}
	if !exists {
		_, err := projections.Replay(ctx, c.sys.store, c.sys.codec, schemas, readModels(), projections.ReplayOptions{Target: name, Until: pos})
		if err != nil {
			return nil, pos, fmt.Errorf("replay up to position %d: %w", pos.Commit, err)
		}
	}
	p, err := schemas.PoolFor(ctx, name)
	if err != nil {
		return nil, pos, err
	}
	c.pools[name] = p
	c.touch(name)
	c.prune(ctx, schemas)
	return p, pos, nil
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
func (s *system) asOfFunc() web.AsOfFunc { return newAsOfCache(s, 4).queries }

// insightQueries answers the web's insight pages from the live read models.
func (s *system) insightQueries() web.InsightQueries {
	return insights.Reader{DB: postgres.NewReadModelDB(s.pool)}
}
