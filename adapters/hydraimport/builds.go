package hydraimport

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

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

// builds imports the builds, each with its outputs, steps, step outputs,
// products and metrics, as the events a build's life records:
// BuildQueued, the scraped products and metrics, BuildFinished, and each
// step's StepStarted and StepFinished. A build still queued is queued
// anew (StepQueued for its derivation), and a step Hydra had busy is
// recorded aborted: Hydra's runner does the same with the steps it finds
// busy when it starts.
//
// The tables are read in one pass, each a binary COPY in build order on
// a connection of its own, merged by build id, and appended in batches of
// ChunkBuilds builds while the next batch is read. Batches past the point
// an earlier run reached (resumePoint) are appended without asking the
// log which of their events it holds.
func (im *Importer) builds(ctx context.Context, w *writer, correlation string) (int, error) {
	ids, err := im.ids(ctx, `select id from Builds order by id`)
	if err != nil {
		return 0, err
	}
	from, err := im.resumePoint(ctx, ids, func(id int64) string { return eventID(fmt.Sprintf("builds:%d", id), "BuildQueued") })
	if err != nil {
		return 0, err
	}
	total := 0
	err = w.pipeline(ctx, func(ctx context.Context, emit func(*batch) error) error {
		r, err := im.openBuilds(ctx)
		if err != nil {
			return err
		}
		defer r.close()
		b := newBatch(correlation)
		inBatch := 0
		for {
			x, err := r.next()
			if err != nil {
				return err
			}
			if x == nil || inBatch == im.opts.ChunkBuilds {
				if err := emit(b); err != nil {
					return err
				}
				if x == nil {
					return nil
				}
				b, inBatch = newBatch(correlation), 0
			}
			if inBatch == 0 {
				b.fresh = x.queued.BuildID >= from
			}
			if err := addBuild(b, x); err != nil {
				return err
			}
			inBatch++
			total++
		}
	})
	return total, err
}

