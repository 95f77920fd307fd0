package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/events"
)

// Checkpoints keeps each notifier's position in the log.
type Checkpoints interface {
	// LoadCheckpoint returns the position of the last event name
	// handled; ok is false when it has none.
	LoadCheckpoint(ctx context.Context, name string) (pos events.Position, ok bool, err error)
	SaveCheckpoint(ctx context.Context, name string, pos events.Position) error
}

// Reactor is a notifier: it decides, for one event that passes Filter,
// which notifications to queue.
type Reactor interface {
	// Name names the reactor's checkpoint.
	Name() string
	Filter() events.Filter
	// React handles one decoded event. An error of kind
	// domainerr.ErrInvalid or ErrNotFound is about the event (logged and
	// skipped); others stop the Follower before the checkpoint moves.
	React(ctx context.Context, r events.Recorded, p events.Payload) error
}

// Follower runs a Reactor over the log from its checkpoint.
type Follower struct {
	rt  *commands.Runtime
	cps Checkpoints
	r   Reactor
	log *slog.Logger
	pos events.Position
}

// NewFollower returns a Follower of r.
func NewFollower(rt *commands.Runtime, cps Checkpoints, r Reactor, log *slog.Logger) *Follower {
	if log == nil {
		log = slog.Default()
	}
	return &Follower{rt: rt, cps: cps, r: r, log: log}
}

// page is how many events one catch-up read takes.
const page = 1000

// CatchUp handles the events after the checkpoint up to the log's head
// and saves the checkpoint. Without a checkpoint it starts at the head:
// a notifier first started on an old log does not announce its history.
func (f *Follower) CatchUp(ctx context.Context) error {
	store := f.rt.Store()
	pos, ok, err := f.cps.LoadCheckpoint(ctx, f.r.Name())
	if err != nil {
		return fmt.Errorf("%s: %w", f.r.Name(), err)
	}
	head, err := store.Head(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", f.r.Name(), err)
	}
	if !ok {
		f.pos = head
		return f.cps.SaveCheckpoint(ctx, f.r.Name(), head)
	}
	f.pos = pos
	for f.pos.Less(head) {
		recs, err := store.ReadAll(ctx, f.pos, page)
		if err != nil {
			return fmt.Errorf("%s: read from %v: %w", f.r.Name(), f.pos, err)
		}
		if len(recs) == 0 {
			break
		}
		if err := f.handle(ctx, recs); err != nil {
			return err
		}
	}
	return nil
}

// Run catches up, then handles live events until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	if err := f.CatchUp(ctx); err != nil {
		return err
	}
	sub, err := f.rt.Store().SubscribeAll(ctx, f.pos, f.r.Filter())
	if err != nil {
		return fmt.Errorf("%s: subscribe: %w", f.r.Name(), err)
	}
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case r, ok := <-sub.Events():
			if !ok {
				if err := sub.Err(); err != nil && ctx.Err() == nil {
					return fmt.Errorf("%s: subscription: %w", f.r.Name(), err)
				}
				return nil
			}
			recs := []events.Recorded{r}
			for more := len(sub.Events()); more > 0; more-- {
				recs = append(recs, <-sub.Events())
			}
			if err := f.handle(ctx, recs); err != nil {
				return err
			}
		}
	}
}

// handle reacts to the events of recs that pass the filter, then saves
// the checkpoint after the last.
func (f *Follower) handle(ctx context.Context, recs []events.Recorded) error {
	filter := f.r.Filter()
	for _, r := range recs {
		if !filter.Match(r) {
			continue
		}
		p, err := f.rt.Codec().Decode(r)
		if err != nil {
			f.log.Warn("notifier: skipping event", "reactor", f.r.Name(), "type", r.Type, "stream", r.Stream, "err", err)
			continue
		}
		if err := f.r.React(ctx, r, p); err != nil {
			if errors.Is(err, domainerr.ErrInvalid) || errors.Is(err, domainerr.ErrNotFound) {
				f.log.Warn("notifier: event not acted on", "reactor", f.r.Name(), "type", r.Type, "stream", r.Stream, "err", err)
				continue
			}
			return fmt.Errorf("%s: %s at %v: %w", f.r.Name(), r.Type, r.Position, err)
		}
	}
	f.pos = recs[len(recs)-1].Position
	return f.cps.SaveCheckpoint(ctx, f.r.Name(), f.pos)
}
