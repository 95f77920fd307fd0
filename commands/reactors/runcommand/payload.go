package runcommand

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"

	"buildledger/commands"
	"buildledger/commands/reactors/outbox"
	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
	"buildledger/events"
)

// HydraJSON is the file $HYDRA_JSON names, with the keys of Hydra's
// makeJsonPayload.
type HydraJSON struct {
	Event       string    `json:"event"`
	Build       int64     `json:"build"`
	Finished    bool      `json:"finished"`
	Timestamp   int64     `json:"timestamp"`
	Project     string    `json:"project"`
	Jobset      string    `json:"jobset"`
	Job         string    `json:"job"`
	DrvPath     string    `json:"drvPath"`
	StartTime   int64     `json:"startTime"`
	StopTime    int64     `json:"stopTime"`
	BuildStatus int       `json:"buildStatus"`
	NixName     string    `json:"nixName"`
	System      string    `json:"system"`
	Homepage    *string   `json:"homepage"`
	Description *string   `json:"description"`
	License     *string   `json:"license"`
	Outputs     []Output  `json:"outputs"`
	Products    []Product `json:"products"`
	Metrics     []Metric  `json:"metrics"`
}

// Output is one entry of outputs.
type Output struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// Product is one entry of products; fileSize and sha256hash are null
// where Hydra's columns are (nix-build products).
type Product struct {
	ProductNr   int     `json:"productNr"`
	Type        string  `json:"type"`
	Subtype     string  `json:"subtype"`
	FileSize    *int64  `json:"fileSize"`
	SHA256Hash  *string `json:"sha256hash"`
	Path        string  `json:"path"`
	Name        string  `json:"name"`
	DefaultPath string  `json:"defaultPath"`
}

// Metric is one entry of metrics.
type Metric struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
}

// build is what the reactor knows of a finished build.
type build struct {
	json           HydraJSON
	propagatedFrom int64
	out            string
}

// loadBuild reads build id as it stood at pos into Hydra's payload. Its
// products and metrics are its BuildProducts and BuildMetrics rows then:
// a cached build's are on its own stream (the evaluator scanned its
// outputs), a built one's on the stream of its top-level step, recorded
// with the attempt that ran for it, and a build finished by a step that
// ran for another build of its derivation has that build's
// (BuildFinished.ProductsOf).
func loadBuild(ctx context.Context, rt *commands.Runtime, id int64, pos events.Position) (build, error) {
	var (
		b     build
		facts []positioned               // the build's scrapes, and its finishes that share another's
		from  = map[int64][]positioned{} // the scrapes of the builds it shares, by build
	)
	j := &b.json
	err := outbox.ReadAtUpTo(ctx, rt, streams.Build(id), pos, func(at events.Position, p events.Payload) {
		switch e := p.(type) {
		case *events.BuildQueued:
			*j = HydraJSON{Event: "buildFinished", Build: e.BuildID, Timestamp: e.Timestamp, Project: e.Project,
				Jobset: e.Jobset, Job: e.Job, DrvPath: e.DrvPath, NixName: e.NixName, System: e.System,
				Homepage: nullable(e.Meta.Homepage), Description: nullable(e.Meta.Description), License: nullable(e.Meta.License),
				Outputs: []Output{}, Products: []Product{}, Metrics: []Metric{}}
			for _, o := range e.Outputs {
				j.Outputs = append(j.Outputs, Output(o))
				if o.Name == "out" {
					b.out = o.Path
				}
			}
		case *events.BuildFinished:
			j.Finished, j.BuildStatus, j.StartTime, j.StopTime = true, e.Status, e.StartTime, e.StopTime
			b.propagatedFrom = e.PropagatedFrom
			if e.ProductsOf != 0 {
				facts = append(facts, positioned{at, p})
				from[e.ProductsOf] = nil
			}
		case *events.BuildRestarted:
			j.Finished = false
		case *events.ProductScraped, *events.MetricScraped:
			facts = append(facts, positioned{at, p})
		}
	})
	if err != nil || j.DrvPath == "" {
		return b, err
	}
	err = outbox.ReadAtUpTo(ctx, rt, streams.Step(j.DrvPath), pos, func(at events.Position, p events.Payload) {
		var of int64
		switch e := p.(type) {
		case *events.ProductScraped:
			of = e.BuildID
		case *events.MetricScraped:
			of = e.BuildID
		default:
			return
		}
		if of == id {
			facts = append(facts, positioned{at, p})
		} else if scrapes, ok := from[of]; ok {
			from[of] = append(scrapes, positioned{at, p})
		}
	})
	if err != nil && !errors.Is(err, domainerr.ErrNotFound) { // no step stream: the step never ran
		return b, err
	}
	t := newTable()
	for _, f := range sortedByPosition(facts) {
		if fin, ok := f.p.(*events.BuildFinished); ok {
			// As the projection, which copies the other build's rows
			// then, keeping those this build has.
			shared := newTable()
			for _, s := range sortedByPosition(from[fin.ProductsOf]) {
				if s.at.Less(f.at) {
					shared.put(s.p)
				}
			}
			t.merge(shared)
			continue
		}
		t.put(f.p)
	}
	j.Products, j.Metrics = t.rows()
	return b, nil
}

