// Package jobset is the Jobset aggregate: its state, folded from the
// jobset-<project>.<jobset> stream, and the rules that turn commands into
// events.
//
// A jobset lives inside a project incarnation: see Live. A rename is two
// events on two streams: JobsetCreated{RenamedFrom} (same ID, same
// configuration) on the new stream, then JobsetDeleted{RenamedTo} on the
// old one.
package jobset

import (
	"slices"
	"time"

	"buildledger/domain/domainerr"
	"buildledger/domain/project"
	"buildledger/events"
)

// Jobset types, as in Hydra's Jobsets.type.
const (
	TypeLegacy = 0
	TypeFlake  = 1
)

// Enabled values, as in Hydra's Jobsets.enabled.
const (
	Disabled     = 0
	Enabled      = 1
	OneShot      = 2
	OneAtATime   = 3
	maxEnabled   = OneAtATime
	fieldEnabled = "enabled"
)

// Reasons an evaluation may be requested for.
var reasons = []string{"api", "cli", "push", "schedule", "ui", "webhook"}

// State is a jobset as its stream tells it.
type State struct {
	// Exists is true between JobsetCreated and JobsetDeleted.
	Exists bool
	// Project and Name name the jobset.
	Project string
	Name    string
	// ID is the numeric id (Hydra's Jobsets.id), kept across renames.
	ID int64
	// Config is the current configuration.
	Config events.JobsetConfig
	// RenamedFrom is the name this jobset had before its latest rename.
	RenamedFrom string
	// RenamedTo is set when the jobset was deleted by a rename.
	RenamedTo string
	// LastRequest is the Unix time of the latest EvaluationRequested.
	LastRequest int64
	// CreatedAt is the log position of the latest JobsetCreated, or
	// events.Start when not known.
	CreatedAt events.Position
	// Evaluations is what the jobset's stream says of its evaluations.
	Evaluations
}

// Evolve folds one event of the jobset's stream into s. Payloads are
// pointers, as the codec decodes them; other event types leave s unchanged.
// A new incarnation (JobsetCreated but by a rename) starts without
// evaluation history; a deletion keeps it. A jobset moved by a project
// rename starts without it too: its new stream may hold a jobset of the
// new name's earlier incarnation, whose history is not its own.
func Evolve(s State, p events.Payload) State {
	switch e := p.(type) {
	case *events.JobsetCreated:
		ev := Evaluations{}
		if e.RenamedFrom != "" && e.RenamedFromProject == "" {
			ev = s.Evaluations
		}
		return State{Exists: true, Project: e.Project, Name: e.Name, ID: e.ID,
			Config: cloneConfig(e.JobsetConfig), RenamedFrom: e.RenamedFrom, Evaluations: ev}
	case *events.JobsetUpdated:
		s.Config = cloneConfig(e.JobsetConfig)
	case *events.JobsetDeleted:
		return State{Project: s.Project, Name: s.Name, ID: s.ID, RenamedTo: e.RenamedTo, Evaluations: s.Evaluations}
	case *events.EvaluationRequested:
		s.LastRequest = e.At
		s.TriggerTime = e.At
		s.Force = s.Force || e.Force
	default:
		s.Evaluations = s.Evaluations.evolve(p)
	}
	return s
}

// EvolveAt is Evolve for an event recorded at log position pos: it also
// stamps CreatedAt on JobsetCreated.
func EvolveAt(s State, p events.Payload, pos events.Position) State {
	s = Evolve(s, p)
	if _, ok := p.(*events.JobsetCreated); ok {
		s.CreatedAt = pos
	}
	return s
}

// Live reports whether s exists in the current incarnation of its project
// p: the project exists and, when both positions are known, the jobset was
// created after the project's latest ProjectCreated. A jobset of a deleted
// project is gone even though its own stream never recorded a deletion
// (projections cascade ProjectDeleted the same way).
func Live(s State, p project.State) bool {
	if !s.Exists || !p.Exists {
		return false
	}
	if s.CreatedAt.IsStart() || p.CreatedAt.IsStart() {
		return true
	}
	return p.CreatedAt.Less(s.CreatedAt)
}

// Command is one of Create, Update, Delete, RequestEvaluation.
type Command interface{ jobsetCommand() }

// Create makes a new jobset with an allocated ID. RenamedFrom is set when
// the new jobset is an existing one under a new name (see Rename).
type Create struct {
	Project     string
	Name        string
	ID          int64
	Config      events.JobsetConfig
	RenamedFrom string
}

// Update replaces a jobset's configuration, inputs included.
type Update struct {
	Project string
	Name    string
	Config  events.JobsetConfig
}

// Delete removes a jobset. RenamedTo is set when it lives on under that
// name.
type Delete struct {
	Project   string
	Name      string
	RenamedTo string
}

// RequestEvaluation asks for an evaluation of an enabled jobset. Reason is
// one of "api", "cli", "push", "schedule", "ui", "webhook".
type RequestEvaluation struct {
	Project string
	Name    string
	Reason  string
	Force   bool
}

func (Create) jobsetCommand()            {}
func (Update) jobsetCommand()            {}
func (Delete) jobsetCommand()            {}
func (RequestEvaluation) jobsetCommand() {}

