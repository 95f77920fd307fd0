// Package declarative is the reactor of Hydra's generated declarative
// projects: when the `jobsets` job of a project's ".jobsets" is built
// (or found already built), it reads the spec that build wrote and
// gives the project the jobsets it declares (commands
// ApplyDeclarativeSpec), as Hydra's DeclarativeJobsets plugin does. A
// spec generated from a forge's open pull requests so yields one jobset
// per pull request, created as they open and disabled as they close.
//
// Replays repeat nothing: the reactor folds the log from its start
// without acting, then applies the latest finished `jobsets` build of
// each project once (a spec already applied plans no change, so this
// records nothing unless the process died before applying it), and from
// then on applies each newly finished one. A build older than the one
// last applied is ignored, so builds finishing out of order never bring
// back an older list of jobsets.
package declarative

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"buildledger/commands"
	"buildledger/domain/declarative"
	"buildledger/domain/names"
	"buildledger/domain/streams"
	"buildledger/events"
)

// JobName is the job of ".jobsets" whose output is the spec.
const JobName = "jobsets"

// Outputs reads a finished build's output from the store.
type Outputs interface {
	// ReadSpecOutput returns the content of the output storePath, which
	// must be a regular file, reading at most max+1 bytes.
	ReadSpecOutput(ctx context.Context, storePath string, max int64) ([]byte, error)
}

// JobsetLister names a project's jobsets from the read side.
type JobsetLister interface {
	JobsetNames(ctx context.Context, project string) ([]string, error)
}

// Options configure the reactor.
type Options struct {
	// MaxJobsets caps the jobsets one spec may declare; 0 means
	// declarative.DefaultMaxJobsets.
	MaxJobsets int
	Logger     *slog.Logger
}

// Reactor applies generated specs.
type Reactor struct {
	rt      *commands.Runtime
	h       *commands.Handlers
	codec   *events.Codec
	outputs Outputs
	jobsets JobsetLister
	opts    Options

	mu sync.Mutex
	// pending are the `jobsets` builds queued and not yet finished, by
	// id: their project and output.
	pending map[int64]build
	// latest is, per project, the newest finished `jobsets` build seen
	// and whether it was applied.
	latest map[string]finished
	// created names, per project, every jobset the log says was created:
	// the read side may not have caught up on one the previous spec
	// created, and the next spec must still disable it.
	created map[string]map[string]bool
	pos     events.Position
}

type build struct{ project, out string }

type finished struct {
	build
	id      int64
	applied bool
}

// Filter selects the events the reactor reads.
var Filter = events.Filter{Types: []string{"BuildQueued", "BuildFinished", "BuildCached", "JobsetCreated"},
	StreamPrefixes: []string{streams.BuildPrefix, streams.JobsetPrefix}}

// New returns the reactor; ids allocates the ids of the jobsets it
// creates.
func New(rt *commands.Runtime, codec *events.Codec, ids *commands.Allocator, outputs Outputs, jobsets JobsetLister, opts Options) *Reactor {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Reactor{rt: rt, h: commands.NewHandlers(rt, ids, nil), codec: codec, outputs: outputs, jobsets: jobsets,
		opts: opts, pending: map[int64]build{}, latest: map[string]finished{}, created: map[string]map[string]bool{}}
}

// fold reads one event and returns the build whose spec is due, if any.
func (r *Reactor) fold(rec events.Recorded) (finished, bool) {
	r.pos = rec.Position
	if !Filter.Match(rec) {
		return finished{}, false
	}
	p, err := r.codec.Decode(rec)
	if err != nil {
		r.opts.Logger.Warn("declarative reactor: skipping event", "type", rec.Type, "stream", rec.Stream, "err", err)
		return finished{}, false
	}
	var id int64
	switch e := p.(type) {
	case *events.JobsetCreated:
		if r.created[e.Project] == nil {
			r.created[e.Project] = map[string]bool{}
		}
		r.created[e.Project][e.Name] = true
		return finished{}, false
	case *events.BuildQueued:
		if e.Jobset == names.DeclarativeJobset && e.Job == JobName {
			for _, o := range e.Outputs {
				if o.Name == "out" {
					r.pending[e.BuildID] = build{project: e.Project, out: o.Path}
				}
			}
		}
		return finished{}, false
	case *events.BuildFinished:
		if e.Status != 0 {
			delete(r.pending, e.BuildID)
			return finished{}, false
		}
		id = e.BuildID
	case *events.BuildCached:
		if e.Failed || e.FailedWithOutput {
			delete(r.pending, e.BuildID)
			return finished{}, false
		}
		id = e.BuildID
	default:
		return finished{}, false
	}
	b, ok := r.pending[id]
	if !ok {
		return finished{}, false
	}
	delete(r.pending, id)
	if cur, ok := r.latest[b.project]; ok && cur.id > id {
		return finished{}, false
	}
	f := finished{build: b, id: id}
	r.latest[b.project] = f
	return f, true
}

