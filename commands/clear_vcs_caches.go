package commands

import (
	"context"

	"buildledger/domain/streams"
	"buildledger/events"
)

// VCSCachesAggregate folds the caches-vcs stream into the time of its
// latest clearing (Unix seconds, 0 for none). Every clearing is allowed
// and recorded; the evaluation service folds the stream to learn what it
// must forget, as it may run in another process than the web.
var VCSCachesAggregate = Aggregate[int64]{Name: "VCS caches", Evolve: func(s int64, p events.Payload) int64 {
	if c, ok := p.(*events.VCSCachesCleared); ok {
		return max(s, c.Timestamp)
	}
	return s
}}

// ClearVCSCaches appends VCSCachesCleared, stamped with the runtime's
// clock, to caches-vcs.
func (h *Handlers) ClearVCSCaches(ctx context.Context, md events.Metadata) (Result, error) {
	return Execute(ctx, h.rt, streams.VCSCaches(), VCSCachesAggregate, func(int64) ([]events.Payload, error) {
		return []events.Payload{&events.VCSCachesCleared{Timestamp: h.rt.clock.Now().Unix()}}, nil
	}, md)
}
