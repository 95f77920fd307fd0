package commands

import (
	"errors"
	"fmt"

	"buildledger/events"
)

// ErrNoActor means a command came without Metadata.Actor: every event
// must say who caused it.
var ErrNoActor = errors.New("command metadata has no actor")

// Actor strings for events.Metadata.Actor.

// UserActor returns "user:<name>".
func UserActor(name string) string { return "user:" + name }

// TokenActor returns "token:<owner>/<name>" for an API token of owner,
// or "token:<owner>/<name>(by <mintedBy>)" for one an admin minted for
// owner: what the token does is then also the admin's doing. Token names
// cannot hold parentheses (domain/apitoken), so no name forges the part
// in them.
func TokenActor(owner, name, mintedBy string) string {
	if mintedBy == "" || mintedBy == owner {
		return "token:" + owner + "/" + name
	}
	return "token:" + owner + "/" + name + "(by " + mintedBy + ")"
}

// WebhookActor returns "webhook:<source>" (github, gitea, …).
func WebhookActor(source string) string { return "webhook:" + source }

// ComponentActor returns "component:<name>" (evaluator, scheduler, …).
func ComponentActor(name string) string { return "component:" + name }

// NewMetadata returns metadata for a command by actor with a fresh
// correlation id; the caller may set CausationID.
func NewMetadata(actor string, rt *Runtime) events.Metadata {
	id := events.NewID(rt.clock.Now())
	return events.Metadata{Actor: actor, CorrelationID: id, CausationID: id}
}

// complete checks md and fills what the runtime knows: Host, and a fresh
// CorrelationID (also used as CausationID) when the caller gave none. The
// hash chain fields are the store's business and are cleared.
func (rt *Runtime) complete(md events.Metadata) (events.Metadata, error) {
	if md.Actor == "" {
		return md, fmt.Errorf("%w", ErrNoActor)
	}
	if md.Host == "" {
		md.Host = rt.host
	}
	if md.CorrelationID == "" {
		md.CorrelationID = events.NewID(rt.clock.Now())
	}
	if md.CausationID == "" {
		md.CausationID = md.CorrelationID
	}
	md.PrevHash, md.Hash = "", ""
	return md, nil
}
