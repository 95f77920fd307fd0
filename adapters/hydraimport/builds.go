package hydraimport

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"buildledger/domain/status"
	"buildledger/domain/streams"
	"buildledger/events"
)

// build is one Builds row with what hangs off it.
type build struct {
	queued   events.BuildQueued
	finished bool
	finish   events.BuildFinished
	steps    []step
	products []events.ProductScraped
	metrics  []metric
}

type step struct {
	nr, busy        int
	drvPath         string
	status          *int32
	errorMsg        *string
	start, stop     *int32
	machine, system string
	overhead, times *int32
	nonDet          *bool
	outputs         []events.Output
}

type metric struct {
	events.MetricScraped
	timestamp int64
}

// builds imports the builds in chunks of ids, each with its outputs,
// steps, step outputs, products and metrics, as the events a build's life
// records: BuildQueued, the scraped products and metrics, BuildFinished,
// and each step's StepStarted and StepFinished. A build still queued is
// queued anew (StepQueued for its derivation), and a step Hydra had busy
// is recorded aborted: Hydra's runner does the same with the steps it
// finds busy when it starts.
func (im *Importer) builds(ctx context.Context, b *batch) (int, error) {
	total := 0
	var after int64
	for {
		chunk, last, err := im.readBuilds(ctx, after)
		if err != nil {
			return total, err
		}
		if len(chunk) == 0 {
			return total, nil
		}
		for _, id := range chunk.order() {
			if err := addBuild(b, chunk[id]); err != nil {
				return total, err
			}
		}
		if err := b.flush(ctx); err != nil {
			return total, err
		}
		total += len(chunk)
		after = last
	}
}

type chunk map[int64]*build

func (c chunk) order() []int64 {
	ids := make([]int64, 0, len(c))
	for id := range c {
		ids = append(ids, id)
	}
	sortInt64s(ids)
	return ids
}