// Run folds the log, applies what is due, then follows the log and
// applies each spec as its build finishes, until ctx ends.
func (r *Reactor) Run(ctx context.Context) error {
	store := r.rt.Store()
	head, err := store.Head(ctx)
	if err != nil {
		return fmt.Errorf("declarative reactor: %w", err)
	}
	for r.pos.Less(head) {
		recs, err := store.ReadAll(ctx, r.pos, 5000)
		if err != nil {
			return fmt.Errorf("declarative reactor: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		r.mu.Lock()
		for _, rec := range recs {
			r.fold(rec)
		}
		r.mu.Unlock()
	}
	r.mu.Lock()
	due := make([]finished, 0, len(r.latest))
	for _, f := range r.latest {
		due = append(due, f)
	}
	r.mu.Unlock()
	for _, f := range due {
		r.apply(ctx, f)
	}
	sub, err := store.SubscribeAll(ctx, r.pos, events.Filter{})
	if err != nil {
		return fmt.Errorf("declarative reactor: subscribe: %w", err)
	}
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case rec, ok := <-sub.Events():
			if !ok {
				if err := sub.Err(); err != nil && ctx.Err() == nil {
					return fmt.Errorf("declarative reactor: subscription: %w", err)
				}
				return nil
			}
			r.mu.Lock()
			f, due := r.fold(rec)
			r.mu.Unlock()
			if due {
				r.apply(ctx, f)
			}
		}
	}
}

// apply reads the spec build f wrote and applies it to its project. A
// bad spec, or one the project no longer takes, is logged: the next
// build of ".jobsets" brings the next chance, as in Hydra.
func (r *Reactor) apply(ctx context.Context, f finished) {
	if err := r.Apply(ctx, f.project, f.out); err != nil && ctx.Err() == nil {
		r.opts.Logger.Warn("declarative reactor: spec not applied", "project", f.project, "build", f.id, "err", err)
	}
}

// ErrNotGenerated is returned by Apply for a project whose spec no longer
// generates its jobsets.
var ErrNotGenerated = errors.New("the project's jobsets are not generated")

// Apply reads the spec at the store path out and gives project the
// jobsets it declares.
func (r *Reactor) Apply(ctx context.Context, project, out string) error {
	l, err := commands.Load(ctx, r.rt, streams.Jobset(project, names.DeclarativeJobset), commands.JobsetAggregate)
	if err != nil {
		return err
	}
	if !l.State.Exists || l.State.Config.NixExprInput == "" {
		return ErrNotGenerated
	}
	data, err := r.outputs.ReadSpecOutput(ctx, out, declarative.MaxSpecBytes)
	if err != nil {
		return fmt.Errorf("read the spec %s: %w", out, err)
	}
	spec, err := declarative.ParseJobsets(data)
	if err != nil {
		return fmt.Errorf("the spec %s: %w", out, err)
	}
	known, err := r.jobsets.JobsetNames(ctx, project)
	if err != nil {
		return err
	}
	r.mu.Lock()
	for name := range r.created[project] {
		known = append(known, name)
	}
	r.mu.Unlock()
	md := events.Metadata{Actor: declarative.Actor(project)}
	_, err = r.h.ApplyDeclarativeSpec(ctx, md, commands.ApplyDeclarativeSpec{Project: project, Known: known,
		Jobsets: spec, MaxJobsets: r.opts.MaxJobsets})
	return err
}
