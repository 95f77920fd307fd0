package builder_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/builder"
	"buildledger/adapters/nix/drv"
	"buildledger/commands"
	"buildledger/domain/status"
	"buildledger/events"
)

// TestDependencyChainAcrossMachines builds a derivation on one ssh://
// machine and its dependent on another, so the dependency's output is
// copied back to the local store and from there to the second machine;
// both end up in the binary cache, which Nix accepts.
func TestDependencyChainAcrossMachines(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	m1, _ := sshMachine(t, nil)
	m2, _ := sshMachine(t, nil)
	d := e.drvs("dep", "top")

	dep := e.build(d["dep"], "ssh1", m1, nil)
	require.Equal(t, int(status.Success), dep.Finished.Status, dep.Finished.ErrorMsg)
	require.Len(t, dep.Finished.Outputs, 1)
	depOut := dep.Finished.Outputs[0].Path
	require.Equal(t, "dep-content\n", e.localFile(depOut), "output copied back to the local store")

	top := e.build(d["top"], "ssh2", m2, nil)
	require.Equal(t, int(status.Success), top.Finished.Status, top.Finished.ErrorMsg)
	topOut := top.Finished.Outputs[0].Path
	require.Equal(t, "dep-content\n"+depOut+"\n", e.localFile(topOut), "the dependency was copied to the second machine")
	require.Contains(t, e.readLog(top.LogStore.Location), "building top")
	require.Positive(t, top.LogStore.Size)
	require.Len(t, top.LogStore.SHA256, 64)

	require.Len(t, top.Uploads, 1)
	u := top.Uploads[0]
	require.Equal(t, topOut, u.Path)
	require.Equal(t, "out", u.OutputName)
	require.Equal(t, d["top"], u.DrvPath)
	require.Contains(t, u.References, depOut)
	require.True(t, strings.HasPrefix(u.NarHash, "sha256:"))
	require.NotEmpty(t, u.FileHash)
	require.Contains(t, u.Signature, "test-cache-1:")
	require.Equal(t, e.cache.URL(), u.CacheURL)

	types, data := e.stepEvents(d["top"])
	require.Equal(t, []string{"StepQueued", "StepDispatched", "StepStarted", "StepLogStored", "OutputUploaded", "StepFinished"}, types)
	var fin events.StepFinished
	require.NoError(t, json.Unmarshal(data[len(data)-1], &fin))
	require.Equal(t, top.Finished, fin)
	require.Equal(t, "ssh2", fin.Machine)
	require.Equal(t, 1, fin.TimesBuilt)
	require.GreaterOrEqual(t, fin.StopTime, fin.StartTime)

	// Nix accepts the cache: copy the top output (and with it the
	// dependency) into a fresh store, checking signatures.
	fresh := t.TempDir() + "/fresh"
	cmd := exec.Command("nix", "--extra-experimental-features", "nix-command", "copy",
		"--from", e.cache.URL(), "--to", fresh,
		"--option", "require-sigs", "true", "--option", "trusted-public-keys", e.pubKey,
		"--option", "substituters", "", topOut)
	cmd.Env = append(cmd.Environ(), "XDG_CACHE_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "nix copy: %s", out)
	require.FileExists(t, fresh+depOut)
	require.FileExists(t, fresh+topOut)
}

// TestStatuses builds the jobs whose ends map to Hydra's statuses on a
// local builder and an ssh:// one.
func TestStatuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{maxOutputSize: 100_000})
	sshCfg, _ := sshMachine(t, nil)
	machines := map[string]events.MachineConfig{"local": localhost(t), "ssh": sshCfg}
	d := e.drvs("fail", "slow", "chatty", "marked", "big", "multi")
	type tc struct {
		job     string
		tweak   func(*commands.BuildStep)
		status  status.Code
		message string
		check   func(t *testing.T, res builder.Result)
	}
	cases := []tc{
		{job: "fail", status: status.Failed, message: "exit code 3", check: func(t *testing.T, res builder.Result) {
			require.Equal(t, 3, res.Finished.ExitCode)
			require.Len(t, res.Finished.Outputs, 1, "a permanent failure records its outputs (for FailedPaths)")
			require.Contains(t, e.readLog(res.LogStore.Location), "about to fail")
			require.Empty(t, res.Uploads)
		}},
		{job: "slow", tweak: func(c *commands.BuildStep) { c.Timeout = 1 }, status: status.TimedOut, message: "timed out"},
		{job: "chatty", tweak: func(c *commands.BuildStep) { c.MaxLogSize = 64 << 10 }, status: status.LogLimitExceeded, check: func(t *testing.T, res builder.Result) {
			require.LessOrEqual(t, res.LogStore.Size, int64(64<<10)+4096, "the stored log stays near the limit")
			require.Contains(t, e.readLog(res.LogStore.Location), "this line repeats forever")
		}},
		{job: "marked", status: status.FailedWithOutput, check: func(t *testing.T, res builder.Result) {
			require.Len(t, res.Uploads, 1, "outputs of a build with the failed marker are kept")
		}},
		{job: "big", status: status.NarSizeLimitExceeded, message: "over the limit"},
		{job: "multi", status: status.Success, check: func(t *testing.T, res builder.Result) {
			require.Len(t, res.Finished.Outputs, 2)
			require.Len(t, res.Uploads, 2)
			byName := map[string]events.OutputUploaded{}
			for _, u := range res.Uploads {
				byName[u.OutputName] = u
			}
			require.Contains(t, byName["dev"].References, byName["out"].Path, "dev refers to out")
			// The implicit nix-build products of the directory output.
			require.Len(t, res.Products, 1)
			require.Equal(t, "nix-build", res.Products[0].Type)
			require.Equal(t, "dev", res.Products[0].Subtype)
		}},
	}
	for name, m := range machines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// Each machine builds its own copies of the jobs.
			d := d
			if name == "ssh" {
				d = e.drvs("fail", "slow", "chatty", "marked", "big", "multi")
			}
			for _, c := range cases {
				t.Run(c.job, func(t *testing.T) {
					start := time.Now()
					res := e.build(d[c.job], name, m, c.tweak)
					require.Equal(t, c.status, status.Code(res.Finished.Status), "error: %s", res.Finished.ErrorMsg)
					require.Contains(t, res.Finished.ErrorMsg, c.message)
					require.Less(t, time.Since(start), 20*time.Second)
					types, _ := e.stepEvents(d[c.job])
					require.Equal(t, "StepFinished", types[len(types)-1])
					if c.check != nil {
						c.check(t, res)
					}
				})
			}
		})
	}
}

