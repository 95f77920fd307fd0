package queries

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"buildledger/web"
)

var _ web.NotificationHistory = (*DB)(nil)

// notificationColumns are read by scanNotifications, attempts as JSON.
const notificationColumns = `n.key, n.plugin, n.channel, n.target, coalesce(n.build_id, 0), n.queued_at, n.state,
	coalesce((select json_agg(json_build_object('attempt', a.attempt, 'at', a.at, 'delivered', a.delivered,
		'detail', a.detail, 'retryAt', coalesce(a.retry_at, 0)) order by a.attempt)
		from notification_attempts a where a.key = n.key), '[]'::json)`

// BuildNotifications implements web.NotificationHistory.
func (d *DB) BuildNotifications(ctx context.Context, buildID int64) ([]web.Notification, error) {
	rows, err := d.pool.Query(ctx, `select `+notificationColumns+` from notifications n where n.build_id = $1
		order by n.queued_at, n.key`, buildID)
	return scanNotifications(rows, err, fmt.Sprintf("build %d", buildID))
}

// JobsetNotifications implements web.NotificationHistory.
func (d *DB) JobsetNotifications(ctx context.Context, project, jobset string, p web.Page) ([]web.Notification, error) {
	off, n := limit(p, 200)
	rows, err := d.pool.Query(ctx, `select `+notificationColumns+` from notifications n where n.project = $1 and n.jobset = $2
		order by n.queued_at desc, n.key limit $3 offset $4`, project, jobset, n, off)
	return scanNotifications(rows, err, "jobset "+project+":"+jobset)
}

func scanNotifications(rows pgx.Rows, err error, of string) ([]web.Notification, error) {
	if err != nil {
		return nil, fmt.Errorf("notifications of %s: %w", of, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (web.Notification, error) {
		var n web.Notification
		err := r.Scan(&n.Key, &n.Plugin, &n.Channel, &n.Target, &n.BuildID, &n.QueuedAt, &n.State, &n.Attempts)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("notifications of %s: %w", of, err)
	}
	return out, nil
}