// readBuilds reads the next chunk of builds after id after, and returns
// it with the last id read.
func (im *Importer) readBuilds(ctx context.Context, after int64) (chunk, int64, error) {
	c := chunk{}
	var last int64
	_, err := im.each(ctx, `select b.id, b.finished, b.timestamp, b.jobset_id, j.project, j.name, b.job, b.nixName, b.description,
			b.drvPath, b.system, b.license, b.homepage, b.maintainers, b.maxsilent, b.timeout, b.isChannel, b.priority,
			b.globalPriority, b.startTime, b.stopTime, b.isCachedBuild, b.buildStatus, b.size, b.closureSize, b.releaseName,
			coalesce((select min(m.eval) from JobsetEvalMembers m where m.build = b.id), 0)
		from Builds b join Jobsets j on j.id = b.jobset_id
		where b.id > $1 order by b.id limit $2`, []any{after, im.opts.ChunkBuilds}, func(r pgx.Rows) error {
		var (
			x                                    build
			id, ts, jobsetID, isChannel, prio    int32
			gprio, finished                      int32
			nixName, desc, lic, home, maint, rel *string
			maxSilent, timeout, start, stop      *int32
			cached, bstatus                      *int32
			size, closure                        *int64
			eval                                 int32
		)
		q := &x.queued
		if err := r.Scan(&id, &finished, &ts, &jobsetID, &q.Project, &q.Jobset, &q.Job, &nixName, &desc, &q.DrvPath, &q.System,
			&lic, &home, &maint, &maxSilent, &timeout, &isChannel, &prio, &gprio, &start, &stop, &cached, &bstatus, &size, &closure,
			&rel, &eval); err != nil {
			return err
		}
		q.BuildID, q.EvalID, q.JobsetID, q.Timestamp, q.NixName = int64(id), int64(eval), int64(jobsetID), int64(ts), str(nixName)
		q.GlobalPriority = int(gprio)
		q.Meta = events.JobMeta{Description: str(desc), License: str(lic), Homepage: str(home), Maintainers: str(maint),
			Timeout: i32(timeout), MaxSilent: i32(maxSilent), SchedulingPriority: int(prio), IsChannel: isChannel != 0}
		x.finished = finished != 0
		x.finish = events.BuildFinished{BuildID: int64(id), Status: i32(bstatus), StartTime: int64(i32(start)),
			StopTime: int64(i32(stop)), IsCachedBuild: i32(cached) != 0, Size: i64(size), ClosureSize: i64(closure), ReleaseName: str(rel)}
		c[int64(id)] = &x
		last = int64(id)
		return nil
	})
	if err != nil || len(c) == 0 {
		return c, last, err
	}
	lo, hi := after, last
	_, err = im.each(ctx, `select build, name, path from BuildOutputs where build > $1 and build <= $2 order by build, name`,
		[]any{lo, hi}, func(r pgx.Rows) error {
			var (
				id         int32
				name       string
				outputPath *string
			)
			if err := r.Scan(&id, &name, &outputPath); err != nil {
				return err
			}
			if x := c[int64(id)]; x != nil {
				x.queued.Outputs = append(x.queued.Outputs, events.Output{Name: name, Path: str(outputPath)})
			}
			return nil
		})
	if err != nil {
		return nil, 0, fmt.Errorf("BuildOutputs: %w", err)
	}
	if err := im.readSteps(ctx, c, lo, hi); err != nil {
		return nil, 0, err
	}
	_, err = im.each(ctx, `select build, productnr, type, subtype, fileSize, sha256hash, path, name, defaultPath
		from BuildProducts where build > $1 and build <= $2 order by build, productnr`, []any{lo, hi}, func(r pgx.Rows) error {
		var (
			id, nr               int32
			p                    events.ProductScraped
			size                 *int64
			sha, path, defaultPa *string
		)
		if err := r.Scan(&id, &nr, &p.Type, &p.Subtype, &size, &sha, &path, &p.Name, &defaultPa); err != nil {
			return err
		}
		p.BuildID, p.ProductNr, p.FileSize, p.SHA256, p.Path, p.DefaultPath = int64(id), int(nr), i64(size), str(sha), str(path), str(defaultPa)
		if x := c[int64(id)]; x != nil {
			x.products = append(x.products, p)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("BuildProducts: %w", err)
	}
	_, err = im.each(ctx, `select build, name, unit, value, timestamp from BuildMetrics where build > $1 and build <= $2
		order by build, name`, []any{lo, hi}, func(r pgx.Rows) error {
		var (
			id, ts int32
			m      metric
			unit   *string
		)
		if err := r.Scan(&id, &m.Name, &unit, &m.Value, &ts); err != nil {
			return err
		}
		m.BuildID, m.Unit, m.timestamp = int64(id), str(unit), int64(ts)
		if x := c[int64(id)]; x != nil {
			x.metrics = append(x.metrics, m)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("BuildMetrics: %w", err)
	}
	return c, last, nil
}

func (im *Importer) readSteps(ctx context.Context, c chunk, lo, hi int64) error {
	index := map[[2]int64]*step{}
	_, err := im.each(ctx, `select build, stepnr, drvPath, busy, status, errorMsg, startTime, stopTime, machine, system,
			overhead, timesBuilt, isNonDeterministic
		from BuildSteps where build > $1 and build <= $2 order by build, stepnr`, []any{lo, hi}, func(r pgx.Rows) error {
		var (
			id, nr, busy int32
			s            step
			system       *string
		)
		if err := r.Scan(&id, &nr, &s.drvPath, &busy, &s.status, &s.errorMsg, &s.start, &s.stop, &s.machine, &system,
			&s.overhead, &s.times, &s.nonDet); err != nil {
			return err
		}
		s.nr, s.busy, s.system = int(nr), int(busy), str(system)
		if x := c[int64(id)]; x != nil {
			x.steps = append(x.steps, s)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("BuildSteps: %w", err)
	}
	for id, x := range c {
		for i := range x.steps {
			index[[2]int64{id, int64(x.steps[i].nr)}] = &x.steps[i]
		}
	}
	_, err = im.each(ctx, `select build, stepnr, name, path from BuildStepOutputs where build > $1 and build <= $2
		order by build, stepnr, name`, []any{lo, hi}, func(r pgx.Rows) error {
		var (
			id, nr     int32
			name       string
			outputPath *string
		)
		if err := r.Scan(&id, &nr, &name, &outputPath); err != nil {
			return err
		}
		if s := index[[2]int64{int64(id), int64(nr)}]; s != nil {
			s.outputs = append(s.outputs, events.Output{Name: name, Path: str(outputPath)})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("BuildStepOutputs: %w", err)
	}
	return nil
}

// addBuild adds the events of one build to b.
func addBuild(b *batch, x *build) error {
	id := x.queued.BuildID
	stream, source := streams.Build(id), fmt.Sprintf("builds:%d", id)
	if err := b.add(stream, source, x.queued.Timestamp, &x.queued); err != nil {
		return err
	}
	for i := range x.products {
		p := &x.products[i]
		if err := b.add(stream, fmt.Sprintf("buildproducts:%d/%d", id, p.ProductNr), x.finish.StopTime, p); err != nil {
			return err
		}
	}
	for i := range x.metrics {
		m := &x.metrics[i]
		if err := b.add(stream, fmt.Sprintf("buildmetrics:%d/%s", id, m.Name), m.timestamp, &m.MetricScraped); err != nil {
			return err
		}
	}
	for _, s := range x.steps {
		if err := addStep(b, id, s); err != nil {
			return err
		}
	}
	if x.finished {
		return b.add(stream, source, x.finish.StopTime, &x.finish)
	}
	return b.add(streams.Step(x.queued.DrvPath), source, x.queued.Timestamp, &events.StepQueued{DrvPath: x.queued.DrvPath,
		System: x.queued.System, Outputs: x.queued.Outputs, BuildID: id, EvalID: x.queued.EvalID})
}

func addStep(b *batch, build int64, s step) error {
	stream, source := streams.Step(s.drvPath), fmt.Sprintf("buildsteps:%d/%d", build, s.nr)
	start := int64(i32(s.start))
	if s.start != nil {
		err := b.add(stream, source, start, &events.StepStarted{DrvPath: s.drvPath, BuildID: build, StepNr: s.nr,
			Machine: s.machine, System: s.system, StartTime: start})
		if err != nil {
			return err
		}
	}
	f := events.StepFinished{DrvPath: s.drvPath, BuildID: build, StepNr: s.nr, Machine: s.machine, Status: i32(s.status),
		ErrorMsg: str(s.errorMsg), StartTime: start, StopTime: int64(i32(s.stop)), TimesBuilt: i32(s.times),
		IsNonDeterministic: s.nonDet != nil && *s.nonDet, Overhead: int64(i32(s.overhead)), Outputs: s.outputs}
	if s.busy != 0 {
		f.Status, f.StopTime = int(status.Aborted), start
	}
	return b.add(stream, source, f.StopTime, &f)
}