// ids returns the ids query selects, in order.
func (im *Importer) ids(ctx context.Context, query string) ([]int64, error) {
	var ids []int64
	_, err := im.each(ctx, query, nil, func(r pgx.Rows) error {
		var id int64
		if err := r.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	return ids, err
}

// resumePoint returns the first of ids (ascending) whose row an earlier
// run did not import, judged by the event first of each row (eventOf):
// runs append rows in id order, each batch at once, so the log holds
// the rows before that point and none after. It is found by bisection,
// one lookup of one event id a step; math.MaxInt64 when every row is in.
func (im *Importer) resumePoint(ctx context.Context, ids []int64, eventOf func(int64) string) (int64, error) {
	recorded := func(id int64) (bool, error) {
		known, err := im.log.Recorded(ctx, []string{eventOf(id)})
		return len(known) > 0, err
	}
	lo, hi := 0, len(ids) // ids[:lo] are in, ids[hi:] are not
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		in, err := recorded(ids[mid])
		if err != nil {
			return 0, err
		}
		if in {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(ids) {
		return math.MaxInt64, nil
	}
	return ids[lo], nil
}

// buildReader merges the binary COPY streams of Builds and the tables
// that hang off it, all in build order, into one build at a time.
type buildReader struct {
	builds   *copyStream
	children []*child
}

// child is a table read beside Builds: the build of its row read ahead
// (math.MaxInt64 at its end), and how a row is added to its build.
type child struct {
	s      *copyStream
	build  int64
	attach func(s *copyStream, x *build) error
}

func (c *child) advance() error {
	ok, err := c.s.next()
	if err != nil || !ok {
		c.build = math.MaxInt64
		return err
	}
	var id int32
	if err := c.s.types.Scan(c.s.oids[0], pgtype.BinaryFormatCode, c.s.fields[0], &id); err != nil {
		return fmt.Errorf("%s: %w", c.s.name, err)
	}
	c.build = int64(id)
	return nil
}

func (im *Importer) openBuilds(ctx context.Context) (_ *buildReader, err error) {
	cfg := im.src.Config().ConnConfig
	r := &buildReader{}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	r.builds, err = openCopy(ctx, cfg, "Builds", []string{"b.id::int4", "b.finished::int4", "b.timestamp::int4", "b.jobset_id::int4",
		"j.project::text", "j.name::text", "b.job::text", "b.nixName::text", "b.description::text", "b.drvPath::text", "b.system::text",
		"b.license::text", "b.homepage::text", "b.maintainers::text", "b.maxsilent::int4", "b.timeout::int4", "b.isChannel::int4",
		"b.priority::int4", "b.globalPriority::int4", "b.startTime::int4", "b.stopTime::int4", "b.isCachedBuild::int4",
		"b.buildStatus::int4", "b.size::int8", "b.closureSize::int8", "b.releaseName::text"},
		`from Builds b join Jobsets j on j.id = b.jobset_id order by b.id`)
	if err != nil {
		return nil, err
	}
	for _, c := range []struct {
		name, rest string
		cols       []string
		attach     func(s *copyStream, x *build) error
	}{
		{"JobsetEvalMembers", `from JobsetEvalMembers group by build order by build`, []string{"build::int4", "min(eval)::int4"}, attachEval},
		{"BuildOutputs", `from BuildOutputs order by build, name`, []string{"build::int4", "name::text", "path::text"}, attachOutput},
		{"BuildSteps", `from BuildSteps order by build, stepnr`, []string{"build::int4", "stepnr::int4", "drvPath::text", "busy::int4",
			"status::int4", "errorMsg::text", "startTime::int4", "stopTime::int4", "machine::text", "system::text", "overhead::int4",
			"timesBuilt::int4", "isNonDeterministic::bool"}, attachStep},
		{"BuildStepOutputs", `from BuildStepOutputs order by build, stepnr, name`, []string{"build::int4", "stepnr::int4", "name::text",
			"path::text"}, attachStepOutput},
		{"BuildProducts", `from BuildProducts order by build, productnr`, []string{"build::int4", "productnr::int4", "type::text",
			"subtype::text", "fileSize::int8", "sha256hash::text", "path::text", "name::text", "defaultPath::text"}, attachProduct},
		{"BuildMetrics", `from BuildMetrics order by build, name`, []string{"build::int4", "name::text", "unit::text", "value::float8",
			"timestamp::int4"}, attachMetric},
	} {
		s, err := openCopy(ctx, cfg, c.name, c.cols, c.rest)
		if err != nil {
			return nil, err
		}
		ch := &child{s: s, attach: c.attach}
		r.children = append(r.children, ch)
		if err := ch.advance(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *buildReader) close() {
	if r.builds != nil {
		r.builds.close()
	}
	for _, c := range r.children {
		c.s.close()
	}
}

// next returns the next build with what hangs off it; nil at the end.
func (r *buildReader) next() (*build, error) {
	ok, err := r.builds.next()
	if err != nil || !ok {
		return nil, err
	}
	var (
		x                                    build
		id, ts, jobsetID, isChannel, prio    int32
		gprio, finished                      int32
		nixName, desc, lic, home, maint, rel *string
		maxSilent, timeout, start, stop      *int32
		cached, bstatus                      *int32
		size, closure                        *int64
	)
	q := &x.queued
	if err := r.builds.scan(&id, &finished, &ts, &jobsetID, &q.Project, &q.Jobset, &q.Job, &nixName, &desc, &q.DrvPath, &q.System,
		&lic, &home, &maint, &maxSilent, &timeout, &isChannel, &prio, &gprio, &start, &stop, &cached, &bstatus, &size, &closure,
		&rel); err != nil {
		return nil, err
	}
	q.BuildID, q.JobsetID, q.Timestamp, q.NixName = int64(id), int64(jobsetID), int64(ts), str(nixName)
	q.GlobalPriority = int(gprio)
	q.Meta = events.JobMeta{Description: str(desc), License: str(lic), Homepage: str(home), Maintainers: str(maint),
		Timeout: i32(timeout), MaxSilent: i32(maxSilent), SchedulingPriority: int(prio), IsChannel: isChannel != 0}
	x.finished = finished != 0
	x.finish = events.BuildFinished{BuildID: int64(id), Status: i32(bstatus), StartTime: int64(i32(start)),
		StopTime: int64(i32(stop)), IsCachedBuild: i32(cached) != 0, Size: i64(size), ClosureSize: i64(closure), ReleaseName: str(rel)}
	for _, c := range r.children {
		for c.build <= q.BuildID {
			if c.build == q.BuildID {
				if err := c.attach(c.s, &x); err != nil {
					return nil, err
				}
			}
			if err := c.advance(); err != nil {
				return nil, err
			}
		}
	}
	return &x, nil
}

func attachEval(s *copyStream, x *build) error {
	var id, eval int32
	if err := s.scan(&id, &eval); err != nil {
		return err
	}
	x.queued.EvalID = int64(eval)
	return nil
}

func attachOutput(s *copyStream, x *build) error {
	var (
		id         int32
		o          events.Output
		outputPath *string
	)
	if err := s.scan(&id, &o.Name, &outputPath); err != nil {
		return err
	}
	o.Path = str(outputPath)
	x.queued.Outputs = append(x.queued.Outputs, o)
	return nil
}

func attachStep(s *copyStream, x *build) error {
	var (
		id, nr, busy int32
		st           step
		system       *string
	)
	if err := s.scan(&id, &nr, &st.drvPath, &busy, &st.status, &st.errorMsg, &st.start, &st.stop, &st.machine, &system,
		&st.overhead, &st.times, &st.nonDet); err != nil {
		return err
	}
	st.nr, st.busy, st.system = int(nr), int(busy), str(system)
	x.steps = append(x.steps, st)
	return nil
}

func attachStepOutput(s *copyStream, x *build) error {
	var (
		id, nr     int32
		o          events.Output
		outputPath *string
	)
	if err := s.scan(&id, &nr, &o.Name, &outputPath); err != nil {
		return err
	}
	o.Path = str(outputPath)
	for i := range x.steps {
		if x.steps[i].nr == int(nr) {
			x.steps[i].outputs = append(x.steps[i].outputs, o)
		}
	}
	return nil
}

func attachProduct(s *copyStream, x *build) error {
	var (
		id, nr               int32
		p                    events.ProductScraped
		size                 *int64
		sha, path, defaultPa *string
	)
	if err := s.scan(&id, &nr, &p.Type, &p.Subtype, &size, &sha, &path, &p.Name, &defaultPa); err != nil {
		return err
	}
	p.BuildID, p.ProductNr, p.FileSize, p.SHA256, p.Path, p.DefaultPath = int64(id), int(nr), i64(size), str(sha), str(path), str(defaultPa)
	x.products = append(x.products, p)
	return nil
}

func attachMetric(s *copyStream, x *build) error {
	var (
		id, ts int32
		m      metric
		unit   *string
	)
	if err := s.scan(&id, &m.Name, &unit, &m.Value, &ts); err != nil {
		return err
	}
	m.BuildID, m.Unit, m.timestamp = int64(id), str(unit), int64(ts)
	x.metrics = append(x.metrics, m)
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
