package builder

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"buildledger/adapters/nix/serve"
	"buildledger/commands"
	"buildledger/domain/machine"
)

// spareHandshakeTimeout bounds the handshake of a spare session.
const spareHandshakeTimeout = 30 * time.Second

// spare is a started local serve session waiting for a step. Starting
// nix-store costs about as much as building a trivial derivation, so the
// worker keeps one ready per local store: each step still gets a session
// of its own (its stderr ends with its log), but does not wait for it.
type spare struct {
	link   *link
	client *serve.Client
	logs   *serve.LogSwitch
}

// spares holds at most one spare session per local builder store.
type spares struct {
	mu    sync.Mutex
	ready map[string]*spare
	busy  map[string]bool
}

// connect opens the step's serve session and does the handshake. A
// failure is returned as the step's error message.
func (w *Worker) connect(ctx context.Context, c commands.BuildStep, log *stepLog) (*link, *serve.Client, string) {
	local := c.MachineConfig.URI == machine.Localhost
	if local {
		if sp := w.takeSpare(c.MachineConfig.Store); sp != nil {
			sp.logs.Set(log)
			w.startSpare(c.MachineConfig.Store)
			return sp.link, sp.client, ""
		}
	}
	l, err := w.open(ctx, c.Machine, c.MachineConfig, log)
	if err != nil {
		return nil, nil, err.Error()
	}
	client, err := serve.NewClient(ctx, l)
	if err != nil {
		exitErr := l.abort()
		return nil, nil, connectError(c.Machine, err, exitErr, log.tail.String())
	}
	client.SpoolDir = w.cfg.SpoolDir
	if local {
		// Only now: two nix-store processes creating a new store at once
		// can find its database schema half written.
		w.startSpare(c.MachineConfig.Store)
	}
	return l, client, ""
}

// startSpare starts preparing the next spare session for store, unless
// one is being prepared.
func (w *Worker) startSpare(store string) {
	w.spares.mu.Lock()
	start := !w.spares.busy[store] && w.spares.ready[store] == nil && w.ctx.Err() == nil
	if start {
		w.spares.busy[store] = true
	}
	w.spares.mu.Unlock()
	if start {
		go w.prepareSpare(store)
	}
}

// takeSpare returns the spare session for store if one is ready and
// alive.
func (w *Worker) takeSpare(store string) *spare {
	w.spares.mu.Lock()
	sp := w.spares.ready[store]
	delete(w.spares.ready, store)
	w.spares.mu.Unlock()
	if sp == nil {
		return nil
	}
	select {
	case <-sp.link.exited:
		sp.link.abort()
		return nil
	default:
		return sp
	}
}

// prepareSpare starts a local serve session for store and keeps it.
func (w *Worker) prepareSpare(store string) {
	defer func() {
		w.spares.mu.Lock()
		w.spares.busy[store] = false
		w.spares.mu.Unlock()
	}()
	sp, err := w.newSpare(store)
	if err != nil {
		w.log.Debug("no spare local serve session", "store", store, "err", err)
		return
	}
	w.spares.mu.Lock()
	if w.spares.ready[store] == nil && w.ctx.Err() == nil {
		w.spares.ready[store] = sp
		sp = nil
	}
	w.spares.mu.Unlock()
	if sp != nil {
		sp.link.abort()
	}
}

func (w *Worker) newSpare(store string) (*spare, error) {
	logs := serve.NewLogSwitch(io.Discard)
	l, err := openLocal(w.ctx, w.cfg.LocalNixStore, serveArgs(store, w.cfg.NixStoreArgs), logs)
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
	return &spare{link: l, client: client, logs: logs}, nil
}

// closeSpares ends the spare sessions.
func (w *Worker) closeSpares() {
	w.spares.mu.Lock()
	ready := w.spares.ready
	w.spares.ready = map[string]*spare{}
	w.spares.mu.Unlock()
	for _, sp := range ready {
		sp.link.abort()
	}
}