// Decide returns the events that carry out cmd on the jobset s of project
// p at time now, or an error wrapping domainerr.ErrAlreadyExists,
// ErrNotFound, ErrInvalid or (an evaluation of a disabled jobset)
// ErrConflict. An Update that changes nothing returns no events.
func Decide(s State, p project.State, cmd Command, now time.Time) ([]events.Payload, error) {
	live := Live(s, p)
	switch c := cmd.(type) {
	case Create:
		if err := ValidateName(c.Name); err != nil {
			return nil, err
		}
		cfg, err := Normalize(c.Name, c.Config)
		if err != nil {
			return nil, err
		}
		if c.ID <= 0 {
			return nil, domainerr.Invalid("id", "jobset id %d must be positive", c.ID)
		}
		if c.RenamedFrom != "" && c.RenamedFrom == c.Name {
			return nil, domainerr.Invalid("name", "cannot rename jobset %q to itself", c.Name)
		}
		if !p.Exists {
			return nil, domainerr.NotFound("project", c.Project)
		}
		if live {
			return nil, domainerr.AlreadyExists("jobset", c.Project+":"+c.Name)
		}
		return []events.Payload{&events.JobsetCreated{Project: c.Project, Name: c.Name, ID: c.ID,
			RenamedFrom: c.RenamedFrom, JobsetConfig: cfg}}, nil
	case Update:
		if !live {
			return nil, domainerr.NotFound("jobset", c.Project+":"+c.Name)
		}
		cfg, err := Normalize(s.Name, c.Config)
		if err != nil {
			return nil, err
		}
		if EqualConfig(cfg, s.Config) {
			return nil, nil
		}
		return []events.Payload{&events.JobsetUpdated{Project: s.Project, Name: s.Name, JobsetConfig: cfg}}, nil
	case Delete:
		if !live {
			return nil, domainerr.NotFound("jobset", c.Project+":"+c.Name)
		}
		if c.RenamedTo != "" {
			if err := ValidateName(c.RenamedTo); err != nil {
				return nil, err
			}
		}
		return []events.Payload{&events.JobsetDeleted{Project: s.Project, Name: s.Name, RenamedTo: c.RenamedTo}}, nil
	case RequestEvaluation:
		if !slices.Contains(reasons, c.Reason) {
			return nil, domainerr.Invalid("reason", "unknown reason %q, want one of %v", c.Reason, reasons)
		}
		if !live {
			return nil, domainerr.NotFound("jobset", c.Project+":"+c.Name)
		}
		if s.Config.Enabled == Disabled {
			return nil, domainerr.Conflict("jobset %s:%s is disabled", s.Project, s.Name)
		}
		return []events.Payload{&events.EvaluationRequested{Project: s.Project, Jobset: s.Name,
			Reason: c.Reason, Force: c.Force, At: now.Unix()}}, nil
	}
	return nil, domainerr.Invalid("command", "unknown jobset command %T", cmd)
}

// CheckRename checks that jobset from of project p can be renamed to
// target (the state of the target name's stream) and returns the Create
// command for the new stream and the Delete command for the old one.
func CheckRename(from, target State, p project.State, to string) (Create, Delete, error) {
	if !p.Exists {
		return Create{}, Delete{}, domainerr.NotFound("project", from.Project)
	}
	if !Live(from, p) {
		return Create{}, Delete{}, domainerr.NotFound("jobset", from.Project+":"+from.Name)
	}
	if err := ValidateName(to); err != nil {
		return Create{}, Delete{}, err
	}
	if to == from.Name {
		return Create{}, Delete{}, domainerr.Invalid("name", "cannot rename jobset %q to itself", to)
	}
	if Live(target, p) {
		return Create{}, Delete{}, domainerr.AlreadyExists("jobset", from.Project+":"+to)
	}
	c := Create{Project: from.Project, Name: to, ID: from.ID, Config: cloneConfig(from.Config), RenamedFrom: from.Name}
	d := Delete{Project: from.Project, Name: from.Name, RenamedTo: to}
	return c, d, nil
}

// Move returns the events that carry jobset from, live in project p,
// over to project to under the same name and id, when p is renamed
// (project.Rename): JobsetCreated for the new stream and JobsetDeleted
// for the old one. The new project's jobset streams need no check: the
// new project is a new incarnation, so whatever they hold is gone
// (Live).
func Move(from State, p project.State, to string) (created, deleted events.Payload, err error) {
	if !Live(from, p) {
		return nil, nil, domainerr.NotFound("jobset", from.Project+":"+from.Name)
	}
	created = &events.JobsetCreated{Project: to, Name: from.Name, ID: from.ID, RenamedFrom: from.Name,
		RenamedFromProject: from.Project, JobsetConfig: cloneConfig(from.Config)}
	deleted = &events.JobsetDeleted{Project: from.Project, Name: from.Name, RenamedTo: from.Name, RenamedToProject: to}
	return created, deleted, nil
}

func cloneConfig(c events.JobsetConfig) events.JobsetConfig {
	c.Inputs = slices.Clone(c.Inputs)
	return c
}

// EqualConfig reports whether a and b are the same configuration.
func EqualConfig(a, b events.JobsetConfig) bool {
	return slices.Equal(a.Inputs, b.Inputs) &&
		a.Description == b.Description && a.Type == b.Type &&
		a.NixExprInput == b.NixExprInput && a.NixExprPath == b.NixExprPath &&
		a.Flake == b.Flake && a.Enabled == b.Enabled && a.Hidden == b.Hidden &&
		a.EnableEmail == b.EnableEmail && a.EmailOverride == b.EmailOverride &&
		a.KeepNr == b.KeepNr && a.CheckInterval == b.CheckInterval &&
		a.SchedulingShares == b.SchedulingShares && a.VerifyFraction == b.VerifyFraction &&
		a.EnableDynamicRunCommand == b.EnableDynamicRunCommand
}
