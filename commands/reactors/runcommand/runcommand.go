// Package runcommand is Hydra's RunCommand plugin (#22) as a notifier:
// when a build finishes, each <runcommand> section of hydra.conf whose
// job matcher matches it, and the build itself when it is a successful
// runCommandHook.* job whose server, project and jobset enable dynamic
// hooks, is one intention, queued in the outbox (NotificationQueued,
// plugin "runcommand"). The Sender carries it out once: it records
// RunCommandStarted before the command runs and RunCommandFinished
// after, in runcommand-<uuid>, and a run that started is never started
// again (after a crash it is recorded as interrupted). Hydra's
// RunCommandLogs is the projection of those events.
package runcommand

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"buildledger/commands"
	"buildledger/commands/reactors/outbox"
	"buildledger/domain/notification"
	"buildledger/domain/runcommand"
	"buildledger/domain/streams"
	"buildledger/events"
)

// Plugin is the outbox plugin name of RunCommand runs.
const Plugin = "runcommand"

// Reactor queues RunCommand runs.
type Reactor struct {
	rt  *commands.Runtime
	box *outbox.Outbox
	cfg Config
	log *slog.Logger
	md  events.Metadata
}

var _ outbox.Reactor = (*Reactor)(nil)

// New returns the RunCommand notifier of cfg.
func New(rt *commands.Runtime, box *outbox.Outbox, cfg Config, log *slog.Logger) *Reactor {
	if log == nil {
		log = slog.Default()
	}
	return &Reactor{rt: rt, box: box, cfg: cfg, log: log, md: events.Metadata{Actor: commands.ComponentActor(Plugin)}}
}

// Name implements outbox.Reactor.
func (*Reactor) Name() string { return Plugin }

// Filter implements outbox.Reactor: Hydra runs RunCommand on
// build_finished only (not on cached builds an evaluation finds).
func (*Reactor) Filter() events.Filter { return events.Filter{Types: []string{"BuildFinished"}} }

// React implements outbox.Reactor.
func (r *Reactor) React(ctx context.Context, rec events.Recorded, p events.Payload) error {
	e, ok := p.(*events.BuildFinished)
	if !ok {
		return nil
	}
	b, err := loadBuild(ctx, r.rt, e.BuildID, rec.Position)
	if err != nil {
		return err
	}
	// A build failed because another build's step did is announced
	// with that build, as Hydra's dependents: it runs nothing itself.
	if b.propagatedFrom != 0 && b.propagatedFrom != e.BuildID {
		return nil
	}
	j := b.json
	type run struct{ matcher, command string }
	var runs []run
	for _, c := range r.cfg.Commands {
		if c.Matcher.Match(j.Project, j.Jobset, j.Job) {
			runs = append(runs, run{c.Matcher.String(), c.Command})
		}
	}
	if r.cfg.Dynamic && runcommand.IsHook(j.Job) && j.BuildStatus == 0 {
		switch on, err := r.hooksEnabled(ctx, j.Project, j.Jobset, rec.Position); {
		case err != nil:
			return err
		case b.out == "":
			r.log.Warn("runcommand: dynamic hook rejected: no output named out", "build", j.Build, "job", j.Job)
		case !on:
			r.log.Info("runcommand: dynamic hook not run: the project or jobset does not enable dynamic RunCommand", "build", j.Build, "job", j.Job)
		default:
			runs = append(runs, run{runcommand.HookMatcher(j.Job), b.out})
		}
	}
	if len(runs) == 0 {
		return nil
	}
	file, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("runcommand: %w", err)
	}
	for _, x := range runs {
		body, err := json.Marshal(payload{Matcher: x.matcher, Command: x.command, BuildID: j.Build, HydraJSON: file})
		if err != nil {
			return fmt.Errorf("runcommand: %w", err)
		}
		q := events.NotificationQueued{Plugin: Plugin, Channel: "build_finished", Target: x.matcher, Cause: rec.ID,
			BuildID: j.Build, Project: j.Project, Jobset: j.Jobset,
			// One intention per build and command: two sections with
			// the same matcher are two runs.
			Key: notification.Key(rec.ID, Plugin, x.matcher+"\x00"+x.command)}
		if err := r.box.Queue(ctx, r.md, q, body); err != nil {
			return err
		}
	}
	return nil
}

// hooksEnabled reads the project's and the jobset's flags as they stood
// at pos.
func (r *Reactor) hooksEnabled(ctx context.Context, project, jobset string, pos events.Position) (bool, error) {
	var pc events.ProjectConfig
	err := outbox.ReadUpTo(ctx, r.rt, streams.Project(project), pos, func(p events.Payload) {
		switch e := p.(type) {
		case *events.ProjectCreated:
			pc = e.ProjectConfig
		case *events.ProjectUpdated:
			pc = e.ProjectConfig
		}
	})
	if err != nil {
		return false, err
	}
	jc, err := outbox.LoadJobset(ctx, r.rt, project, jobset, pos)
	if err != nil {
		return false, err
	}
	return runcommand.HooksEnabled(r.cfg.Dynamic, pc, jc), nil
}
