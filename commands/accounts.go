package commands

import (
	"context"
	"sync"
	"time"

	"buildledger/domain/apitoken"
	"buildledger/domain/names"
	"buildledger/domain/streams"
	"buildledger/domain/user"
	"buildledger/events"
)

// TokenUse records when API tokens were last used, outside the log: a
// request changes no state worth an event. adapters/postgres.Vault
// implements it.
type TokenUse interface {
	TokenUsed(ctx context.Context, id string, at time.Time) error
}

const (
	// maxCachedAccounts bounds each cache of Accounts; a full cache is
	// emptied and fills again from the log.
	maxCachedAccounts = 10_000
	// tokenUseInterval is how often a token's last use is written.
	tokenUseInterval = time.Minute
)

// Accounts tells, for every request, whether a session or an API token
// still authenticates. It folds the user's and the token's own streams
// through the runtime, never a read model, so a revoked token, a
// disabled account or a new password counts from the moment its event is
// appended, however far behind the projectors are. States are cached per
// stream and caught up at each call: one read of the stream's tail, which
// is usually empty.
type Accounts struct {
	rt  *Runtime
	use TokenUse

	mu     sync.Mutex
	users  map[string]Loaded[user.State]
	tokens map[string]Loaded[apitoken.State]
	used   map[string]time.Time
}

// NewAccounts returns the checks reading through rt and recording token
// use in use (nil records none).
func NewAccounts(rt *Runtime, use TokenUse) *Accounts {
	return &Accounts{rt: rt, use: use, users: map[string]Loaded[user.State]{},
		tokens: map[string]Loaded[apitoken.State]{}, used: map[string]time.Time{}}
}

// User returns the user as their stream tells it now. A name no user can
// have is a user that does not exist. The state is shared: do not change
// its slices.
func (a *Accounts) User(ctx context.Context, name string) (user.State, error) {
	if !names.User(name) {
		return user.State{}, nil
	}
	return current(ctx, a, a.users, streams.User(name), UserAggregate)
}

// Token returns the API token id as its stream tells it now.
func (a *Accounts) Token(ctx context.Context, id string) (apitoken.State, error) {
	if !events.IsUUID(id) {
		return apitoken.State{}, nil
	}
	return current(ctx, a, a.tokens, streams.APIToken(id), APITokenAggregate)
}

// TokenUsed records that token id was used now, at most once a
// tokenUseInterval per token and process.
func (a *Accounts) TokenUsed(ctx context.Context, id string) error {
	now := a.rt.clock.Now()
	a.mu.Lock()
	if last, ok := a.used[id]; ok && now.Sub(last) < tokenUseInterval {
		a.mu.Unlock()
		return nil
	}
	if len(a.used) >= maxCachedAccounts {
		clear(a.used)
	}
	a.used[id] = now
	a.mu.Unlock()
	if a.use == nil {
		return nil
	}
	return a.use.TokenUsed(ctx, id, now)
}

// current catches the cached state of stream up with the log.
func current[S any](ctx context.Context, a *Accounts, cache map[string]Loaded[S], stream string, agg Aggregate[S]) (S, error) {
	a.mu.Lock()
	l := cache[stream]
	a.mu.Unlock()
	l, err := CatchUp(ctx, a.rt, stream, agg, l)
	if err != nil {
		var zero S
		return zero, err
	}
	if l.Exists {
		a.mu.Lock()
		if old, ok := cache[stream]; !ok || old.Revision < l.Revision {
			if len(cache) >= maxCachedAccounts {
				clear(cache)
			}
			cache[stream] = l
		}
		a.mu.Unlock()
	}
	return l.State, nil
}
