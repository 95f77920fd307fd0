package runcommand

import (
	"context"
	"encoding/json"

	"buildledger/commands"
	"buildledger/commands/reactors/outbox"
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

// loadBuild reads build id as it stood at pos into Hydra's payload.
func loadBuild(ctx context.Context, rt *commands.Runtime, id int64, pos events.Position) (build, error) {
	var b build
	j := &b.json
	err := outbox.ReadUpTo(ctx, rt, streams.Build(id), pos, func(p events.Payload) {
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
		case *events.ProductScraped:
			pr := Product{ProductNr: e.ProductNr, Type: e.Type, Subtype: e.Subtype, Path: e.Path, Name: e.Name, DefaultPath: e.DefaultPath}
			if e.FileSize != 0 || e.SHA256 != "" {
				pr.FileSize = &e.FileSize
			}
			pr.SHA256Hash = nullable(e.SHA256)
			j.Products = append(j.Products, pr)
		case *events.MetricScraped:
			j.Metrics = append(j.Metrics, Metric{Name: e.Name, Unit: e.Unit, Value: e.Value})
		case *events.BuildFinished:
			j.Finished, j.BuildStatus, j.StartTime, j.StopTime = true, e.Status, e.StartTime, e.StopTime
			b.propagatedFrom = e.PropagatedFrom
		case *events.BuildRestarted:
			j.Finished, j.Products, j.Metrics = false, []Product{}, []Metric{}
		}
	})
	return b, err
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
