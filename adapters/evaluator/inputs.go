package evaluator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"buildledger/adapters/inputs"
	"buildledger/commands/evaluation"
	"buildledger/events"
)

// Build is a successful build whose output another jobset takes as input.
type Build struct {
	ID      int64
	OutPath string
}

// SystemBuild is the latest successful build of a job on one system.
type SystemBuild struct {
	Build
	System string
}

// EvalOutputs are the successful "out" paths of an evaluation, by job.
type EvalOutputs struct {
	EvalID int64
	Jobs   map[string]string
}

// BuildLookup finds other jobsets' results for "build", "sysbuild" and
// "eval" inputs.
type BuildLookup interface {
	// LatestSuccessful returns the latest successful build of job in
	// project:jobset; ok is false if there is none.
	LatestSuccessful(ctx context.Context, project, jobset, job string) (b Build, ok bool, err error)
	// LatestSuccessfulPerSystem returns, for each system job has a
	// current build for in project:jobset, the latest successful build
	// of job on that system (Hydra's LatestSucceededForJobName), by
	// system.
	LatestSuccessfulPerSystem(ctx context.Context, project, jobset, job string) ([]SystemBuild, error)
	// EvalOutputs returns the successful outputs of an evaluation: evalID
	// if not 0, else the latest finished one of project:jobset (whose
	// build of job succeeded, when job is set).
	EvalOutputs(ctx context.Context, evalID int64, project, jobset, job string) (EvalOutputs, error)
}

// Inputs implements evaluation.InputFetcher.
type Inputs struct {
	// Fetcher fetches git, path, string, boolean and nix inputs.
	Fetcher *inputs.Fetcher
	// Builds answers build and eval inputs; nil refuses them.
	Builds BuildLookup
	// Nix is the nix executable for locking flakes; empty means PATH.
	Nix string
}

var _ evaluation.InputFetcher = (*Inputs)(nil)

// Fetch implements evaluation.InputFetcher.
func (i *Inputs) Fetch(ctx context.Context, project, jobset string, in events.JobsetInput) (evaluation.Input, error) {
	switch in.Type {
	case "build":
		return i.fetchBuild(ctx, project, jobset, in)
	case "sysbuild":
		return i.fetchSysbuild(ctx, project, jobset, in)
	case "eval":
		return i.fetchEval(ctx, in)
	}
	return i.Fetcher.Fetch(ctx, in)
}

// fetchBuild resolves a "build" input, "[project:][jobset:]job", to the
// output of that job's latest successful build. With none the input is
// omitted, as Hydra does.
func (i *Inputs) fetchBuild(ctx context.Context, project, jobset string, in events.JobsetInput) (evaluation.Input, error) {
	out := evaluation.Input{Name: in.Name, Type: in.Type, Value: in.Value}
	if i.Builds == nil {
		return out, fmt.Errorf("build input %s: no build lookup configured", in.Name)
	}
	project, jobset, job, err := jobRef(project, jobset, in)
	if err != nil {
		return out, err
	}
	b, ok, err := i.Builds.LatestSuccessful(ctx, project, jobset, job)
	if err != nil {
		return out, fmt.Errorf("build input %s: %w", in.Name, err)
	}
	if !ok {
		out.Omit = true
		return out, nil
	}
	out.StorePath, out.DependencyBuild, out.Arg = b.OutPath, b.ID, evaluation.ArgPath
	return out, nil
}

// jobRef reads the value of a build or sysbuild input,
// "[project:][jobset:]job", the project and jobset defaulting to the
// evaluated jobset's.
func jobRef(project, jobset string, in events.JobsetInput) (p, j, job string, err error) {
	f := strings.Fields(in.Value)
	if len(f) == 0 {
		return "", "", "", fmt.Errorf("%s input %s: empty value", in.Type, in.Name)
	}
	parts := strings.Split(f[0], ":")
	switch len(parts) {
	case 1:
	case 2:
		jobset = parts[0]
	case 3:
		project, jobset = parts[0], parts[1]
	default:
		return "", "", "", fmt.Errorf("%s input %s: %q: want [project:][jobset:]job", in.Type, in.Name, in.Value)
	}
	return project, jobset, parts[len(parts)-1], nil
}

