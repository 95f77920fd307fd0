// Package project is the Project aggregate: its state, folded from the
// project-<name> stream, and the rules that turn commands into events.
//
// Deleting a project deletes its jobsets without an event per jobset:
// ProjectDeleted implies them (projections cascade). A jobset stream whose
// JobsetCreated precedes the project's latest ProjectCreated in the log
// belongs to an earlier incarnation of the project and counts as deleted;
// State.CreatedAt records that position.
package project

import (
	"slices"
	"strings"

	"buildledger/domain/domainerr"
	"buildledger/domain/names"
	"buildledger/events"
)

// State is a project as its stream tells it.
type State struct {
	// Exists is true between ProjectCreated and ProjectDeleted.
	Exists bool
	// Name is the project's name.
	Name string
	// Config is the current configuration.
	Config events.ProjectConfig
	// Members are the project's members, sorted.
	Members []string
	// RenamedFrom is the name the project had before its latest rename.
	RenamedFrom string
	// RenamedTo is set when the project was deleted by a rename.
	RenamedTo string
	// CreatedAt is the log position of the latest ProjectCreated, or
	// events.Start when it is not known (pure folds without positions).
	CreatedAt events.Position
}

// Evolve folds one event of the project's stream into s. Payloads are
// pointers, as the codec decodes them; other event types leave s unchanged.
func Evolve(s State, p events.Payload) State {
	switch e := p.(type) {
	case *events.ProjectCreated:
		return State{Exists: true, Name: e.Name, Config: e.ProjectConfig, RenamedFrom: e.RenamedFrom}
	case *events.ProjectUpdated:
		s.Config = e.ProjectConfig
	case *events.ProjectMembersChanged:
		s.Members = slices.Clone(e.Members)
	case *events.ProjectDeleted:
		return State{Name: s.Name, RenamedTo: e.RenamedTo}
	}
	return s
}

// EvolveAt is Evolve for an event recorded at log position pos: it also
// stamps CreatedAt on ProjectCreated.
func EvolveAt(s State, p events.Payload, pos events.Position) State {
	s = Evolve(s, p)
	if _, ok := p.(*events.ProjectCreated); ok {
		s.CreatedAt = pos
	}
	return s
}

// Command is one of Create, Update, Delete, SetMembers.
type Command interface{ projectCommand() }

// Create makes a new project. The caller checks that Config.Owner is an
// existing user.
type Create struct {
	Name   string
	Config events.ProjectConfig
}

// Update replaces a project's configuration. The caller checks that
// Config.Owner is an existing user.
type Update struct {
	Name   string
	Config events.ProjectConfig
}

// Delete removes a project and its jobsets.
type Delete struct {
	Name string
}

// SetMembers replaces a project's member list. The caller checks that the
// members are existing users.
type SetMembers struct {
	Name    string
	Members []string
}

func (Create) projectCommand()     {}
func (Update) projectCommand()     {}
func (Delete) projectCommand()     {}
func (SetMembers) projectCommand() {}

// Decide returns the events that carry out cmd on s, or an error wrapping
// domainerr.ErrAlreadyExists, ErrNotFound or ErrInvalid. An Update or
// SetMembers that changes nothing returns no events.
func Decide(s State, cmd Command) ([]events.Payload, error) {
	switch c := cmd.(type) {
	case Create:
		if err := ValidateName(c.Name); err != nil {
			return nil, err
		}
		cfg, err := Normalize(c.Config)
		if err != nil {
			return nil, err
		}
		if s.Exists {
			return nil, domainerr.AlreadyExists("project", c.Name)
		}
		return []events.Payload{&events.ProjectCreated{Name: c.Name, ProjectConfig: cfg}}, nil
	case Update:
		if !s.Exists {
			return nil, domainerr.NotFound("project", c.Name)
		}
		cfg, err := Normalize(c.Config)
		if err != nil {
			return nil, err
		}
		if cfg == s.Config {
			return nil, nil
		}
		return []events.Payload{&events.ProjectUpdated{Name: s.Name, ProjectConfig: cfg}}, nil
	case Delete:
		if !s.Exists {
			return nil, domainerr.NotFound("project", c.Name)
		}
		return []events.Payload{&events.ProjectDeleted{Name: s.Name}}, nil
	case SetMembers:
		if !s.Exists {
			return nil, domainerr.NotFound("project", c.Name)
		}
		members, err := normalizeMembers(c.Members)
		if err != nil {
			return nil, err
		}
		if slices.Equal(members, s.Members) {
			return nil, nil
		}
		return []events.Payload{&events.ProjectMembersChanged{Project: s.Name, Members: members}}, nil
	}
	return nil, domainerr.Invalid("command", "unknown project command %T", cmd)
}

