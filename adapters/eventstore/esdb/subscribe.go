package esdb

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"

	"buildledger/events"
)

// SubscribeAll implements events.Store with a catch-up subscription to
// $all from after (never from the end), resubscribing after drops.
func (s *Store) SubscribeAll(ctx context.Context, after events.Position, filter events.Filter) (events.Subscription, error) {
	if _, err := s.current(); err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	return events.StartFeed(ctx, s.opts.BatchSize, func(ctx context.Context, f *events.Feed) error {
		return run(ctx, f, s, after, filter)
	}), nil
}

// run subscribes, delivers, and resubscribes from the last delivered
// position whenever the subscription drops, until ctx ends or an error
// that retrying cannot fix.
func run(ctx context.Context, f *events.Feed, s *Store, cursor events.Position, filter events.Filter) error {
	opts := esdb.SubscribeToAllOptions{Filter: s.serverFilter(filter)}
	backoff := s.opts.RetryMin
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, s.opts.RetryMax)
		}
		opts.From = esdb.Start{}
		if !cursor.IsStart() {
			opts.From = esdb.Position{Commit: cursor.Commit, Prepare: cursor.Prepare}
		}
		var es *esdb.Subscription
		err := s.call(func(c *esdb.Client) error {
			var err error
			es, err = c.SubscribeToAll(ctx, opts)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if permanent(err) {
				return err
			}
			s.log.Warn("esdb: subscribe failed; retrying", "after", cursor, "backoff", backoff, "err", err)
			continue
		}
		if attempt > 0 {
			s.log.Info("esdb: resubscribed", "after", cursor)
		}
		var delivered bool
		cursor, delivered, err = pump(ctx, f, s, es, cursor, filter)
		es.Close()
		if delivered {
			backoff = s.opts.RetryMin
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		s.log.Warn("esdb: subscription dropped; resubscribing", "after", cursor)
	}
}

// pump delivers events of es until it drops. It returns the position of
// the last event delivered or skipped, whether any was, and an error only
// for a failure that resubscribing cannot fix.
func pump(ctx context.Context, f *events.Feed, s *Store, es *esdb.Subscription, cursor events.Position, filter events.Filter) (events.Position, bool, error) {
	delivered := false
	for {
		ev := es.Recv()
		switch {
		case ev.SubscriptionDropped != nil:
			if ctx.Err() == nil {
				s.log.Debug("esdb: subscription dropped", "err", ev.SubscriptionDropped.Error)
			}
			return cursor, delivered, nil
		case ev.EventAppeared != nil:
			e := ev.EventAppeared.OriginalEvent()
			p := toPosition(e.Position)
			if !cursor.IsStart() && !cursor.Less(p) {
				continue // at or before what we already delivered
			}
			rec, ok, err := s.decode(e)
			if err != nil {
				return cursor, delivered, err
			}
			if ok && filter.Match(rec) && !f.Send(ctx, rec) {
				return cursor, delivered, nil
			}
			cursor, delivered = p, true
		}
		// Checkpoints are not used to advance the cursor: resuming from
		// the last event seen is always safe.
	}
}

// serverFilter is the server-side part of filter: stream prefixes (within
// the namespace) if any, else the exclusion of system events.
func (s *Store) serverFilter(f events.Filter) *esdb.SubscriptionFilter {
	if len(f.StreamPrefixes) > 0 || s.opts.Namespace != "" {
		prefixes := []string{s.opts.Namespace}
		if len(f.StreamPrefixes) > 0 {
			prefixes = prefixes[:0]
			for _, p := range f.StreamPrefixes {
				prefixes = append(prefixes, s.opts.Namespace+p)
			}
		}
		if !slicesContainEmpty(prefixes) {
			return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: prefixes}
		}
	}
	if len(f.Types) > 0 {
		quoted := make([]string, len(f.Types))
		for i, t := range f.Types {
			quoted[i] = regexp.QuoteMeta(t)
		}
		return &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: "^(?:" + strings.Join(quoted, "|") + ")$"}
	}
	return esdb.ExcludeSystemEventsFilter()
}

func slicesContainEmpty(ss []string) bool {
	for _, s := range ss {
		if s == "" {
			return true
		}
	}
	return false
}

// permanent reports errors that resubscribing cannot fix.
func permanent(err error) bool {
	if errors.Is(err, ErrClosed) {
		return true
	}
	if code, ok := esdbCode(err); ok {
		switch code {
		case esdb.ErrorCodeUnauthenticated, esdb.ErrorCodeAccessDenied, esdb.ErrorCodeUnsupportedFeature:
			return true
		}
	}
	switch grpcCode(err) {
	case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument, codes.Unimplemented:
		return true
	}
	return false
}
