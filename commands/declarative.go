package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"buildledger/domain/declarative"
	"buildledger/domain/jobset"
	"buildledger/domain/names"
	"buildledger/domain/streams"
	"buildledger/events"
)

// ApplyDeclarativeSpec gives a declarative project the jobsets its spec
// declares.
type ApplyDeclarativeSpec struct {
	Project string
	// Known names the project's jobsets the caller knows of (the read
	// models); the jobsets' configurations are read from their streams.
	// A jobset missing from Known and from Jobsets is not disabled.
	Known []string
	// Jobsets are the jobsets the spec declares.
	Jobsets map[string]events.JobsetConfig
	// MaxJobsets caps len(Jobsets); 0 means declarative.DefaultMaxJobsets.
	MaxJobsets int
}

// ApplyDeclarativeSpec creates, updates and disables the project's
// jobsets as declarative.Plan says, each change with the project's
// declarative source as actor (md's correlation is kept). A jobset whose
// change is refused is reported in the joined error and the others go
// on, as Hydra goes on past a bad jobset of a spec. It returns the
// actions carried out.
func (h *Handlers) ApplyDeclarativeSpec(ctx context.Context, md events.Metadata, c ApplyDeclarativeSpec) ([]declarative.Action, error) {
	if err := projectAddr(c.Project); err != nil {
		return nil, err
	}
	md.Actor = declarative.Actor(c.Project)
	p, err := h.loadProject(ctx, c.Project)
	if err != nil {
		return nil, err
	}
	if p.Config.DeclFile == "" {
		return nil, fmt.Errorf("project %s is not declarative", c.Project)
	}
	// The jobsets the project has now: those the read side knows, and
	// those the spec names, which the read side may not have caught up on.
	candidates := slices.Clone(c.Known)
	for name := range c.Jobsets {
		candidates = append(candidates, name)
	}
	current := make(map[string]events.JobsetConfig)
	for _, name := range candidates {
		if _, seen := current[name]; seen || !names.Jobset(name) || name == names.DeclarativeJobset {
			continue
		}
		l, err := Load(ctx, h.rt, streams.Jobset(c.Project, name), JobsetAggregate)
		if err != nil {
			return nil, err
		}
		if jobset.Live(l.State, p) {
			current[name] = l.State.Config
		}
	}
	plan, err := declarative.Plan(current, c.Jobsets, c.MaxJobsets)
	if err != nil {
		return nil, err
	}
	var done []declarative.Action
	var errs []error
	for _, a := range plan {
		var err error
		if a.Kind == declarative.Create {
			_, err = h.CreateJobset(ctx, md, CreateJobset{Project: c.Project, Name: a.Name, Config: a.Config})
		} else {
			_, err = h.UpdateJobset(ctx, md, UpdateJobset{Project: c.Project, Name: a.Name, Config: a.Config})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("declarative jobset %s:%s: %w", c.Project, a.Name, err))
			continue
		}
		done = append(done, a)
	}
	return done, errors.Join(errs...)
}

// GeneratorConfig is the configuration of a declarative project's
// ".jobsets" before its spec has been read, as Hydra creates it: enabled,
// no expression, Hydra's default interval and shares.
func GeneratorConfig() events.JobsetConfig {
	return events.JobsetConfig{Enabled: jobset.Enabled, CheckInterval: 300, SchedulingShares: 100, KeepNr: 3}
}

// syncGenerator makes the generator jobset ".jobsets" follow project
// name's declarative setting, as Hydra's project controller does:
// created and asked to evaluate when the project is declarative, deleted
// when it is no more.
func (h *Handlers) syncGenerator(ctx context.Context, md events.Metadata, name string) error {
	md.Actor = declarative.Actor(name)
	p, err := h.loadProject(ctx, name)
	if err != nil {
		return err
	}
	l, err := Load(ctx, h.rt, streams.Jobset(name, names.DeclarativeJobset), JobsetAggregate)
	if err != nil {
		return err
	}
	live := jobset.Live(l.State, p)
	switch {
	case p.Exists && p.Config.DeclFile != "" && !live:
		if _, err := h.CreateJobset(ctx, md, CreateJobset{Project: name, Name: names.DeclarativeJobset, Config: GeneratorConfig()}); err != nil {
			return fmt.Errorf("create %s:%s: %w", name, names.DeclarativeJobset, err)
		}
	case p.Exists && p.Config.DeclFile != "":
	case live:
		_, err := h.DeleteJobset(ctx, md, DeleteJobset{Project: name, Name: names.DeclarativeJobset})
		return err
	default:
		return nil
	}
	_, err = h.RequestEvaluation(ctx, md, RequestEvaluation{Project: name, Jobset: names.DeclarativeJobset, Reason: "api"})
	return err
}
