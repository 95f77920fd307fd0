package commands

import (
	"context"

	"buildledger/domain/apitoken"
	"buildledger/domain/domainerr"
	"buildledger/domain/jobset"
	"buildledger/domain/machine"
	"buildledger/domain/names"
	"buildledger/domain/project"
	"buildledger/domain/streams"
	"buildledger/domain/user"
)

// The configuration aggregates. A jobset's stream also records its
// evaluations, and grows with every one and every request, so its
// aggregate takes snapshots.
var (
	ProjectAggregate = Aggregate[project.State]{Name: "project", Evolve: project.Evolve, EvolveAt: project.EvolveAt}
	JobsetAggregate  = Aggregate[jobset.State]{Name: "jobset", Evolve: jobset.Evolve, EvolveAt: jobset.EvolveAt, SnapshotKey: "jobset.v3"}
	UserAggregate    = Aggregate[user.State]{Name: "user", Evolve: user.Evolve}
	MachineAggregate = Aggregate[machine.State]{Name: "machine", Evolve: machine.Evolve}
	// APITokenAggregate is an API token, on stream apitoken-<id>.
	APITokenAggregate = Aggregate[apitoken.State]{Name: "api token", Evolve: apitoken.Evolve}
)

// Handlers carries out the commands of the ledger but the evaluations
// (evaluation.Service): configuration, build actions, API tokens, and the
// step and build records of the scheduler and the builders. Each method
// is Verb(ctx, md, command): it takes the caller's metadata (Actor is
// required) and returns what was appended.
type Handlers struct {
	rt    *Runtime
	ids   *Allocator
	vault Vault
}

// NewHandlers returns Handlers writing through rt, taking jobset ids from
// ids and keeping users' secrets in vault. A nil vault refuses the user
// commands that need it, a nil ids the creation of jobsets; the step,
// build and token commands need neither.
func NewHandlers(rt *Runtime, ids *Allocator, vault Vault) *Handlers {
	return &Handlers{rt: rt, ids: ids, vault: vault}
}

func (h *Handlers) loadProject(ctx context.Context, name string) (project.State, error) {
	l, err := Load(ctx, h.rt, streams.Project(name), ProjectAggregate)
	return l.State, err
}

func (h *Handlers) loadUser(ctx context.Context, name string) (user.State, error) {
	l, err := Load(ctx, h.rt, streams.User(name), UserAggregate)
	return l.State, err
}

// projectAddr refuses a project name that cannot exist, before it is
// turned into a stream name.
func projectAddr(name string) error {
	if !names.Project(name) {
		return domainerr.NotFound("project", name)
	}
	return nil
}

// jobsetAddr is projectAddr for a jobset.
func jobsetAddr(projectName, name string) error {
	if err := projectAddr(projectName); err != nil {
		return err
	}
	if !names.Jobset(name) {
		return domainerr.NotFound("jobset", projectName+":"+name)
	}
	return nil
}