// TestProductsAndMetrics scrapes nix-support of a three-output build:
// valid products with file info, a product outside the output and a
// garbage line skipped, a product in a sibling output and lines with
// extra fields kept (Hydra ignores the extra fields), metrics and the
// release name; the directory output without a products file gets its
// nix-build product, the regular-file output none, in output-name order as
// Hydra numbers them.
func TestProductsAndMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	d := e.drvs("products")
	res := e.build(d["products"], "local", localhost(t), nil)
	require.Equal(t, int(status.Success), res.Finished.Status, "%s: %s", res.Finished.ErrorMsg, e.readLog(res.LogStore.Location))
	outputs := map[string]string{}
	for _, o := range res.Finished.Outputs {
		outputs[o.Name] = o.Path
	}
	require.Len(t, outputs, 3)
	out, dev := outputs["out"], outputs["dev"]
	require.Len(t, res.Products, 4)
	require.Equal(t, events.ProductScraped{BuildID: res.Started.BuildID, ProductNr: 1, Type: "nix-build", Subtype: "dev",
		Path: dev, Name: "products-dev"}, res.Products[0])
	require.Equal(t, events.ProductScraped{BuildID: res.Started.BuildID, ProductNr: 2, Type: "doc", Subtype: "manual",
		Path: out + "/doc", Name: "doc", DefaultPath: "manual.html"}, res.Products[1])
	p := res.Products[2]
	require.Equal(t, "read me.txt", p.Name)
	require.Equal(t, int64(len("readme\n")), p.FileSize)
	require.Len(t, p.SHA256, 64)
	require.Equal(t, 3, p.ProductNr)
	require.Equal(t, events.ProductScraped{BuildID: res.Started.BuildID, ProductNr: 4, Type: "doc", Subtype: "headers",
		Path: dev + "/include", Name: "include", DefaultPath: "x.h"}, res.Products[3])
	require.Len(t, res.Skipped, 2, "the line outside the output and the garbage line: %v", res.Skipped)
	require.ElementsMatch(t, []events.MetricScraped{
		{BuildID: res.Started.BuildID, Name: "lineCoverage", Value: 18, Unit: "%"},
		{BuildID: res.Started.BuildID, Name: "runtime", Value: 1.5, Unit: "s"},
	}, res.Metrics)
	require.Equal(t, "my-release-1.0", res.Finished.ReleaseName)
	types, _ := e.stepEvents(d["products"])
	require.Equal(t, []string{"StepQueued", "StepDispatched", "StepStarted", "StepLogStored", "OutputUploaded", "OutputUploaded", "OutputUploaded",
		"ProductScraped", "ProductScraped", "ProductScraped", "ProductScraped", "MetricScraped", "MetricScraped", "StepFinished"}, types)
}

