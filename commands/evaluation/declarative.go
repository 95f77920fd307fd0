package evaluation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"

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
// declarative, or its spec generates the jobsets: ".jobsets" then takes
// the spec's configuration (generated) and is evaluated as any other
// jobset; the reactor of package reactors/declarative applies what its
// `jobsets` job builds.
func (s *Service) declarativeSpec(ctx context.Context, md events.Metadata, js jobset.State, sum Summary) (_ Summary, done, generated bool, _ error) {
	sum, done, gen, err := s.readSpec(ctx, md, js, sum)
	if err != nil || done || gen == nil {
		return sum, done, false, err
	}
	if err := s.configureGenerator(ctx, md, js, *gen); err != nil {
		if ctx.Err() != nil {
			return sum, true, false, ctx.Err()
		}
		sum, err := s.failDeclarative(ctx, md, js, sum, fmt.Sprintf("configuring the generator of the declarative specification: %v", err))
		return sum, true, false, err
	}
	return sum, false, true, nil
}

// GeneratedConfig is the configuration of ".jobsets" for a generated
// spec, as Hydra gives it: the spec's, with the inputs declInput (the
// project's spec input) and projectName added.
func GeneratedConfig(project string, spec events.JobsetConfig, declType, declValue string) events.JobsetConfig {
	cfg := spec
	cfg.Inputs = slices.DeleteFunc(slices.Clone(spec.Inputs), func(in events.JobsetInput) bool {
		return in.Name == "declInput" || in.Name == "projectName"
	})
	cfg.Inputs = append(cfg.Inputs,
		events.JobsetInput{Name: "declInput", Type: declType, Value: declValue},
		events.JobsetInput{Name: "projectName", Type: "string", Value: project})
	return cfg
}

// configureGenerator gives ".jobsets" the generated spec's configuration
// when it has another, with the declarative source as actor.
func (s *Service) configureGenerator(ctx context.Context, md events.Metadata, js jobset.State, want events.JobsetConfig) error {
	norm, err := jobset.Normalize(js.Name, want)
	if err != nil {
		return err
	}
	if reflect.DeepEqual(norm, js.Config) {
		return nil
	}
	h := commands.NewHandlers(s.rt, s.ids, nil)
	md.Actor = declarative.Actor(js.Project)
	_, err = h.UpdateJobset(ctx, md, commands.UpdateJobset{Project: js.Project, Name: js.Name, Config: norm})
	return err
}

// failDeclarative records a failed evaluation of ".jobsets" with msg.
func (s *Service) failDeclarative(ctx context.Context, md events.Metadata, js jobset.State, sum Summary, msg string) (Summary, error) {
	f := fetched{failure: msg, hash: InputsHash(js.Config, "", nil)}
	return s.open(ctx, md, js, f, true, s.rt.Clock().Now(), sum)
}

// readSpec reads a declarative project's spec for its ".jobsets" and
// applies a static one (done); a generator spec is returned as the
// configuration ".jobsets" must have.
func (s *Service) readSpec(ctx context.Context, md events.Metadata, js jobset.State, sum Summary) (_ Summary, done bool, gen *events.JobsetConfig, _ error) {
	if js.Name != names.DeclarativeJobset || s.ports.Specs == nil {
		return sum, false, nil, nil
	}
	pl, err := commands.Load(ctx, s.rt, streams.Project(js.Project), commands.ProjectAggregate)
	if err != nil {
		return sum, false, nil, err
	}
	p := pl.State.Config
	if p.DeclFile == "" {
		return sum, false, nil, nil
	}
	start := s.rt.Clock().Now()
	failed := func(msg string) (Summary, bool, *events.JobsetConfig, error) {
		sum, err := s.failDeclarative(ctx, md, js, sum, msg)
		return sum, true, nil, err
	}
	in, err := s.ports.Inputs.Fetch(ctx, js.Project, js.Name, events.JobsetInput{Name: "decl", Type: p.DeclType, Value: p.DeclValue})
	if err != nil {
		if ctx.Err() != nil {
			return sum, true, nil, ctx.Err()
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
		cfg := GeneratedConfig(js.Project, spec.Generator, p.DeclType, p.DeclValue)
		return sum, false, &cfg, nil
	}
	// A project back from a generated spec to a static one: ".jobsets"
	// drops the generator's configuration, so that it is no longer
	// evaluated and a `jobsets` build still running is not applied.
	if err := s.configureGenerator(ctx, md, js, commands.GeneratorConfig()); err != nil {
		if ctx.Err() != nil {
			return sum, true, nil, ctx.Err()
		}
		return failed(fmt.Sprintf("resetting the generator of the declarative specification: %v", err))
	}
	var known []string
	if s.ports.Jobsets != nil {
		if known, err = s.ports.Jobsets.JobsetNames(ctx, js.Project); err != nil {
			return sum, true, nil, err
		}
	}
	h := commands.NewHandlers(s.rt, s.ids, nil)
	_, err = h.ApplyDeclarativeSpec(ctx, md, commands.ApplyDeclarativeSpec{Project: js.Project, Known: known,
		Jobsets: spec.Static, MaxJobsets: s.opts.MaxDeclarativeJobsets})
	if err != nil {
		if ctx.Err() != nil {
			return sum, true, nil, ctx.Err()
		}
		return failed(fmt.Sprintf("applying declarative specification file %s: %v", p.DeclFile, err))
	}
	digest := sha256.Sum256(data)
	sum.Hash = "spec:" + hex.EncodeToString(digest[:])
	sum, err = s.check(ctx, md, js, sum.Hash, start, sum)
	return sum, true, nil, err
}
