package web

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// JobSeriesKind names one of a job's charts.
type JobSeriesKind string

// The charts of Hydra's job page.
const (
	// BuildTimes are the seconds the build's own step took.
	BuildTimes JobSeriesKind = "build-times"
	// ClosureSizes are the closure sizes in bytes.
	ClosureSizes JobSeriesKind = "closure-sizes"
	// OutputSizes are the output sizes in bytes.
	OutputSizes JobSeriesKind = "output-sizes"
)

// SeriesPoint is one point of a job chart, as Hydra sends it.
type SeriesPoint struct {
	ID        int64 `json:"id"`
	Timestamp int64 `json:"timestamp"`
	Value     int64 `json:"value"`
}

// JobQueries reads a job's history for its charts.
type JobQueries interface {
	// JobSeries lists the successful builds of a job with a value of
	// kind, oldest first.
	JobSeries(ctx context.Context, project, jobset, job string, kind JobSeriesKind) ([]SeriesPoint, error)
	// JobMetricNames lists the names of the metrics a job's builds
	// reported.
	JobMetricNames(ctx context.Context, project, jobset, job string) ([]string, error)
}

// jobOf reads the job's names from the URL and checks its jobset.
func (s *server) jobOf(r *http.Request) (p, j, job string, err error) {
	p, j, job = chi.URLParam(r, "project"), chi.URLParam(r, "jobset"), chi.URLParam(r, "job")
	_, err = s.cfg.Queries.Jobset(r.Context(), p, j)
	return p, j, job, err
}

// jobSeries answers one of a job's charts as Hydra's JSON.
func (s *server) jobSeries(kind JobSeriesKind) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, j, job, err := s.jobOf(r)
		if err != nil {
			return err
		}
		pts, err := s.cfg.Queries.JobSeries(r.Context(), p, j, job, kind)
		if err != nil {
			return err
		}
		s.json(w, http.StatusOK, pts)
		return nil
	}
}

// metricTabPage lists a job's metrics (metric-tab.html).
type metricTabPage struct {
	page
	Project, Jobset, Job string
	Names                []string
}

// metricTab lists the metrics of a job with links to their charts.
func (s *server) metricTab(w http.ResponseWriter, r *http.Request) error {
	p, j, job, err := s.jobOf(r)
	if err != nil {
		return err
	}
	names, err := s.cfg.Queries.JobMetricNames(r.Context(), p, j, job)
	if err != nil {
		return err
	}
	s.respond(w, r, names, "metric-tab", &metricTabPage{Project: p, Jobset: j, Job: job, Names: names})
	return nil
}

// promText writes Prometheus' text exposition format.
type promText struct{ strings.Builder }

func (t *promText) header(name, typ, help string) {
	fmt.Fprintf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// sample writes one sample; labels alternate names and values.
func (t *promText) sample(name string, value float64, labels ...string) {
	t.WriteString(name)
	if len(labels) > 0 {
		t.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				t.WriteByte(',')
			}
			fmt.Fprintf(t, "%s=%s", labels[i], strconv.Quote(labels[i+1]))
		}
		t.WriteByte('}')
	}
	fmt.Fprintf(t, " %s\n", strconv.FormatFloat(value, 'f', -1, 64))
}

func (s *server) writeProm(w http.ResponseWriter, t *promText) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(t.String()))
}

// jobPrometheus answers Hydra's four gauges of a job's latest finished
// build.
func (s *server) jobPrometheus(w http.ResponseWriter, r *http.Request) error {
	p, j, job, err := s.jobOf(r)
	if err != nil {
		return err
	}
	fin := true
	bs, err := s.cfg.Queries.Builds(r.Context(), BuildFilter{Project: p, Jobset: j, Job: job, Finished: &fin, Page: Page{Limit: 1}})
	if err != nil {
		return err
	}
	if len(bs) == 0 {
		return errNotFound("finished build of job " + p + ":" + j + ":" + job)
	}
	b := bs[0]
	val := func(v *int64) float64 {
		if v == nil {
			return 0
		}
		return float64(*v)
	}
	failed := 0.0
	if b.BuildStatus == nil || *b.BuildStatus > 0 {
		failed = 1
	}
	l := []string{"project", p, "jobset", j, "job", job}
	var t promText
	t.header("hydra_job_completion_time", "counter", "The most recent job's completion time")
	t.sample("hydra_job_completion_time", val(b.StopTime), l...)
	t.header("hydra_job_failed", "gauge", "Record if the most recent version of this job failed (1 means failed)")
	t.sample("hydra_job_failed", failed, l...)
	t.header("hydra_build_closure_size", "gauge", "Closure size of the last job's build in bytes")
	t.sample("hydra_build_closure_size", val(b.ClosureSize), l...)
	t.header("hydra_build_output_size", "gauge", "Output size of the last job's build in bytes")
	t.sample("hydra_build_output_size", val(b.Size), l...)
	s.writeProm(w, &t)
	return nil
}

// durationBuckets are the upper bounds (seconds) of Hydra's
// hydra_machine_build_duration histogram.
var durationBuckets = []float64{60, 600, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 259200, 345600, 518400, 604800, 691200}

// prometheus answers Hydra's /prometheus: how long the steps running now
// have been running, per machine (the machine's name without its user),
// as the histogram hydra_machine_build_duration.
func (s *server) prometheus(w http.ResponseWriter, r *http.Request) error {
	steps, err := s.cfg.Queries.RunningSteps(r.Context())
	if err != nil {
		return err
	}
	now := s.now().Unix()
	byMachine := map[string][]float64{}
	for _, st := range steps {
		name := strings.TrimPrefix(strings.TrimPrefix(st.Machine, "ssh://"), "ssh-ng://")
		if _, host, ok := strings.Cut(name, "@"); ok {
			name = host
		}
		if name == "" {
			name = "localhost"
		}
		start := now
		if st.StartTime != nil {
			start = *st.StartTime
		}
		byMachine[name] = append(byMachine[name], float64(now-start))
	}
	machines := make([]string, 0, len(byMachine))
	for m := range byMachine {
		machines = append(machines, m)
	}
	sort.Strings(machines)
	const name = "hydra_machine_build_duration"
	var t promText
	t.header(name, "histogram", "How long builds are taking per server. Note: counts are gauges, NOT counters.")
	for _, m := range machines {
		ds := byMachine[m]
		sum := 0.0
		for _, d := range ds {
			sum += d
		}
		for _, le := range durationBuckets {
			n := 0
			for _, d := range ds {
				if d <= le {
					n++
				}
			}
			t.sample(name+"_bucket", float64(n), "machine", m, "le", strconv.FormatFloat(le, 'g', -1, 64))
		}
		t.sample(name+"_bucket", float64(len(ds)), "machine", m, "le", "+Inf")
		t.sample(name+"_sum", sum, "machine", m)
		t.sample(name+"_count", float64(len(ds)), "machine", m)
	}
	s.writeProm(w, &t)
	return nil
}