// TestDependencyProductsRideOnTheFinish: a step run for a build that
// needs it, not for one of its own builds, records none of the products
// and metrics its outputs declare as that build's. They go with its
// StepFinished, no build's (BuildID 0), for a job the scheduler may credit
// with the run; its release name counts for its own builds.
func TestDependencyProductsRideOnTheFinish(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	d := e.drvs("products")
	res := e.build(d["products"], "local", localhost(t), func(c *commands.BuildStep) { c.Dependency = true })
	require.Equal(t, int(status.Success), res.Finished.Status, "%s: %s", res.Finished.ErrorMsg, e.readLog(res.LogStore.Location))
	require.Empty(t, res.Products)
	require.Empty(t, res.Metrics)
	require.Equal(t, "my-release-1.0", res.Finished.ReleaseName)
	require.Len(t, res.Finished.Products, 4)
	for i, p := range res.Finished.Products {
		require.Zero(t, p.BuildID)
		require.Equal(t, i+1, p.ProductNr)
	}
	require.Equal(t, "doc", res.Finished.Products[1].Type)
	require.ElementsMatch(t, []events.MetricScraped{
		{Name: "lineCoverage", Value: 18, Unit: "%"},
		{Name: "runtime", Value: 1.5, Unit: "s"},
	}, res.Finished.Metrics)
	types, data := e.stepEvents(d["products"])
	require.NotContains(t, types, "ProductScraped")
	require.NotContains(t, types, "MetricScraped")
	require.Equal(t, "StepFinished", types[len(types)-1])
	var recorded events.StepFinished
	require.NoError(t, json.Unmarshal(data[len(data)-1], &recorded))
	require.Equal(t, res.Finished.Products, recorded.Products)
	require.Equal(t, res.Finished.Metrics, recorded.Metrics)
}

// TestGarbageProducts builds an output whose products file is 10 MB of
// random bytes: the step succeeds, nothing is scraped, nothing crashes.
func TestGarbageProducts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	d := e.drvs("garbage")
	res := e.build(d["garbage"], "local", localhost(t), nil)
	require.Equal(t, int(status.Success), res.Finished.Status, res.Finished.ErrorMsg)
	require.Empty(t, res.Products)
	require.NotEmpty(t, res.Skipped)
	require.Contains(t, strings.Join(res.Skipped, "\n"), "too large")
}

// TestBadMachines: an unknown URI scheme, a missing key file, machines
// without nix-store. Each step ends with status 3 and a clear message.
func TestBadMachines(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	good, _ := sshMachine(t, nil)
	noNix, _ := sshMachine(t, map[string]string{"PATH": noNixPath(t)})
	missingKey := good
	missingKey.SSHKey = "/nonexistent/id_ed25519"
	unknown := localhost(t)
	unknown.URI = "ftp://builder.example"
	wrongHostKey := good
	_, other := sshMachine(t, nil)
	wrongHostKey.PublicHostKey = other.HostPublicKey
	cases := []struct {
		name    string
		cfg     events.MachineConfig
		message string
	}{
		{"unknown scheme", unknown, "unsupported machine URI"},
		{"missing key file", missingKey, "/nonexistent/id_ed25519"},
		{"no nix-store", noNix, "no usable nix-store"},
		{"changed host key", wrongHostKey, "host key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := e.drvs("dep")
			res := e.build(d["dep"], c.name, c.cfg, nil)
			require.Equal(t, int(status.Aborted), res.Finished.Status)
			require.Contains(t, res.Finished.ErrorMsg, c.message)
		})
	}

	// A localhost builder whose nix-store is missing.
	e2 := newEnv(t, envOptions{localNixStore: "/nonexistent/nix-store"})
	d := e2.drvs("dep")
	res := e2.build(d["dep"], "local", localhost(t), nil)
	require.Equal(t, int(status.Aborted), res.Finished.Status)
	require.Contains(t, res.Finished.ErrorMsg, "/nonexistent/nix-store")
}

// noNixPath returns a directory with the shell tools the ssh link needs
// but no nix-store.
func noNixPath(t *testing.T) string {
	dir := t.TempDir()
	for _, tool := range []string{"sh", "cat", "mkfifo", "rm"} {
		p, err := exec.LookPath(tool)
		require.NoError(t, err)
		require.NoError(t, osSymlink(p, dir+"/"+tool))
	}
	return dir
}