// Rename returns the events that give project name, whose state is from,
// the name to and the configuration cfg (a PUT renames and edits at once), where target is
// the state of the new name's stream: ProjectCreated{RenamedFrom} (with
// the members, if any) for the new stream and ProjectDeleted{RenamedTo}
// for the old one. The jobsets move with it (jobset.Move). It refuses a
// missing project (ErrNotFound), an invalid or unchanged name or an
// invalid cfg (ErrInvalid) and a name a live project has
// (ErrAlreadyExists), as Hydra's updateProject does. The caller checks
// that a new owner is an existing user.
func Rename(from, target State, name, to string, cfg events.ProjectConfig) (created, deleted []events.Payload, err error) {
	if !from.Exists {
		return nil, nil, domainerr.NotFound("project", name)
	}
	if err := ValidateName(to); err != nil {
		return nil, nil, err
	}
	if to == name {
		return nil, nil, domainerr.Invalid("name", "cannot rename project %q to itself", to)
	}
	if target.Exists {
		return nil, nil, domainerr.AlreadyExists("project", to)
	}
	if cfg, err = Normalize(cfg); err != nil {
		return nil, nil, err
	}
	created = []events.Payload{&events.ProjectCreated{Name: to, RenamedFrom: name, ProjectConfig: cfg}}
	if len(from.Members) > 0 {
		created = append(created, &events.ProjectMembersChanged{Project: to, Members: slices.Clone(from.Members)})
	}
	return created, []events.Payload{&events.ProjectDeleted{Name: name, RenamedTo: to}}, nil
}

// ValidateName checks a project name against Hydra's rule.
func ValidateName(name string) error {
	if !names.Project(name) {
		return domainerr.Invalid("name", "invalid project identifier %q: want a letter or '_' followed by letters, digits, '_' or '-'", name)
	}
	return nil
}

// Normalize trims the text fields of cfg and checks it: a display name and
// an owner are required, and a declarative spec needs file, type and value.
func Normalize(cfg events.ProjectConfig) (events.ProjectConfig, error) {
	cfg.DisplayName = strings.TrimSpace(cfg.DisplayName)
	cfg.Description = strings.TrimSpace(cfg.Description)
	cfg.Homepage = strings.TrimSpace(cfg.Homepage)
	cfg.Owner = strings.TrimSpace(cfg.Owner)
	cfg.DeclFile = strings.TrimSpace(cfg.DeclFile)
	cfg.DeclType = strings.TrimSpace(cfg.DeclType)
	cfg.DeclValue = strings.TrimSpace(cfg.DeclValue)
	switch {
	case cfg.DisplayName == "":
		return cfg, domainerr.Invalid("displayName", "you must specify a display name")
	case !names.User(cfg.Owner):
		return cfg, domainerr.Invalid("owner", "invalid user name %q", cfg.Owner)
	}
	if cfg.DeclFile != "" || cfg.DeclType != "" || cfg.DeclValue != "" {
		switch {
		case !names.RelPath(cfg.DeclFile):
			return cfg, domainerr.Invalid("declFile", "invalid declarative spec file %q", cfg.DeclFile)
		case !names.InputType(cfg.DeclType):
			return cfg, domainerr.Invalid("declType", "unknown input type %q", cfg.DeclType)
		case cfg.DeclValue == "":
			return cfg, domainerr.Invalid("declValue", "a declarative project needs a spec input value")
		}
	}
	return cfg, nil
}

func normalizeMembers(members []string) ([]string, error) {
	out := make([]string, 0, len(members))
	for _, m := range members {
		m = strings.TrimSpace(m)
		if !names.User(m) {
			return nil, domainerr.Invalid("members", "invalid user name %q", m)
		}
		out = append(out, m)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
