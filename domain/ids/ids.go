// Package ids is the aggregate of numeric id reservations: the ids-<kind>
// stream records blocks of ids (builds, evals, jobsets) taken by
// allocators. Ids start at 1 and a block is never handed out twice,
// because each reservation is appended at the stream revision it was
// decided on.
package ids

import (
	"regexp"

	"buildledger/domain/domainerr"
	"buildledger/events"
)

// Kinds of numeric ids.
const (
	KindBuild  = "build"
	KindEval   = "eval"
	KindJobset = "jobset"
	KindNews   = "news"
)

var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// State is the reservation history of one kind, summed up.
type State struct {
	Kind string
	// Next is the first id not yet reserved (1 on an empty stream).
	Next int64
}

// Evolve folds one event of an ids-<kind> stream into s. Payloads are
// pointers, as the codec decodes them.
func Evolve(s State, p events.Payload) State {
	e, ok := p.(*events.IDsReserved)
	if !ok {
		return s
	}
	s.Kind = e.Kind
	if end := e.First + e.Count; end > s.Next {
		s.Next = end
	}
	return s
}

// Reserve asks for Count consecutive ids of Kind.
type Reserve struct {
	Kind  string
	Count int64
}

// Decide returns the IDsReserved event that takes the next Count ids.
func Decide(s State, c Reserve) ([]events.Payload, error) {
	if !kindRE.MatchString(c.Kind) {
		return nil, domainerr.Invalid("kind", "invalid id kind %q", c.Kind)
	}
	if c.Count < 1 {
		return nil, domainerr.Invalid("count", "must reserve at least one id, not %d", c.Count)
	}
	first := max(s.Next, 1)
	return []events.Payload{&events.IDsReserved{Kind: c.Kind, First: first, Count: c.Count}}, nil
}
