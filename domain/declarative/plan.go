package declarative

import (
	"buildledger/domain/domainerr"
	"buildledger/domain/jobset"
	"buildledger/domain/names"
	"buildledger/domain/project"
	"buildledger/events"
)

// Kind is what an Action does to a jobset.
type Kind int

// The kinds of Action.
const (
	// Create makes a jobset the spec declares and the project lacks.
	Create Kind = iota + 1
	// Update gives an existing jobset the spec's configuration.
	Update
	// Disable disables and hides a jobset the spec no longer declares, as
	// Hydra does; its history stays.
	Disable
)

// Action is one change a spec makes to a project's jobsets.
type Action struct {
	Kind   Kind
	Name   string
	Config events.JobsetConfig
}

// Plan returns the changes that bring a project whose live jobsets are
// current (the generator ".jobsets" left out or not) to the jobsets
// want declares, sorted by name: create the missing, update the changed,
// and disable the others that are not disabled and hidden yet. A spec
// declaring more than maxJobsets jobsets is refused whole, with
// ErrInvalid, so that a runaway generator changes nothing.
func Plan(current, want map[string]events.JobsetConfig, maxJobsets int) ([]Action, error) {
	if maxJobsets <= 0 {
		maxJobsets = DefaultMaxJobsets
	}
	if len(want) > maxJobsets {
		return nil, domainerr.Invalid("spec", "the spec declares %d jobsets, more than the %d a declarative project may have", len(want), maxJobsets)
	}
	var out []Action
	all := make(map[string]bool, len(current)+len(want))
	for n := range current {
		all[n] = true
	}
	for n := range want {
		all[n] = true
	}
	for _, n := range sortedKeys(all) {
		if n == names.DeclarativeJobset {
			continue
		}
		cur, exists := current[n]
		w, declared := want[n]
		switch {
		case declared && !exists:
			out = append(out, Action{Kind: Create, Name: n, Config: w})
		case declared && !jobset.EqualConfig(cur, w):
			out = append(out, Action{Kind: Update, Name: n, Config: w})
		case !declared && (cur.Enabled != jobset.Disabled || !cur.Hidden):
			cur.Enabled, cur.Hidden = jobset.Disabled, true
			out = append(out, Action{Kind: Disable, Name: n, Config: cur})
		}
	}
	return out, nil
}

// MayEdit refuses, with ErrForbidden, a change to the jobsets of
// declarative project p by anyone but its declarative source: the spec
// owns them, and a hand edit would be undone, unseen, at the next
// evaluation of ".jobsets" (Hydra answers 403 too).
func MayEdit(p project.State, actor string) error {
	if p.Config.DeclFile == "" || actor == Actor(p.Name) {
		return nil
	}
	return domainerr.Forbidden("can't modify jobset of declarative project %q: change its spec file %s instead", p.Name, p.Config.DeclFile)
}
