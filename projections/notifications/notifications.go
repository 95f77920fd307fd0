// Package notifications projects the notification outbox's events
// (NotificationQueued, NotificationDelivered, NotificationFailed) into
// the read models notifications and notification_attempts, behind the
// Notifications tabs of builds and jobsets, and into Hydra's TaskRetries:
// one row per notification waiting for another attempt, with Hydra's
// channel, plugin name, attempts and retry_at, its payload the
// notification's key.
package notifications

import (
	"context"
	"fmt"

	"buildledger/events"
	"buildledger/projections"
)

// Projection writes notifications, notification_attempts and TaskRetries.
type Projection struct{}

var (
	_ projections.Projection = Projection{}
	_ projections.EventTyper = Projection{}
)

// Name implements projections.Projection.
func (Projection) Name() string { return "notifications" }

// UsesMetadata implements projections.MetadataUser: it reads none.
func (Projection) UsesMetadata() bool { return false }

// Version implements projections.Projection.
func (Projection) Version() int { return 1 }

// EventTypes implements projections.EventTyper.
func (Projection) EventTypes() []string {
	return []string{"NotificationQueued", "NotificationDelivered", "NotificationFailed"}
}

// Apply implements projections.Projection.
func (Projection) Apply(ctx context.Context, tx projections.Tx, batch []projections.Event) error {
	for _, ev := range batch {
		var err error
		switch p := ev.Payload.(type) {
		case *events.NotificationQueued:
			err = tx.Exec(ctx, `insert into notifications (key, plugin, channel, target, digest, build_id, eval_id, project, jobset, queued_at, state)
				values ($1, $2, $3, $4, $5, nullif($6, 0), nullif($7, 0), nullif($8, ''), nullif($9, ''), $10, 'queued')
				on conflict (key) do nothing`,
				p.Key, p.Plugin, p.Channel, p.Target, p.Digest, p.BuildID, p.EvalID, p.Project, p.Jobset, p.QueuedAt)
		case *events.NotificationDelivered:
			err = tx.ExecAll(ctx, []projections.Statement{
				{SQL: `insert into notification_attempts (key, attempt, at, delivered, detail) values ($1, $2, $3, true, $4)
					on conflict (key, attempt) do nothing`, Args: []any{p.Key, p.Attempt, p.DeliveredAt, p.Response}},
				{SQL: `update notifications set state = 'delivered', attempts = $2 where key = $1`, Args: []any{p.Key, p.Attempt}},
				{SQL: `delete from TaskRetries where payload = $1`, Args: []any{p.Key}},
			})
		case *events.NotificationFailed:
			err = failed(ctx, tx, p)
		}
		if err != nil {
			return fmt.Errorf("notifications: event %s (%s): %w", ev.ID, ev.Type, err)
		}
	}
	return nil
}

// failed records a failed attempt, and keeps Hydra's TaskRetries row of
// the notification while another attempt is due.
func failed(ctx context.Context, tx projections.Tx, p *events.NotificationFailed) error {
	state := "retrying"
	var retry any = p.RetryAt
	if p.RetryAt == 0 {
		state, retry = "failed", nil
	}
	stmts := []projections.Statement{
		{SQL: `insert into notification_attempts (key, attempt, at, delivered, detail, retry_at) values ($1, $2, $3, false, $4, $5)
			on conflict (key, attempt) do nothing`, Args: []any{p.Key, p.Attempt, p.FailedAt, p.Error, retry}},
		{SQL: `update notifications set state = $2, attempts = $3 where key = $1`, Args: []any{p.Key, state, p.Attempt}},
	}
	if p.RetryAt == 0 {
		stmts = append(stmts, projections.Statement{SQL: `delete from TaskRetries where payload = $1`, Args: []any{p.Key}})
	} else {
		stmts = append(stmts, projections.Statement{SQL: `insert into TaskRetries (channel, pluginname, payload, attempts, retry_at)
			select channel, plugin, key, $2, $3 from notifications where key = $1
			on conflict (payload) do update set attempts = excluded.attempts, retry_at = excluded.retry_at`,
			Args: []any{p.Key, p.Attempt, p.RetryAt}})
	}
	return tx.ExecAll(ctx, stmts)
}
