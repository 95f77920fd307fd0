// Package tokens carries out the API token commands of the web layer:
// creating a token (only its hash is recorded) and revoking it, on
// streams apitoken-<id>, through the commands runtime.
package tokens

import (
	"context"
	"strings"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/events"
	"buildledger/web"
)

// StreamPrefix starts every token stream.
const StreamPrefix = "apitoken-"

// state is a token as its stream tells it.
type state struct {
	Exists  bool
	User    string
	Revoked bool
}

func evolve(s state, p events.Payload) state {
	switch e := p.(type) {
	case *events.APITokenCreated:
		return state{Exists: true, User: e.UserName}
	case events.APITokenCreated:
		return state{Exists: true, User: e.UserName}
	case *events.APITokenRevoked, events.APITokenRevoked:
		s.Revoked = true
	}
	return s
}

var aggregate = commands.Aggregate[state]{Name: "api token", Evolve: evolve}

// Commands creates and revokes tokens; it implements web.TokenCommands.
type Commands struct {
	rt *commands.Runtime
}

var _ web.TokenCommands = (*Commands)(nil)

// New returns the token commands writing through rt.
func New(rt *commands.Runtime) *Commands { return &Commands{rt: rt} }

// CreateAPIToken records token hash for user under name and returns the
// new token's id.
func (c *Commands) CreateAPIToken(ctx context.Context, md events.Metadata, user, name, hash string) (string, error) {
	now := c.rt.Clock().Now()
	id := events.NewID(now)
	_, err := commands.Execute(ctx, c.rt, StreamPrefix+id, aggregate, func(s state) ([]events.Payload, error) {
		if s.Exists {
			return nil, domainerr.AlreadyExists("api token", id)
		}
		return []events.Payload{events.APITokenCreated{ID: id, UserName: user, Name: name, TokenHash: hash, CreatedAt: now.Unix()}}, nil
	}, md)
	if err != nil {
		return "", err
	}
	return id, nil
}

// RevokeAPIToken revokes token id of user; a token of another user is not
// found, and revoking twice does nothing.
func (c *Commands) RevokeAPIToken(ctx context.Context, md events.Metadata, user, id string) error {
	if !events.IsUUID(id) || strings.ContainsAny(id, "/ ") {
		return domainerr.NotFound("api token", id)
	}
	_, err := commands.Execute(ctx, c.rt, StreamPrefix+id, aggregate, func(s state) ([]events.Payload, error) {
		if !s.Exists || s.User != user {
			return nil, domainerr.NotFound("api token", id)
		}
		if s.Revoked {
			return nil, nil
		}
		return []events.Payload{events.APITokenRevoked{ID: id, UserName: user, RevokedAt: c.rt.Clock().Now().Unix()}}, nil
	}, md)
	return err
}