// positioned is an event and where it is in the log.
type positioned struct {
	at events.Position
	p  events.Payload
}

func sortedByPosition(ps []positioned) []positioned {
	return slices.SortedFunc(slices.Values(ps), func(a, b positioned) int {
		if a.at.Less(b.at) {
			return -1
		}
		return 1 // two events are never at one position
	})
}

// table is a build's BuildProducts and BuildMetrics rows, by their keys:
// product number and metric name.
type table struct {
	products map[int]Product
	metrics  map[string]Metric
}

func newTable() *table {
	return &table{products: map[int]Product{}, metrics: map[string]Metric{}}
}

// put writes the row of a ProductScraped or MetricScraped, in place of
// the row of its key.
func (t *table) put(p events.Payload) {
	switch e := p.(type) {
	case *events.ProductScraped:
		pr := Product{ProductNr: e.ProductNr, Type: e.Type, Subtype: e.Subtype, Path: e.Path, Name: e.Name, DefaultPath: e.DefaultPath}
		if e.FileSize != 0 || e.SHA256 != "" {
			pr.FileSize = &e.FileSize
		}
		pr.SHA256Hash = nullable(e.SHA256)
		t.products[e.ProductNr] = pr
	case *events.MetricScraped:
		t.metrics[e.Name] = Metric{Name: e.Name, Unit: e.Unit, Value: e.Value}
	}
}

// merge adds the rows of o whose keys t lacks.
func (t *table) merge(o *table) {
	for nr, p := range o.products {
		if _, ok := t.products[nr]; !ok {
			t.products[nr] = p
		}
	}
	for name, m := range o.metrics {
		if _, ok := t.metrics[name]; !ok {
			t.metrics[name] = m
		}
	}
}

// rows returns the products by number and the metrics by name, as
// Hydra's tables' keys sort them.
func (t *table) rows() ([]Product, []Metric) {
	products := slices.SortedFunc(maps.Values(t.products), func(a, b Product) int { return cmp.Compare(a.ProductNr, b.ProductNr) })
	metrics := slices.SortedFunc(maps.Values(t.metrics), func(a, b Metric) int { return strings.Compare(a.Name, b.Name) })
	// Empty lists, not null, in the JSON.
	return append([]Product{}, products...), append([]Metric{}, metrics...)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// payload is what the outbox keeps for one run: the command and the
// file, outside the log.
type payload struct {
	Matcher   string          `json:"matcher"`
	Command   string          `json:"command"`
	BuildID   int64           `json:"buildId"`
	HydraJSON json.RawMessage `json:"hydraJson"`
}
