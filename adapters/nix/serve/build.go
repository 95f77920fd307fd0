package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"buildledger/adapters/nix/drv"
)

// BasicDerivation is a derivation with its input derivations resolved to
// their output paths, as cmdBuildDerivation sends it.
type BasicDerivation struct {
	// Outputs by name.
	Outputs map[string]DerivationOutput
	// InputSrcs are all store paths the build needs: the derivation's input
	// sources and the used outputs of its input derivations.
	InputSrcs []string
	Platform  string
	Builder   string
	Args      []string
	Env       map[string]string
}

// DerivationOutput is one output of a BasicDerivation.
type DerivationOutput struct {
	// Path is the output path; empty for floating content-addressed outputs.
	Path string
	// HashAlgo and Hash are set for fixed-output / content-addressed outputs,
	// as in the .drv file (e.g. "r:sha256" and a hex digest).
	HashAlgo string
	Hash     string
}

// NewBasicDerivation makes the BasicDerivation of d. inputPaths are the
// store paths of its resolved inputs, e.g. from (*drv.Reader).InputPaths.
func NewBasicDerivation(d *drv.Derivation, inputPaths []string) BasicDerivation {
	b := BasicDerivation{
		Outputs:   make(map[string]DerivationOutput, len(d.Outputs)),
		InputSrcs: inputPaths,
		Platform:  d.System,
		Builder:   d.Builder,
		Args:      d.Args,
		Env:       d.Env,
	}
	for name, p := range d.Outputs {
		f := d.FixedOutputs[name]
		b.Outputs[name] = DerivationOutput{Path: p, HashAlgo: f.HashAlgo, Hash: f.Hash}
	}
	return b
}

func writeBasicDerivation(w io.Writer, d BasicDerivation) error {
	names := make([]string, 0, len(d.Outputs))
	for n := range d.Outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	if err := writeInt(w, uint64(len(names))); err != nil {
		return err
	}
	for _, n := range names {
		o := d.Outputs[n]
		for _, s := range []string{n, o.Path, o.HashAlgo, o.Hash} {
			if err := writeString(w, s); err != nil {
				return err
			}
		}
	}
	srcs := append([]string(nil), d.InputSrcs...)
	sort.Strings(srcs)
	if err := writeStrings(w, dedup(srcs)); err != nil {
		return err
	}
	if err := writeString(w, d.Platform); err != nil {
		return err
	}
	if err := writeString(w, d.Builder); err != nil {
		return err
	}
	if err := writeStrings(w, d.Args); err != nil {
		return err
	}
	keys := make([]string, 0, len(d.Env))
	for k := range d.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if err := writeInt(w, uint64(len(keys))); err != nil {
		return err
	}
	for _, k := range keys {
		if err := writeString(w, k); err != nil {
			return err
		}
		if err := writeString(w, d.Env[k]); err != nil {
			return err
		}
	}
	return nil
}