// TestConnectionKilledMidBuild kills the machine's sshd while it builds:
// the step ends with status 3 (transient) quickly, and after a restart the
// next step redials and builds. The kill waits for the build to run, not
// for a fixed time: on a loaded machine copying the inputs took longer
// than the two seconds it once waited.
func TestConnectionKilledMidBuild(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	m, srv := sshMachine(t, nil)
	d := e.drvs("slow", "dep")
	parsed, err := drv.NewReader(e.local).Read(d["slow"])
	require.NoError(t, err)
	c := e.dispatch(d["slow"], "ssh", m, nil)
	type outcome struct {
		res builder.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		res, err := e.worker.Build(ctx, c)
		done <- outcome{res, err}
	}()
	require.Eventually(t, func() bool { return len(builderPids(t, "out="+parsed.Outputs["out"])) > 0 }, time.Minute, 50*time.Millisecond,
		"the build runs")
	time.Sleep(time.Second) // its first line reaches the log store
	killed := time.Now()
	srv.Kill()
	o := <-done
	require.NoError(t, o.err)
	res := o.res
	require.Equal(t, int(status.Aborted), res.Finished.Status, res.Finished.ErrorMsg)
	require.True(t, status.Code(res.Finished.Status).IsTransient())
	require.Less(t, time.Since(killed), 20*time.Second)
	require.Contains(t, e.readLog(res.LogStore.Location), "sleeping", "the log up to the loss is kept")

	srv.Restart()
	res = e.build(d["dep"], "ssh", m, nil)
	require.Equal(t, int(status.Success), res.Finished.Status, res.Finished.ErrorMsg)
}

// TestDuplicateDelivery delivers the same BuildStep three times at once:
// one StepStarted, one build, one StepFinished.
func TestDuplicateDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	d := e.drvs("dep")
	c := e.dispatch(d["dep"], "local", localhost(t), nil)
	ctx := context.Background()
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- e.worker.Handle(ctx, c) }()
	}
	for range 3 {
		require.NoError(t, <-errs)
	}
	e.worker.Wait()
	types, _ := e.stepEvents(d["dep"])
	require.Equal(t, []string{"StepQueued", "StepDispatched", "StepStarted", "StepLogStored", "OutputUploaded", "StepFinished"}, types)

	// A late redelivery after the end is refused too.
	_, err := e.worker.Build(ctx, c)
	require.ErrorIs(t, err, builder.ErrDuplicate)
	require.NoError(t, e.worker.Handle(ctx, c))
	e.worker.Wait()
	types2, _ := e.stepEvents(d["dep"])
	require.Equal(t, types, types2)
}

