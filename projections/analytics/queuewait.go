// Package analytics holds two example analyst projections, written in Go
// with set-based SQL per batch (one statement per table per batch, not one
// round trip per event) and published blue/green
// through sqlproj.Tables:
//
//   - QueueWait: how long steps wait in the queue before a machine takes
//     them, per system and hour (view queue_wait_hourly).
//   - BuildDuration: how long successful builds of each job take, per day
//     (view build_duration_daily).
//
// Copy one to start a projection of your own; docs/projections.md walks
// through it.
package analytics

import (
	"context"
	"fmt"
	"time"

	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/sqlproj"
)

// QueueWait measures queue wait: from a step's first StepQueued to its
// first StepDispatched, counted in the hour of the dispatch.
type QueueWait struct{}

var (
	_ projections.Projection = QueueWait{}
	_ projections.Promoter   = QueueWait{}
	_ projections.EventTyper = QueueWait{}
)

// queueWaitTables: steps remembers when each step was first queued and
// dispatched; hourly sums the waits.
var queueWaitTables = sqlproj.Tables{
	Projection: "queue_wait",
	Version:    1,
	Logical:    []string{"hourly", "steps"},
	DDL: `
create table {{table "steps"}} (
    drv_path      text primary key,
    system        text not null,
    queued_at     timestamptz not null,
    dispatched_at timestamptz
);
create table {{table "hourly"}} (
    system       text not null,
    hour         timestamptz not null,
    steps        bigint not null,
    -- numeric, not double precision: sums are exact, so the same events
    -- give the same totals however they were split into batches.
    total_wait_s numeric not null,
    max_wait_s   numeric not null,
    primary key (system, hour)
);`,
}

// Name implements projections.Projection.
func (QueueWait) Name() string { return queueWaitTables.Projection }

// UsesMetadata implements projections.MetadataUser: it reads none.
func (QueueWait) UsesMetadata() bool { return false }

// Version implements projections.Projection.
func (QueueWait) Version() int { return queueWaitTables.Version }

// Tables returns the projection's table set.
func (QueueWait) Tables() sqlproj.Tables { return queueWaitTables }

// EventTypes implements projections.EventTyper.
func (QueueWait) EventTypes() []string {
	return []string{events.StepQueued{}.EventType(), events.StepDispatched{}.EventType()}
}

// Promote implements projections.Promoter.
func (QueueWait) Promote(ctx context.Context, tx projections.Tx) error {
	return queueWaitTables.Promote(ctx, tx)
}

// Apply implements projections.Projection, in one statement per batch
// that gives the same rows as one event at a time: only a step's first
// queueing and first dispatch count.
func (QueueWait) Apply(ctx context.Context, tx projections.Tx, batch []projections.Event) error {
	var (
		qDrv, qSys []string
		qAt        []time.Time
		dDrv       []string
		dAt        []time.Time
	)
	for _, ev := range batch {
		switch p := ev.Payload.(type) {
		case *events.StepQueued:
			qDrv, qSys, qAt = append(qDrv, p.DrvPath), append(qSys, p.System), append(qAt, ev.RecordedAt)
		case *events.StepDispatched:
			dDrv, dAt = append(dDrv, p.DrvPath), append(dAt, ev.RecordedAt)
		}
	}
	if len(qDrv) == 0 && len(dDrv) == 0 {
		return nil
	}
	t := queueWaitTables
	if err := t.Ensure(ctx, tx); err != nil {
		return err
	}
	// One statement: a step queued and dispatched in the same batch is
	// inserted dispatched, not inserted and then updated; a step queued
	// earlier is updated. (The update does not see the rows the insert
	// adds: both read the statement's snapshot.)
	err := tx.Exec(ctx, fmt.Sprintf(`with q as (
			select distinct on (drv) drv, sys, at from unnest($1::text[], $2::text[], $3::timestamptz[]) as u(drv, sys, at)
			order by drv, at
		), d as (
			select distinct on (drv) drv, at from unnest($4::text[], $5::timestamptz[]) as u(drv, at) order by drv, at
		), inserted as (
			insert into %[1]s (drv_path, system, queued_at, dispatched_at)
			select q.drv, q.sys, q.at, d.at from q left join d on d.drv = q.drv
			on conflict (drv_path) do nothing
			returning system, queued_at, dispatched_at
		), updated as (
			update %[1]s s set dispatched_at = d.at from d
			where s.drv_path = d.drv and s.dispatched_at is null
			returning s.system, s.queued_at, s.dispatched_at
		), started as (
			select * from inserted where dispatched_at is not null
			union all
			select * from updated
		)
		insert into %[2]s as h (system, hour, steps, total_wait_s, max_wait_s)
		select system, date_trunc('hour', dispatched_at at time zone 'UTC') at time zone 'UTC', count(*),
			sum(extract(epoch from dispatched_at - queued_at)), max(extract(epoch from dispatched_at - queued_at))
		from started group by 1, 2
		on conflict (system, hour) do update set steps = h.steps + excluded.steps,
			total_wait_s = h.total_wait_s + excluded.total_wait_s, max_wait_s = greatest(h.max_wait_s, excluded.max_wait_s)`,
		t.Table("steps"), t.Table("hourly")), qDrv, qSys, qAt, dDrv, dAt)
	if err != nil {
		return fmt.Errorf("queue_wait: %w", err)
	}
	return nil
}
