package commands

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"buildledger/domain/adhoc"
	"buildledger/domain/domainerr"
	"buildledger/domain/ids"
	"buildledger/domain/streams"
	"buildledger/events"
)

// SubmitAdhocBuild queues a build submitted at runtime (remote-builder
// port or POST /api/build) in the user's ad-hoc jobset.
type SubmitAdhocBuild struct {
	UserName string
	// Via, KeyFingerprint and ClientVersion say how the build came
	// (AdhocBuildSubmitted).
	Via, KeyFingerprint, ClientVersion string
	DrvPath                            string
	System                             string
	Outputs                            []events.Output
	// Steps are the derivations of the closure whose outputs are not all
	// valid, inputs before dependents, as an evaluation would queue them
	// (BuildID and EvalID are set here). Empty means every output is
	// valid: the build is recorded as cached.
	Steps []events.StepQueued
	// Paths and Edges are the submitted closure's graph.
	Paths []string
	Edges []events.ClosureEdge
	// Owner owns the ad-hoc project if this submission creates it
	// (adhoc.CheckOwner); empty means adhoc.DefaultOwner.
	Owner string
}

// SubmitAdhocBuild checks that the user may submit, creates the ad-hoc
// project and the user's jobset on first use, and records the build:
// StepQueued for each step, then BuildQueued and AdhocBuildSubmitted on a
// new build-<id> (BuildCached too when nothing needs building). It
// returns the build's id.
func (h *Handlers) SubmitAdhocBuild(ctx context.Context, md events.Metadata, c SubmitAdhocBuild) (int64, error) {
	u, err := h.loadUser(ctx, c.UserName)
	if err != nil {
		return 0, err
	}
	if err := adhoc.MaySubmit(u); err != nil {
		return 0, err
	}
	if !strings.HasSuffix(c.DrvPath, ".drv") || len(c.Outputs) == 0 {
		return 0, domainerr.Invalid("drvPath", "%q is not a derivation with outputs", c.DrvPath)
	}
	if err := adhoc.CheckSize(len(c.Paths), len(c.Steps)); err != nil {
		return 0, err
	}
	jobsetID, err := h.adhocJobset(ctx, md, c.UserName, c.Owner)
	if err != nil {
		return 0, err
	}
	if h.ids == nil {
		return 0, errNoAllocator
	}
	id, err := h.ids.Next(ctx, ids.KindBuild, 1)
	if err != nil {
		return 0, fmt.Errorf("allocate a build id: %w", err)
	}
	md, err = h.rt.complete(md)
	if err != nil {
		return 0, err
	}
	now := h.rt.clock.Now()
	for _, st := range c.Steps {
		st.BuildID, st.EvalID = id, 0
		if err := h.appendOne(ctx, streams.Step(st.DrvPath), events.Any, md, &st); err != nil {
			return 0, err
		}
	}
	name := strings.TrimSuffix(path.Base(c.DrvPath), ".drv")
	if i := strings.IndexByte(name, '-'); i >= 0 {
		name = name[i+1:]
	}
	ps := []events.Payload{
		&events.BuildQueued{BuildID: id, JobsetID: jobsetID, Project: adhoc.Project, Jobset: adhoc.Jobset(c.UserName),
			Job: name, NixName: name, DrvPath: c.DrvPath, System: c.System, Outputs: c.Outputs, Timestamp: now.Unix()},
		&events.AdhocBuildSubmitted{BuildID: id, UserName: c.UserName, Via: c.Via, KeyFingerprint: c.KeyFingerprint,
			ClientVersion: c.ClientVersion, DrvPath: c.DrvPath, Paths: c.Paths, Edges: c.Edges, Timestamp: now.Unix()},
	}
	if len(c.Steps) == 0 {
		ps = append(ps, &events.BuildCached{BuildID: id, Outputs: c.Outputs, Timestamp: now.Unix()})
	}
	if err := h.appendOne(ctx, streams.Build(id), events.NoStream, md, ps...); err != nil {
		return 0, err
	}
	return id, nil
}

// adhocJobset returns the id of the user's ad-hoc jobset, creating the
// project and the jobset when they do not exist (a concurrent creation
// is as good). owner owns a project created here.
func (h *Handlers) adhocJobset(ctx context.Context, md events.Metadata, userName, owner string) (int64, error) {
	p, err := h.loadProject(ctx, adhoc.Project)
	if err != nil {
		return 0, err
	}
	if !p.Exists {
		if owner == "" {
			owner = adhoc.DefaultOwner
		}
		o, err := h.loadUser(ctx, owner)
		if err != nil {
			return 0, err
		}
		if err := adhoc.CheckOwner(owner, o); err != nil {
			return 0, err
		}
		_, err = h.CreateProject(ctx, md, CreateProject{Name: adhoc.Project, Config: adhoc.ProjectConfig(owner)})
		if err != nil && !errors.Is(err, domainerr.ErrAlreadyExists) {
			return 0, fmt.Errorf("create the ad-hoc project %s owned by %s: %w", adhoc.Project, owner, err)
		}
	}
	name := adhoc.Jobset(userName)
	l, err := Load(ctx, h.rt, streams.Jobset(adhoc.Project, name), JobsetAggregate)
	if err != nil {
		return 0, err
	}
	if l.State.ID == 0 || !l.Exists {
		_, err := h.CreateJobset(ctx, md, CreateJobset{Project: adhoc.Project, Name: name, Config: adhoc.JobsetConfig(userName)})
		if err != nil && !errors.Is(err, domainerr.ErrAlreadyExists) {
			return 0, fmt.Errorf("create the ad-hoc jobset of %s: %w", userName, err)
		}
		if l, err = Load(ctx, h.rt, streams.Jobset(adhoc.Project, name), JobsetAggregate); err != nil {
			return 0, err
		}
	}
	if l.State.ID == 0 {
		return 0, fmt.Errorf("ad-hoc jobset of %s has no id", userName)
	}
	return l.State.ID, nil
}

// appendOne encodes payloads with md and appends them to stream at
// expect.
func (h *Handlers) appendOne(ctx context.Context, stream string, expect events.Revision, md events.Metadata, ps ...events.Payload) error {
	now := h.rt.clock.Now()
	evs := make([]events.Event, len(ps))
	for i, p := range ps {
		var err error
		if evs[i], err = h.rt.codec.Encode(p, md, now); err != nil {
			return fmt.Errorf("%s: %w", stream, err)
		}
	}
	if _, err := h.rt.store.Append(ctx, stream, expect, evs...); err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	return nil
}
