package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
)

// The JSON shapes of Hydra's answers that are not one of its rows: the
// build summaries of /api, the machine map of /machines and the
// evaluation summaries of /evals. Hydra's code (API.pm buildToHash,
// Helper/Nix.pm getMachines and getEvals) is the contract.

// buildSummary is a build as /api/latestbuilds and /api/queue send it:
// buildstatus once finished, priority before.
type buildSummary struct {
	ID          int64   `json:"id"`
	Project     string  `json:"project"`
	Jobset      string  `json:"jobset"`
	Job         string  `json:"job"`
	System      string  `json:"system"`
	NixName     *string `json:"nixname"`
	Finished    Flag    `json:"finished"`
	Timestamp   int64   `json:"timestamp"`
	BuildStatus *int    `json:"buildstatus,omitempty"`
	Priority    *int    `json:"priority,omitempty"`
}

func summarize(bs []Build) []buildSummary {
	out := make([]buildSummary, len(bs))
	for i, b := range bs {
		out[i] = buildSummary{ID: b.ID, Project: b.Project, Jobset: b.Jobset, Job: b.Job, System: b.System,
			NixName: b.NixName, Finished: b.Finished, Timestamp: b.Timestamp}
		if b.Finished {
			st := 0
			if b.BuildStatus != nil {
				st = *b.BuildStatus
			}
			out[i].BuildStatus = &st
		} else {
			pr := b.Priority
			out[i].Priority = &pr
		}
	}
	return out
}

// machineJSON is one entry of /machines, keyed by the machine's name.
// Hydra's queue runner adds load figures (score, stats, capacity) that
// buildledger's scheduler keeps elsewhere (/queue-runner-status).
type machineJSON struct {
	SystemTypes       []string `json:"systemTypes"`
	PrimarySystemType string   `json:"primarySystemType"`
	MaxJobs           int      `json:"maxJobs"`
	SpeedFactor       float64  `json:"speedFactor"`
	// SupportedFeatures includes the mandatory ones, as in Hydra.
	SupportedFeatures []string `json:"supportedFeatures"`
	MandatoryFeatures []string `json:"mandatoryFeatures"`
}

func machinesJSON(ms []BuildMachine) map[string]machineJSON {
	out := make(map[string]machineJSON, len(ms))
	for _, m := range ms {
		j := machineJSON{SystemTypes: nonNilStrings(m.Systems), MaxJobs: m.MaxJobs, SpeedFactor: m.SpeedFactor,
			SupportedFeatures: append(slices.Clone(nonNilStrings(m.SupportedFeatures)), m.MandatoryFeatures...),
			MandatoryFeatures: nonNilStrings(m.MandatoryFeatures)}
		if len(m.Systems) > 0 {
			j.PrimarySystemType = m.Systems[0]
		}
		out[m.Name] = j
	}
	return out
}

