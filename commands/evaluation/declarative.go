package evaluation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"buildledger/commands"
	"buildledger/domain/declarative"
	"buildledger/domain/jobset"
	"buildledger/domain/names"
	"buildledger/domain/streams"
	"buildledger/events"
)

// SpecReader reads a declarative project's spec file out of its fetched
// input.
type SpecReader interface {
	// ReadSpec returns the file at the relative path file inside store
	// path dir, refusing one that leads out of dir; at most
	// declarative.MaxSpecBytes are read.
	ReadSpec(ctx context.Context, dir, file string) ([]byte, error)
}

// JobsetLister names a project's jobsets from the read side, so that a
// spec that no longer declares one can disable it.
type JobsetLister interface {
	JobsetNames(ctx context.Context, project string) ([]string, error)
}

// declarativeSpec handles the check of a declarative project's generator
// ".jobsets" (state js), as Hydra's evaluator does: it fetches the
// project's spec input and reads its spec file; a static spec is applied
// to the project's jobsets and the check ends there, recorded as a check
// with the spec's hash. done is false when the project is not
// declarative (or its spec generates the jobsets, which is not handled
// yet): the jobset is then evaluated as any other.
func (s *Service) declarativeSpec(ctx context.Context, md events.Metadata, js jobset.State, sum Summary) (_ Summary, done bool, _ error) {
	if js.Name != names.DeclarativeJobset || s.ports.Specs == nil {
		return sum, false, nil
	}
	pl, err := commands.Load(ctx, s.rt, streams.Project(js.Project), commands.ProjectAggregate)
	if err != nil {
		return sum, false, err
	}
	p := pl.State.Config
	if p.DeclFile == "" {
		return sum, false, nil
	}
	start := s.rt.Clock().Now()
	failed := func(msg string) (Summary, bool, error) {
		f := fetched{failure: msg, hash: InputsHash(js.Config, "", nil)}
		sum, err := s.open(ctx, md, js, f, true, start, sum)
		return sum, true, err
	}
	in, err := s.ports.Inputs.Fetch(ctx, js.Project, js.Name, events.JobsetInput{Name: "decl", Type: p.DeclType, Value: p.DeclValue})
	if err != nil {
		if ctx.Err() != nil {
			return sum, true, ctx.Err()
		}
		return failed(fmt.Sprintf("error fetching the declarative spec input (%s %s): %v", p.DeclType, p.DeclValue, err))
	}
	data, err := s.ports.Specs.ReadSpec(ctx, in.StorePath, p.DeclFile)
	if err != nil {
		return failed(fmt.Sprintf("couldn't read declarative specification file %s: %v", p.DeclFile, err))
	}
	spec, err := declarative.Parse(data)
	if err != nil {
		return failed(fmt.Sprintf("declarative specification file %s: %v", p.DeclFile, err))
	}
	if spec.Static == nil {
		return failed(fmt.Sprintf("declarative specification file %s configures a generator jobset; generated declarative projects are not supported yet", p.DeclFile))
	}
	var known []string
	if s.ports.Jobsets != nil {
		if known, err = s.ports.Jobsets.JobsetNames(ctx, js.Project); err != nil {
			return sum, true, err
		}
	}
	h := commands.NewHandlers(s.rt, s.ids, nil)
	_, err = h.ApplyDeclarativeSpec(ctx, md, commands.ApplyDeclarativeSpec{Project: js.Project, Known: known,
		Jobsets: spec.Static, MaxJobsets: s.opts.MaxDeclarativeJobsets})
	if err != nil {
		if ctx.Err() != nil {
			return sum, true, ctx.Err()
		}
		return failed(fmt.Sprintf("applying declarative specification file %s: %v", p.DeclFile, err))
	}
	digest := sha256.Sum256(data)
	sum.Hash = "spec:" + hex.EncodeToString(digest[:])
	sum, err = s.check(ctx, md, js, sum.Hash, start, sum)
	return sum, true, err
}