// TestConcurrentStepsOnOneMachine starts several steps at once on a
// machine the worker has no connection to yet: they dial at the same time
// and must share one connection, not close each other's.
func TestConcurrentStepsOnOneMachine(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	m, _ := sshMachine(t, nil)
	jobs := []string{"dep", "multi", "marked", "products"}
	d := e.drvs(jobs...)
	var cmds []commands.BuildStep
	for _, j := range jobs {
		cmds = append(cmds, e.dispatch(d[j], "ssh", m, nil))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type outcome struct {
		res builder.Result
		err error
	}
	outs := make(chan outcome, len(cmds))
	for _, c := range cmds {
		go func() {
			res, err := e.worker.Build(ctx, c)
			outs <- outcome{res, err}
		}()
	}
	for range cmds {
		o := <-outs
		require.NoError(t, o.err)
		require.NotEqual(t, int(status.Aborted), o.res.Finished.Status, "step %s aborted: %s", o.res.Finished.DrvPath, o.res.Finished.ErrorMsg)
	}
}

// TestLocalSessionsAreReused builds steps one after the other on a
// localhost machine: they share nix-store processes (the first session
// and the spare started after its handshake, and one session on the local
// store for the steps' queries), each log holds its own step's output and
// nothing of the others', a failed build leaves its session usable, and a
// dependency built by one step is an input of the next.
func TestLocalSessionsAreReused(t *testing.T) {
	t.Parallel()
	nixStore, err := exec.LookPath("nix-store")
	require.NoError(t, err)
	dir := t.TempDir()
	starts := filepath.Join(dir, "serve-starts")
	wrapper := filepath.Join(dir, "nix-store")
	script := "#!/bin/sh\ncase \" $* \" in *\" --serve \"*) echo \"$*\" >> '" + starts + "';; esac\nexec '" + nixStore + "' \"$@\"\n"
	require.NoError(t, os.WriteFile(wrapper, []byte(script), 0o755))
	e := newEnv(t, envOptions{localNixStore: wrapper})
	m := localhost(t)
	d := e.drvs("fail", "dep", "top", "multi")

	steps := []struct {
		job    string
		status status.Code
		log    string
	}{
		{"fail", status.Failed, "about to fail"},
		{"dep", status.Success, "building dep"},
		{"top", status.Success, "building top"},
		{"multi", status.Success, ""},
	}
	for _, s := range steps {
		res := e.build(d[s.job], localMachine, m, nil)
		require.Equal(t, s.status, status.Code(res.Finished.Status), "%s: %s", s.job, res.Finished.ErrorMsg)
		log := e.readLog(res.LogStore.Location)
		require.Contains(t, log, s.log)
		for _, other := range steps {
			if other.job != s.job && other.log != "" {
				require.NotContains(t, log, other.log, "the log of %s holds only its own build", s.job)
			}
		}
	}
	b, err := os.ReadFile(starts)
	require.NoError(t, err)
	require.LessOrEqual(t, strings.Count(string(b), "--store "+m.Store+" "), 2, "one session and one spare serve %d steps", len(steps))
	require.Equal(t, 1, strings.Count(string(b), "--store "+e.local+" "), "one session answers the queries of %d steps", len(steps))
}

// TestLocalBuildsRunAtLocalNice: a build on localhost runs at
// Config.LocalNice, which its serve command passes on: the builder writes
// its own nice value, read from /proc inside the sandbox, to its output.
func TestLocalBuildsRunAtLocalNice(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("nice").Output()
	require.NoError(t, err)
	own, err := strconv.Atoi(strings.TrimSpace(string(out)))
	require.NoError(t, err)
	e := newEnv(t, envOptions{localNice: own + 7})
	d := e.drvs("nice")
	res := e.build(d["nice"], localMachine, localhost(t), nil)
	require.Equal(t, int(status.Success), res.Finished.Status, "%s: %s", res.Finished.ErrorMsg, e.readLog(res.LogStore.Location))
	require.Len(t, res.Finished.Outputs, 1)
	require.Equal(t, strconv.Itoa(own+7), strings.TrimSpace(e.localFile(res.Finished.Outputs[0].Path)))
}

// drvRefused is a cache that refuses derivations.
type drvRefused struct{ binarycache.Destination }

func (d drvRefused) Put(ctx context.Context, info binarycache.PathInfo, nar io.Reader) (binarycache.Uploaded, error) {
	if strings.HasSuffix(info.StorePath, ".drv") {
		return binarycache.Uploaded{}, errors.New("derivations refused")
	}
	return d.Destination.Put(ctx, info, nar)
}

// TestDerivationUpload: a step's derivation goes to the cache with its
// input derivations while it builds, for a failed build too. A
// successful step whose derivation could not be uploaded is aborted (and
// retried by the scheduler); a failed one keeps its failure.
func TestDerivationUpload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		refuse bool
		// first is built before job, as its dependency.
		first, job string
		want       status.Code
		wantMsg    string
	}{
		{name: "built", first: "dep", job: "top", want: status.Success},
		{name: "failed", job: "fail", want: status.Failed, wantMsg: "exit code 3"},
		{name: "built, derivation refused", refuse: true, job: "dep", want: status.Aborted, wantMsg: "upload derivation to file://"},
		{name: "failed, derivation refused", refuse: true, job: "fail", want: status.Failed, wantMsg: "exit code 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := envOptions{}
			if tt.refuse {
				o.wrapCache = func(d binarycache.Destination) binarycache.Destination { return drvRefused{d} }
			}
			e := newEnv(t, o)
			m := localhost(t)
			d := e.drvs("dep", "top", "fail")
			if tt.first != "" {
				res := e.build(d[tt.first], localMachine, m, nil)
				require.Equal(t, int(status.Success), res.Finished.Status, res.Finished.ErrorMsg)
			}
			res := e.build(d[tt.job], localMachine, m, nil)
			require.Equal(t, tt.want, status.Code(res.Finished.Status), res.Finished.ErrorMsg)
			require.Contains(t, res.Finished.ErrorMsg, tt.wantMsg)
			ctx := context.Background()
			for _, job := range []string{tt.first, tt.job} {
				if job == "" {
					continue
				}
				has, err := e.cache.Has(ctx, d[job])
				require.NoError(t, err)
				require.Equal(t, !tt.refuse, has, "%s in the cache", d[job])
			}
			types, _ := e.stepEvents(d[tt.job])
			require.Equal(t, "StepFinished", types[len(types)-1])
		})
	}
}
