package analytics

import (
	"context"
	"fmt"

	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/sqlproj"
)

// BuildDuration follows how long successful, non-cached builds of each
// job take (BuildFinished stop time minus start time), per UTC day of the
// stop time.
type BuildDuration struct{}

var (
	_ projections.Projection = BuildDuration{}
	_ projections.Promoter   = BuildDuration{}
	_ projections.EventTyper = BuildDuration{}
)

var buildDurationTables = sqlproj.Tables{
	Projection: "build_duration",
	Version:    1,
	Logical:    []string{"daily", "builds"},
	DDL: `
create table {{table "builds"}} (
    build_id integer primary key,
    project  text not null,
    jobset   text not null,
    job      text not null,
    system   text not null
);
create table {{table "daily"}} (
    project text not null,
    jobset  text not null,
    job     text not null,
    system  text not null,
    day     date not null,
    builds  bigint not null,
    total_s bigint not null,
    min_s   bigint not null,
    max_s   bigint not null,
    primary key (project, jobset, job, system, day)
);`,
}

// Name implements projections.Projection.
func (BuildDuration) Name() string { return buildDurationTables.Projection }

// UsesMetadata implements projections.MetadataUser: it reads none.
func (BuildDuration) UsesMetadata() bool { return false }

// Version implements projections.Projection.
func (BuildDuration) Version() int { return buildDurationTables.Version }

// Tables returns the projection's table set.
func (BuildDuration) Tables() sqlproj.Tables { return buildDurationTables }

// EventTypes implements projections.EventTyper.
func (BuildDuration) EventTypes() []string {
	return []string{events.BuildQueued{}.EventType(), events.BuildFinished{}.EventType()}
}

// Promote implements projections.Promoter.
func (BuildDuration) Promote(ctx context.Context, tx projections.Tx) error {
	return buildDurationTables.Promote(ctx, tx)
}

// Apply implements projections.Projection: queued builds first, then the
// finished ones joined to them, one statement each per batch.
func (BuildDuration) Apply(ctx context.Context, tx projections.Tx, batch []projections.Event) error {
	var (
		qID                     []int64
		qProj, qSet, qJob, qSys []string
		fID, fStart, fStop      []int64
	)
	for _, ev := range batch {
		switch p := ev.Payload.(type) {
		case *events.BuildQueued:
			qID, qProj, qSet, qJob, qSys = append(qID, p.BuildID), append(qProj, p.Project), append(qSet, p.Jobset), append(qJob, p.Job), append(qSys, p.System)
		case *events.BuildFinished:
			if p.Status == 0 && !p.IsCachedBuild && p.StartTime > 0 && p.StopTime >= p.StartTime {
				fID, fStart, fStop = append(fID, p.BuildID), append(fStart, p.StartTime), append(fStop, p.StopTime)
			}
		}
	}
	if len(qID) == 0 && len(fID) == 0 {
		return nil
	}
	t := buildDurationTables
	if err := t.Ensure(ctx, tx); err != nil {
		return err
	}
	if len(qID) > 0 {
		if err := tx.Exec(ctx, fmt.Sprintf(`insert into %s (build_id, project, jobset, job, system)
			select * from unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[])
			on conflict (build_id) do nothing`, t.Table("builds")), qID, qProj, qSet, qJob, qSys); err != nil {
			return fmt.Errorf("build_duration builds: %w", err)
		}
	}
	if len(fID) == 0 {
		return nil
	}
	err := tx.Exec(ctx, fmt.Sprintf(`insert into %[2]s as d (project, jobset, job, system, day, builds, total_s, min_s, max_s)
		select b.project, b.jobset, b.job, b.system, (to_timestamp(f.stop) at time zone 'UTC')::date, count(*),
			sum(f.stop - f.start), min(f.stop - f.start), max(f.stop - f.start)
		from unnest($1::int[], $2::bigint[], $3::bigint[]) as f(id, start, stop)
		join %[1]s b on b.build_id = f.id
		group by 1, 2, 3, 4, 5
		on conflict (project, jobset, job, system, day) do update set builds = d.builds + excluded.builds,
			total_s = d.total_s + excluded.total_s, min_s = least(d.min_s, excluded.min_s), max_s = greatest(d.max_s, excluded.max_s)`,
		t.Table("builds"), t.Table("daily")), fID, fStart, fStop)
	if err != nil {
		return fmt.Errorf("build_duration daily: %w", err)
	}
	return nil
}
