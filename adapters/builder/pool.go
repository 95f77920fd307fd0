package builder

import (
	"context"
	"fmt"
	"sync"
	"time"

	"buildledger/adapters/nix/serve"
	"buildledger/commands"
	"buildledger/domain/machine"
)

const (
	// spareHandshakeTimeout bounds the handshake of a spare session.
	spareHandshakeTimeout = 30 * time.Second
	// logSyncTimeout bounds waiting for a step's log to be drained from
	// a session that goes back to the pool.
	logSyncTimeout = 5 * time.Second
	// maxIdle is how long an idle local session is kept. It bounds how
	// stale nix-store's cache of path validity can get, e.g. after a
	// garbage collection.
	maxIdle = time.Minute
)

// session is a handshaken serve session.
type session struct {
	link   *link
	client *serve.Client
	// expire closes the session while it is idle in the pool.
	expire *time.Timer
}

// sessionPool keeps idle local serve sessions per builder store. Starting
// nix-store costs about as much as building a trivial derivation, and one
// nix-store serves any number of steps one after the other: a step takes
// an idle session, its stderr goes to the step's log while the step uses
// it, and the session goes back when the step is done with it and it is
// healthy. When a step takes the last idle session, a spare one is
// started for the next step.
type sessionPool struct {
	mu        sync.Mutex
	idle      map[string][]*session
	preparing map[string]bool
}

// connect returns a handshaken serve session for the step, its stderr
// going to log. A failure is returned as the step's error message.
func (w *Worker) connect(ctx context.Context, c commands.BuildStep, log *stepLog) (*session, string) {
	local := c.MachineConfig.URI == machine.Localhost
	if local {
		if s := w.takeSession(c.MachineConfig.Store, log); s != nil {
			w.startSpare(c.MachineConfig.Store, c.MachineConfig.MaxJobs)
			return s, ""
		}
	}
	l, err := w.open(ctx, c.Machine, c.MachineConfig, log)
	if err != nil {
		return nil, err.Error()
	}
	client, err := serve.NewClient(ctx, l)
	if err != nil {
		exitErr := l.abort()
		return nil, connectError(c.Machine, err, exitErr, log.tail.String())
	}
	client.SpoolDir = w.cfg.SpoolDir
	if local {
		// Only now: two nix-store processes creating a new store at once
		// can find its database schema half written.
		w.startSpare(c.MachineConfig.Store, c.MachineConfig.MaxJobs)
	}
	return &session{link: l, client: client}, ""
}

// release ends the step's use of s. A local session that is healthy (no
// call failed, the step was not cancelled, the log was drained and ended
// with a whole line) goes back to the pool; any other one is closed, and
// its log ends with it.
func (w *Worker) release(ctx context.Context, c commands.BuildStep, s *session) {
	logs := s.link.logs
	if logs != nil && ctx.Err() == nil && s.client.Err() == nil && logs.sync(logSyncTimeout) && logs.detach() {
		w.putSession(c.MachineConfig.Store, c.MachineConfig.MaxJobs, s)
		return
	}
	if err := s.link.finish(); err != nil {
		w.log.Warn("serve session ended with an error after the build", "machine", c.Machine, "err", err)
	}
}

// idleLimit is how many idle sessions are kept for a machine running at
// most maxJobs steps at once: one for each, and a spare.
func idleLimit(maxJobs int) int { return max(maxJobs, 1) + 1 }

// putSession keeps s idle for the next step on store, or closes it if
// enough are kept or the worker is closing.
func (w *Worker) putSession(store string, maxJobs int, s *session) {
	w.pool.mu.Lock()
	keep := w.ctx.Err() == nil && len(w.pool.idle[store]) < idleLimit(maxJobs)
	if keep {
		w.pool.idle[store] = append(w.pool.idle[store], s)
		s.expire = time.AfterFunc(maxIdle, func() { w.expire(store, s) })
	}
	w.pool.mu.Unlock()
	if !keep {
		go s.link.finish()
	}
}

// expire closes the idle session s.
func (w *Worker) expire(store string, s *session) {
	w.pool.mu.Lock()
	idle := w.pool.idle[store]
	for i, x := range idle {
		if x == s {
			w.pool.idle[store] = append(idle[:i:i], idle[i+1:]...)
			break
		}
	}
	w.pool.mu.Unlock()
	s.link.finish()
}

// takeSession returns the most recently used idle session for store whose
// command is alive, its stderr now going to log; nil if there is none.
func (w *Worker) takeSession(store string, log *stepLog) *session {
	for {
		w.pool.mu.Lock()
		idle := w.pool.idle[store]
		if len(idle) == 0 {
			w.pool.mu.Unlock()
			return nil
		}
		s := idle[len(idle)-1]
		w.pool.idle[store] = idle[:len(idle)-1]
		w.pool.mu.Unlock()
		if !s.expire.Stop() {
			// Expiring: expire closes it.
			continue
		}
		select {
		case <-s.link.exited:
		default:
			if s.link.logs.attach(log) {
				return s
			}
		}
		go s.link.abort()
	}
}

// startSpare starts preparing a spare session for store, unless an idle
// one is there or one is being prepared.
func (w *Worker) startSpare(store string, maxJobs int) {
	w.pool.mu.Lock()
	start := !w.pool.preparing[store] && len(w.pool.idle[store]) == 0 && w.ctx.Err() == nil
	if start {
		w.pool.preparing[store] = true
	}
	w.pool.mu.Unlock()
	if start {
		go w.prepareSpare(store, maxJobs)
	}
}

// prepareSpare starts a local serve session for store and keeps it idle.
func (w *Worker) prepareSpare(store string, maxJobs int) {
	defer func() {
		w.pool.mu.Lock()
		w.pool.preparing[store] = false
		w.pool.mu.Unlock()
	}()
	s, err := w.newSpare(store)
	if err != nil {
		w.log.Debug("no spare local serve session", "store", store, "err", err)
		return
	}
	w.putSession(store, maxJobs, s)
}

func (w *Worker) newSpare(store string) (*session, error) {
	l, err := w.openLocal(store, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(w.ctx, spareHandshakeTimeout)
	defer cancel()
	client, err := serve.NewClient(ctx, l)
	if err != nil {
		l.abort()
		return nil, fmt.Errorf("spare serve session: %w", err)
	}
	client.SpoolDir = w.cfg.SpoolDir
	return &session{link: l, client: client}, nil
}

// closeSessions ends the idle sessions.
func (w *Worker) closeSessions() {
	w.pool.mu.Lock()
	idle := w.pool.idle
	w.pool.idle = map[string][]*session{}
	w.pool.mu.Unlock()
	for _, list := range idle {
		for _, s := range list {
			if s.expire.Stop() {
				s.link.abort()
			}
		}
	}
}