func nonNilStrings(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// evalInfo is one entry of /evals: an evaluation with its counts, the
// change in successes since the jobset's previous evaluation with new
// builds, and the inputs that changed since then.
type evalInfo struct {
	Eval          Eval        `json:"eval"`
	NrScheduled   int         `json:"nrScheduled"`
	NrSucceeded   int         `json:"nrSucceeded"`
	NrFailed      int         `json:"nrFailed"`
	Diff          int         `json:"diff"`
	ChangedInputs []EvalInput `json:"changedInputs"`
}

// evalInfos describes evals, each against its predecessor.
func (s *server) evalInfos(ctx context.Context, evals []Eval) ([]evalInfo, error) {
	out := make([]evalInfo, 0, len(evals))
	for _, e := range evals {
		info := evalInfo{Eval: e, NrScheduled: e.NrQueued, NrSucceeded: e.NrSucceeded, NrFailed: e.NrFailed,
			ChangedInputs: []EvalInput{}}
		prevID, err := s.cfg.Queries.PreviousEval(ctx, e.ID)
		if err != nil {
			return nil, err
		}
		var prev Eval
		if prevID != 0 {
			if prev, err = s.cfg.Queries.Eval(ctx, prevID); err != nil {
				return nil, err
			}
			info.Diff = e.NrSucceeded - prev.NrSucceeded
		}
		for _, name := range sortedKeys(e.Inputs) {
			in, p := e.Inputs[name], prev.Inputs[name]
			if _, had := prev.Inputs[name]; !had || deref(in.Revision) != deref(p.Revision) || in.Type != p.Type ||
				deref(in.URI) != deref(p.URI) || derefInt(in.Dependency) != derefInt(p.Dependency) {
				info.ChangedInputs = append(info.ChangedInputs, in)
			}
		}
		out = append(out, info)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func derefInt(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// buildBatch is how many builds one query of a long list reads.
const buildBatch = 500

// eachBuild calls fn with every build f selects, newest first, a batch
// at a time: an evaluation's members are not capped, and no query holds
// them all.
func (s *server) eachBuild(ctx context.Context, f BuildFilter, fn func([]Build) error) error {
	f.Page = Page{Limit: buildBatch}
	for {
		bs, err := s.cfg.Queries.Builds(ctx, f)
		if err != nil {
			return err
		}
		if len(bs) > 0 {
			if err := fn(bs); err != nil {
				return err
			}
		}
		if len(bs) < buildBatch {
			return nil
		}
		f.BeforeID = bs[len(bs)-1].ID
	}
}

// everyBuild collects what eachBuild reads.
func (s *server) everyBuild(ctx context.Context, f BuildFilter) ([]Build, error) {
	out := []Build{}
	err := s.eachBuild(ctx, f, func(bs []Build) error { out = append(out, bs...); return nil })
	return out, err
}

// jsonArray writes a JSON array whose elements come in batches, without
// holding them all. Once the first batch is written the status is sent,
// so a later error can only cut the answer short.
type jsonArray struct {
	w       http.ResponseWriter
	enc     *json.Encoder
	started bool
	n       int
}

func newJSONArray(w http.ResponseWriter) *jsonArray {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonArray{w: w, enc: enc}
}

func (a *jsonArray) begin() error {
	if a.started {
		return nil
	}
	a.started = true
	a.w.Header().Set("Content-Type", "application/json")
	a.w.Header().Set("Vary", "Accept")
	a.w.WriteHeader(http.StatusOK)
	_, err := a.w.Write([]byte("["))
	return err
}

// add writes the elements of a batch.
func (a *jsonArray) add(elems ...any) error {
	if err := a.begin(); err != nil {
		return err
	}
	for _, e := range elems {
		if a.n > 0 {
			if _, err := a.w.Write([]byte(",")); err != nil {
				return err
			}
		}
		if err := a.enc.Encode(e); err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		a.n++
	}
	return nil
}

// end closes the array.
func (a *jsonArray) end() error {
	if err := a.begin(); err != nil {
		return err
	}
	_, err := a.w.Write([]byte("]\n"))
	return err
}

// streamBuilds answers every build f selects as one JSON array. An error
// after the first batch is logged: the status has been sent.
func (s *server) streamBuilds(w http.ResponseWriter, r *http.Request, f BuildFilter) error {
	arr := newJSONArray(w)
	err := s.eachBuild(r.Context(), f, func(bs []Build) error {
		for _, b := range bs {
			if err := arr.add(b); err != nil {
				return err
			}
		}
		return nil
	})
	return s.endStream(r, arr, err)
}

// endStream closes arr, or reports err as the answer when nothing was
// written yet.
func (s *server) endStream(r *http.Request, arr *jsonArray, err error) error {
	if err != nil && !arr.started {
		return err
	}
	if err == nil {
		err = arr.end()
	}
	if err != nil {
		s.log.Warn("answer cut short", "path", r.URL.Path, "err", err)
	}
	return nil
}