func dedup(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// BuildOptions are the build settings sent with cmdBuildDerivation.
type BuildOptions struct {
	// MaxSilentTime kills the build after this long without output; 0 = no limit.
	MaxSilentTime time.Duration
	// BuildTimeout kills the build after this long; 0 = no limit.
	BuildTimeout time.Duration
	// MaxLogSize kills the build once its log exceeds this many bytes; 0 = no limit.
	MaxLogSize uint64
	// Repeats is how many extra times to build to check determinism.
	Repeats uint64
	// EnforceDeterminism fails the build if repeats differ.
	EnforceDeterminism bool
	// KeepFailed keeps the build directory of a failed build (minor ≥ 7).
	KeepFailed bool
}

// BuildResult is the server's answer to cmdBuildDerivation.
type BuildResult struct {
	Status BuildStatus
	// ErrorMsg is Nix's error message, without ANSI escape sequences.
	ErrorMsg string
	// TimesBuilt, IsNonDeterministic, StartTime and StopTime are sent from
	// protocol minor 3 on; times are zero when the server sent 0.
	TimesBuilt         uint64
	IsNonDeterministic bool
	StartTime          time.Time
	StopTime           time.Time
	// BuiltOutputs are the realisations of the outputs (minor ≥ 6).
	BuiltOutputs []Realisation
}

// Realisation is one built output as the server reports it.
type Realisation struct {
	// ID is the derivation output id, "sha256:<hash modulo>!<output name>".
	ID string `json:"id"`
	// OutPath is the output's store path. Nix sends a base name;
	// BuildDerivation makes it absolute in the directory of the .drv path.
	OutPath    string   `json:"outPath"`
	Signatures []string `json:"signatures"`
}

// OutputName is the output name part of the realisation's ID.
func (r Realisation) OutputName() string {
	if i := strings.LastIndexByte(r.ID, '!'); i >= 0 {
		return r.ID[i+1:]
	}
	return ""
}

// Success reports whether the outputs are now valid on the server.
func (r BuildResult) Success() bool { return r.Status.Success() }

// BuildDerivation builds drv on the server (cmdBuildDerivation). drvPath
// names the derivation (it need not exist on the server); every path in
// drv.InputSrcs must already be valid there (see ImportPaths). The build log
// arrives on the transport's stderr, not here. A failed build is a
// BuildResult with a failure status, not an error; errors are transport or
// protocol failures.
func (c *Client) BuildDerivation(ctx context.Context, drvPath string, drv BasicDerivation, opts BuildOptions) (BuildResult, error) {
	var res BuildResult
	err := c.call(ctx, "build "+drvPath, func() error {
		if err := writeInt(c.w, cmdBuildDerivation); err != nil {
			return err
		}
		if err := writeString(c.w, drvPath); err != nil {
			return err
		}
		if err := writeBasicDerivation(c.w, drv); err != nil {
			return err
		}
		if err := c.writeBuildOptions(opts); err != nil {
			return err
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		var err error
		res, err = readBuildResult(c.r, c.minor())
		res.absolutePaths(path.Dir(drvPath))
		return err
	})
	return res, err
}

func (c *Client) writeBuildOptions(o BuildOptions) error {
	if err := writeInt(c.w, seconds(o.MaxSilentTime)); err != nil {
		return err
	}
	if err := writeInt(c.w, seconds(o.BuildTimeout)); err != nil {
		return err
	}
	m := c.minor()
	if m >= 2 {
		if err := writeInt(c.w, o.MaxLogSize); err != nil {
			return err
		}
	}
	if m >= 3 {
		if err := writeInt(c.w, o.Repeats); err != nil {
			return err
		}
		if err := writeBool(c.w, o.EnforceDeterminism); err != nil {
			return err
		}
	}
	if m >= 7 {
		if err := writeBool(c.w, o.KeepFailed); err != nil {
			return err
		}
	}
	return nil
}

// seconds rounds a positive duration up to whole seconds, so that a
// sub-second limit is not sent as 0 (no limit).
func seconds(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Second - 1) / time.Second)
}

func readBuildResult(r io.Reader, minor uint64) (BuildResult, error) {
	var res BuildResult
	st, err := readInt(r)
	if err != nil {
		return res, fmt.Errorf("build status: %w", err)
	}
	res.Status = BuildStatus(st)
	if res.ErrorMsg, err = readString(r, maxMessageLen); err != nil {
		return res, fmt.Errorf("build error message: %w", err)
	}
	res.ErrorMsg = stripANSI(res.ErrorMsg)
	if minor >= 3 {
		if res.TimesBuilt, err = readInt(r); err != nil {
			return res, fmt.Errorf("times built: %w", err)
		}
		if res.IsNonDeterministic, err = readBool(r); err != nil {
			return res, fmt.Errorf("non-deterministic flag: %w", err)
		}
		start, err := readInt(r)
		if err != nil {
			return res, fmt.Errorf("start time: %w", err)
		}
		stop, err := readInt(r)
		if err != nil {
			return res, fmt.Errorf("stop time: %w", err)
		}
		res.StartTime, res.StopTime = unixTime(start), unixTime(stop)
	}
	if minor >= 6 {
		n, err := readInt(r)
		if err != nil {
			return res, fmt.Errorf("built outputs: %w", err)
		}
		if n > maxListLen {
			return res, fmt.Errorf("%d built outputs exceed limit", n)
		}
		for i := uint64(0); i < n; i++ {
			id, err := readString(r, maxPathLen)
			if err != nil {
				return res, fmt.Errorf("built output id: %w", err)
			}
			js, err := readString(r, maxMessageLen)
			if err != nil {
				return res, fmt.Errorf("built output %s: %w", id, err)
			}
			var real Realisation
			if err := json.Unmarshal([]byte(js), &real); err != nil {
				return res, fmt.Errorf("built output %s: %w", id, err)
			}
			if real.ID == "" {
				real.ID = id
			}
			res.BuiltOutputs = append(res.BuiltOutputs, real)
		}
	}
	return res, nil
}

// absolutePaths prefixes realisation base names with storeDir.
func (r *BuildResult) absolutePaths(storeDir string) {
	for i, o := range r.BuiltOutputs {
		if o.OutPath != "" && !strings.HasPrefix(o.OutPath, "/") {
			r.BuiltOutputs[i].OutPath = storeDir + "/" + o.OutPath
		}
	}
}

func unixTime(s uint64) time.Time {
	if s == 0 || s > 1<<40 {
		return time.Time{}
	}
	return time.Unix(int64(s), 0).UTC()
}
