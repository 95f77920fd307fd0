package commands

import (
	"context"
	"strings"

	"buildledger/domain/apitoken"
	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
	"buildledger/events"
)

// CreateAPIToken appends APITokenCreated to apitoken-<id> for a new token
// and returns its id; the command's ID and CreatedAt are chosen here.
// Only the hash of the token's secret is recorded.
func (h *Handlers) CreateAPIToken(ctx context.Context, md events.Metadata, cmd apitoken.Create) (string, error) {
	now := h.rt.clock.Now()
	cmd.ID, cmd.CreatedAt = events.NewID(now), now.Unix()
	_, err := Execute(ctx, h.rt, streams.APIToken(cmd.ID), APITokenAggregate, func(s apitoken.State) ([]events.Payload, error) {
		return apitoken.Decide(s, cmd)
	}, md)
	if err != nil {
		return "", err
	}
	return cmd.ID, nil
}

// RevokeAPIToken appends APITokenRevoked to apitoken-<id> for token id of
// user; a token of another user is not found, and revoking twice does
// nothing.
func (h *Handlers) RevokeAPIToken(ctx context.Context, md events.Metadata, user, id string) error {
	if !events.IsUUID(id) || strings.ContainsAny(id, "/ ") {
		return domainerr.NotFound("api token", id)
	}
	cmd := apitoken.Revoke{ID: id, User: user, RevokedAt: h.rt.clock.Now().Unix()}
	_, err := Execute(ctx, h.rt, streams.APIToken(id), APITokenAggregate, func(s apitoken.State) ([]events.Payload, error) {
		return apitoken.Decide(s, cmd)
	}, md)
	return err
}
