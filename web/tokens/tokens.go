// Package tokens carries out the API token commands of the web layer:
// creating a token (only its hash is recorded) and revoking it, on
// streams apitoken-<id>, through the commands runtime. The rules are
// domain/apitoken's.
package tokens

import (
	"context"
	"strings"

	"buildledger/commands"
	"buildledger/domain/apitoken"
	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/web"
)

// Commands creates and revokes tokens; it implements web.TokenCommands.
type Commands struct {
	rt *commands.Runtime
}

var _ web.TokenCommands = (*Commands)(nil)

// New returns the token commands writing through rt.
func New(rt *commands.Runtime) *Commands { return &Commands{rt: rt} }

// CreateAPIToken records a new token and returns its id; the command's
// ID and CreatedAt are chosen here.
func (c *Commands) CreateAPIToken(ctx context.Context, md events.Metadata, cmd apitoken.Create) (string, error) {
	now := c.rt.Clock().Now()
	cmd.ID, cmd.CreatedAt = events.NewID(now), now.Unix()
	_, err := commands.Execute(ctx, c.rt, streams.APIToken(cmd.ID), commands.APITokenAggregate, func(s apitoken.State) ([]events.Payload, error) {
		return apitoken.Decide(s, cmd)
	}, md)
	if err != nil {
		return "", err
	}
	return cmd.ID, nil
}

// RevokeAPIToken revokes token id of user; a token of another user is not
// found, and revoking twice does nothing.
func (c *Commands) RevokeAPIToken(ctx context.Context, md events.Metadata, user, id string) error {
	if !events.IsUUID(id) || strings.ContainsAny(id, "/ ") {
		return domainerr.NotFound("api token", id)
	}
	cmd := apitoken.Revoke{ID: id, User: user, RevokedAt: c.rt.Clock().Now().Unix()}
	_, err := commands.Execute(ctx, c.rt, streams.APIToken(id), commands.APITokenAggregate, func(s apitoken.State) ([]events.Payload, error) {
		return apitoken.Decide(s, cmd)
	}, md)
	return err
}
