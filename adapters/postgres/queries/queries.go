// Package queries implements the web layer's read interfaces (web.Queries)
// with SQL over Hydra's tables and the ledger's read models.
package queries

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/domain/domainerr"
	"buildledger/web"
)

// DB answers the web layer's queries from one Postgres read-model schema
// (the pool's search_path).
type DB struct {
	pool *pgxpool.Pool
}

var _ web.Queries = (*DB)(nil)

// New returns the queries over pool.
func New(pool *pgxpool.Pool) *DB { return &DB{pool: pool} }

// notFound turns pgx.ErrNoRows into a domainerr.ErrNotFound error.
func notFound(err error, kind, name string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return domainerr.NotFound(kind, name)
	}
	return fmt.Errorf("query %s %s: %w", kind, name, err)
}

func limit(p web.Page, def int) (int, int) {
	l := p.Limit
	if l <= 0 {
		l = def
	}
	if l > 1000 {
		l = 1000
	}
	return max(p.Offset, 0), l
}

func boolInt(i int) bool { return i != 0 }