// fetchSysbuild resolves a "sysbuild" input, "[project:][jobset:]job", as
// Hydra does: to the latest successful build of the job on each system it
// is built for. With none the input is omitted; with one it is passed as
// a build input is; with more, Hydra's evaluation fails, since each
// system is an alternative of the input and alternatives are no longer
// supported, and so does this fetch, with Hydra's message.
func (i *Inputs) fetchSysbuild(ctx context.Context, project, jobset string, in events.JobsetInput) (evaluation.Input, error) {
	out := evaluation.Input{Name: in.Name, Type: in.Type, Value: in.Value}
	if i.Builds == nil {
		return out, fmt.Errorf("sysbuild input %s: no build lookup configured", in.Name)
	}
	project, jobset, job, err := jobRef(project, jobset, in)
	if err != nil {
		return out, err
	}
	builds, err := i.Builds.LatestSuccessfulPerSystem(ctx, project, jobset, job)
	if err != nil {
		return out, fmt.Errorf("sysbuild input %s: %w", in.Name, err)
	}
	switch len(builds) {
	case 0:
		out.Omit = true
		return out, nil
	case 1:
		out.StorePath, out.DependencyBuild, out.Arg = builds[0].OutPath, builds[0].ID, evaluation.ArgPath
		return out, nil
	}
	systems := make([]string, len(builds))
	for k, b := range builds {
		systems[k] = b.System
	}
	return out, fmt.Errorf("sysbuild input %s: multiple jobset input alternatives are no longer supported "+
		"(%s:%s:%s has successful builds for %d systems: %s)", in.Name, project, jobset, job, len(builds), strings.Join(systems, ", "))
}

// fetchEval resolves an "eval" input (an eval id, project:jobset or
// project:jobset:job) to an attribute set of that evaluation's successful
// outputs by job name, passed as a Nix expression.
func (i *Inputs) fetchEval(ctx context.Context, in events.JobsetInput) (evaluation.Input, error) {
	out := evaluation.Input{Name: in.Name, Type: in.Type, Value: in.Value}
	if i.Builds == nil {
		return out, fmt.Errorf("eval input %s: no build lookup configured", in.Name)
	}
	var (
		id          int64
		proj, js, j string
		err         error
	)
	parts := strings.Split(strings.TrimSpace(in.Value), ":")
	switch len(parts) {
	case 1:
		id, err = strconv.ParseInt(parts[0], 10, 64)
	case 2:
		proj, js = parts[0], parts[1]
	case 3:
		proj, js, j = parts[0], parts[1], parts[2]
	default:
		err = fmt.Errorf("too many parts")
	}
	if err != nil {
		return out, fmt.Errorf("eval input %s: %q: want an id, project:jobset or project:jobset:job", in.Name, in.Value)
	}
	outs, err := i.Builds.EvalOutputs(ctx, id, proj, js, j)
	if err != nil {
		return out, fmt.Errorf("eval input %s: %w", in.Name, err)
	}
	names := make([]string, 0, len(outs.Jobs))
	for n := range outs.Jobs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("{ ")
	for _, n := range names {
		fmt.Fprintf(&b, "%s = builtins.storePath %s; ", strconv.Quote(n), strconv.Quote(outs.Jobs[n]))
		out.Reads = append(out.Reads, outs.Jobs[n])
	}
	b.WriteString("}")
	out.Arg, out.ArgValue = evaluation.ArgNix, b.String()
	out.Revision = strconv.FormatInt(outs.EvalID, 10)
	return out, nil
}

// LockFlake implements evaluation.InputFetcher with
// `nix flake metadata --json --refresh`, as Hydra locks a flake before
// evaluating it; a local flake must lie inside the Fetcher's roots.
func (i *Inputs) LockFlake(ctx context.Context, ref string) (string, error) {
	local, err := i.Fetcher.ConfineFlake(ref)
	if err != nil {
		return "", err
	}
	bin := i.Nix
	if bin == "" {
		bin = "nix"
	}
	cmd, err := i.Fetcher.Command(ctx, local, bin, "--extra-experimental-features", "nix-command flakes",
		"flake", "metadata", "--json", "--refresh", "--no-write-lock-file", ref)
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("lock flake %s: %s", ref, msg)
		}
		return "", fmt.Errorf("lock flake %s: %w", ref, err)
	}
	var md struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &md); err != nil {
		return "", fmt.Errorf("decode flake metadata of %s: %w", ref, err)
	}
	if md.URL == "" {
		return "", fmt.Errorf("flake metadata of %s has no locked url", ref)
	}
	return md.URL, nil
}
