package builder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"buildledger/adapters/nix/serve"
)

// maxQueryAge is how long the local query session is used before it is
// replaced. nix-store keeps the path infos it has read in memory, so this
// bounds how stale its view of the local store can get (e.g. after a
// garbage collection), as maxIdle does for the builders' sessions.
const maxQueryAge = time.Minute

// localQueries is a serve session on the local store that answers the
// metadata queries of every step: the closure and path infos of the
// inputs to copy and of the derivation to upload. Starting a nix process
// for each of them cost more than the build of a trivial derivation.
//
// Calls on the session are serialised. A failed call, an exited command
// or an old session makes the next caller start a new one; a query that
// fails is tried once more on a new session, so one step's broken or
// cancelled call does not fail the others, and an answer "not valid" is
// never kept by a session that could have cached it.
type localQueries struct {
	mu     sync.Mutex
	sess   *session
	tail   *tailBuffer
	opened time.Time
}

// localQuery runs f on the local query session.
func (w *Worker) localQuery(ctx context.Context, f func(*serve.Client) error) error {
	var err error
	for range 2 {
		var s *session
		var tail *tailBuffer
		s, tail, err = w.querySession(ctx)
		if err != nil {
			return err
		}
		if err = f(s.client); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			// A call that was cut off broke the session, which the next
			// caller then replaces; one that never started left it whole.
			break
		}
		w.dropQuerySession(s)
		if tl := lastLine(tail.String()); tl != "" {
			err = fmt.Errorf("%w: %s", err, tl)
		}
	}
	return fmt.Errorf("local store: %w", err)
}

// querySession returns the current local query session, starting one if
// there is none usable.
func (w *Worker) querySession(ctx context.Context) (*session, *tailBuffer, error) {
	q := &w.queries
	q.mu.Lock()
	defer q.mu.Unlock()
	if s := q.sess; s != nil {
		select {
		case <-s.link.exited:
		default:
			if s.client.Err() == nil && time.Since(q.opened) < maxQueryAge {
				return s, q.tail, nil
			}
		}
		q.sess = nil
		// Calls still running on it end with it; they are retried.
		go s.link.finish()
	}
	if err := w.ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("local store session: %w", err)
	}
	tail := newTailBuffer(4 << 10)
	l, err := w.openLocal(w.cfg.LocalStore, tail)
	if err != nil {
		return nil, nil, fmt.Errorf("local store session: %w", err)
	}
	client, err := serve.NewClient(ctx, l)
	if err != nil {
		exitErr := l.abort()
		return nil, nil, fmt.Errorf("local store session: %s", connectError("localhost", err, exitErr, tail.String()))
	}
	q.sess, q.tail, q.opened = &session{link: l, client: client}, tail, time.Now()
	return q.sess, tail, nil
}

// dropQuerySession ends s after a failed call, unless it was already
// replaced.
func (w *Worker) dropQuerySession(s *session) {
	q := &w.queries
	q.mu.Lock()
	if q.sess == s {
		q.sess = nil
	}
	q.mu.Unlock()
	s.link.abort()
}

// closeQuerySession ends the local query session.
func (w *Worker) closeQuerySession() {
	q := &w.queries
	q.mu.Lock()
	s := q.sess
	q.sess = nil
	q.mu.Unlock()
	if s != nil {
		s.link.abort()
	}
}

// localClosure returns the path infos of the closure of paths in the
// local store, references first. Every path of it must be valid.
func (w *Worker) localClosure(ctx context.Context, paths []string) ([]serve.PathInfo, error) {
	var infos []serve.PathInfo
	err := w.localQuery(ctx, func(c *serve.Client) error {
		closure, err := c.QueryClosure(ctx, paths, false)
		if err != nil {
			return err
		}
		infos, err = c.QueryPathInfos(ctx, closure)
		if err != nil {
			return err
		}
		if len(infos) != len(closure) {
			return errors.New(missingPaths(closure, infos))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("closure of %d paths: %w", len(paths), err)
	}
	return topoOrder(infos), nil
}

// missingPaths describes the paths of want that have no info.
func missingPaths(want []string, have []serve.PathInfo) string {
	got := make([]string, len(have))
	for i, p := range have {
		got[i] = p.Path
	}
	missing := subtract(want, got)
	slices.Sort(missing)
	return fmt.Sprintf("%d paths not valid: %v", len(missing), missing)
}
