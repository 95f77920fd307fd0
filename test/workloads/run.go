package workloads

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/postgres"
	"buildledger/commands"
	"buildledger/commands/reactors/scheduler"
	"buildledger/events"
)

// RunOptions configure one end-to-end run of a workload.
type RunOptions struct {
	// Bin is the buildledger binary to run ("up", the CLI, "replay").
	Bin string
	// Dir is a scratch directory (the home, the cluster, the jobset).
	Dir string
	Params
	// Slots are the local builder's slots (maxJobs).
	Slots int
	// Baselines also times a bare nix-instantiate and a nix-build of the
	// same expression (with other nonces, so that each starts cold).
	Baselines bool
	// WebRate is the load generator's requests per second (0: none).
	WebRate int
	// Deadline bounds the wait for the builds.
	Deadline time.Duration
	// UntilFirstDispatch stops the run once the evaluation has finished
	// and a step was dispatched: only the evaluation's figures (Eval,
	// FirstQueued, FirstDispatch, Builds, Events) are taken, in a
	// fraction of a whole run's time.
	UntilFirstDispatch bool
	// Logf receives progress lines.
	Logf func(format string, args ...any)
}

// Figures are what a run measured. Durations are wall-clock.
type Figures struct {
	Jobs, Derivations      int
	Builds, Steps          int
	Succeeded, Failed      int
	TimedOut, DepFailed    int
	Events                 int64
	EventsBytes            int64 // ledger.events with its indexes
	LogBytes               int64 // the build logs on disk
	Eval                   time.Duration
	BareInstantiate        time.Duration
	FirstQueued            time.Duration // the first StepQueued, from the evaluation's start
	FirstDispatch          time.Duration // from the evaluation's start
	Makespan               time.Duration // from "jobset create" to the last build finished
	NixBuild               time.Duration
	Decisions              float64
	DecideSeconds          float64
	DecidePasses           float64
	DecidePassP99          float64 // upper bound of the histogram bucket
	UpPeakRSS, PgPeakRSS   int64   // bytes; Postgres: all its processes' PSS summed
	Replay                 time.Duration
	ReplayEvents           int64
	ColdStart              time.Duration
	WebRequests, WebErrors int
	WebP50, WebP99, WebMax time.Duration
	// WebPages splits the answers by page (its route, HTML or JSON),
	// slowest p99 first: which page a slow answer came from.
	WebPages []WebPage
}

// WebPage is the latency of one page's answers during the run.
type WebPage struct {
	Page          string
	Answers       int
	P50, P99, Max time.Duration
}

// Run starts Postgres and "up" with Slots local slots, creates the
// workload's jobset, waits until every build is finished, and measures.
func Run(ctx context.Context, o RunOptions) (*Figures, error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	w, err := Generate(o.Params)
	if err != nil {
		return nil, err
	}
	f := &Figures{Derivations: len(w.Nodes)}
	f.Jobs, _, _ = w.Count()
	for _, d := range []string{o.Dir, filepath.Join(o.Dir, "input"), filepath.Join(o.Dir, "home")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		// The cluster runs as the postgres user when this runs as root.
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	src := filepath.Join(o.Dir, "input", "workload")
	if err := w.WriteNix(src); err != nil {
		return nil, err
	}
	nixConf := filepath.Join(o.Dir, "nix-conf") // Nix's compiled-in settings: sandbox on
	if err := os.MkdirAll(nixConf, 0o755); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "NIX_CONF_DIR="+nixConf, "BUILDLEDGER_EVENTSTORE=", "BUILDLEDGER_HOME=")

	cluster, err := postgres.StartCluster(ctx, postgres.ClusterOptions{DataDir: filepath.Join(o.Dir, "pg")})
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	defer func() { _ = cluster.Stop(context.WithoutCancel(ctx)) }()
	dbURL := cluster.AdminURL("postgres")
	if err := postgres.WaitReady(ctx, dbURL, 30*time.Second); err != nil {
		return nil, err
	}
	env = append(env, "BUILDLEDGER_DATABASE_URL="+dbURL)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer pool.Close()

	machines := filepath.Join(o.Dir, "machines")
	sys, err := exec.CommandContext(ctx, "nix-instantiate", "--eval", "--expr", "builtins.currentSystem").Output()
	if err != nil {
		return nil, fmt.Errorf("nix system: %w", err)
	}
	line := fmt.Sprintf("localhost %s,builtin - %d 1\n", strings.Trim(strings.TrimSpace(string(sys)), `"`), o.Slots)
	if err := os.WriteFile(machines, []byte(line), 0o644); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	base := "http://" + addr
	home := filepath.Join(o.Dir, "home")
	up := exec.Command(o.Bin, "up", "--home", home, "--listen", addr, "--gc-roots", "",
		"--input-root", filepath.Join(o.Dir, "input"), "--eval-allowed-path", nixtest.BusyboxDir(), "--machines", machines)
	up.Env = append(env, "BUILDLEDGER_ADMIN_PASSWORD=scale-bench-password")
	upLog, err := os.Create(filepath.Join(o.Dir, "up.log"))
	if err != nil {
		return nil, err
	}
	defer upLog.Close()
	up.Stdout, up.Stderr = upLog, upLog
	if err := up.Start(); err != nil {
		return nil, fmt.Errorf("start up: %w", err)
	}
	upDone := make(chan error, 1)
	go func() { upDone <- up.Wait() }()
	stopUp := func() {
		if up.ProcessState != nil {
			return
		}
		_ = up.Process.Signal(syscall.SIGTERM)
		select {
		case <-upDone:
		case <-time.After(90 * time.Second):
			_ = up.Process.Kill()
			<-upDone
		}
	}
	defer stopUp()
	client := &http.Client{Timeout: 10 * time.Second}
	if err := waitFor(ctx, 2*time.Minute, func() (bool, error) {
		res, err := client.Get(base + "/healthz")
		if err != nil {
			return false, nil
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK, nil
	}); err != nil {
		return nil, fmt.Errorf("up not healthy (see %s): %w", upLog.Name(), err)
	}
	// The machines file is applied within a few seconds.
	if err := waitFor(ctx, time.Minute, func() (bool, error) {
		var n int
		err := pool.QueryRow(ctx, `select count(*) from ledger.events where type = 'MachineUpdated'`).Scan(&n)
		return n > 0, err
	}); err != nil {
		return nil, fmt.Errorf("the machines file was not applied: %w", err)
	}
	var startPos int64
	if err := pool.QueryRow(ctx, `select coalesce(max(position), 0) from ledger.events`).Scan(&startPos); err != nil {
		return nil, err
	}

	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	var wg sync.WaitGroup
	var pgPeak int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		pgPeak = samplePostgres(sampleCtx, filepath.Join(o.Dir, "pg"))
	}()
	var byPage map[string][]time.Duration
	var webReqs, webErrs int
	if o.WebRate > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			byPage, webReqs, webErrs = loadWeb(sampleCtx, base, o.WebRate, f.Jobs)
		}()
	}

	cli := func(args ...string) error {
		c := exec.CommandContext(ctx, o.Bin, args...)
		c.Env = env
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("buildledger %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := cli("project", "create", "scale", "--owner", "admin"); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := cli("jobset", "create", "scale", "main", "--type", "legacy", "--input", "src=path:"+src,
		"--nixexprinput", "src", "--nixexprpath", "release.nix"); err != nil {
		return nil, err
	}
	logf("jobset created; waiting for %d jobs, %d derivations", f.Jobs, f.Derivations)
	deadline := o.Deadline
	if deadline <= 0 {
		deadline = 24 * time.Hour
	}
	var last time.Time
	seen := eventTally{pos: startPos, n: map[string]int{}}
	if err := waitFor(ctx, deadline, func() (bool, error) {
		if err := seen.update(ctx, pool); err != nil {
			return false, err
		}
		evalDone, failed := seen.n["EvaluationFinished"] > 0, seen.n["EvaluationFailed"] > 0
		dispatched := seen.n["StepDispatched"] > 0
		queued, finished := seen.n["BuildQueued"], seen.n["BuildFinished"]
		if failed {
			return false, errors.New("the evaluation failed (see up.log)")
		}
		if time.Since(last) > 30*time.Second {
			logf("builds finished: %d of %d queued (evaluation finished: %v)", finished, queued, evalDone)
			last = time.Now()
		}
		if o.UntilFirstDispatch {
			return evalDone && dispatched, nil
		}
		return evalDone && queued > 0 && finished >= queued, nil
	}); err != nil {
		return nil, err
	}
	if o.UntilFirstDispatch {
		stopSampling()
		wg.Wait()
		return f, f.queryEval(ctx, pool, startPos)
	}
	if o.WebRate > 0 {
		// Pages of the finished jobset, a little longer.
		time.Sleep(5 * time.Second)
	}
	stopSampling()
	wg.Wait()
	f.PgPeakRSS = pgPeak
	f.WebRequests, f.WebErrors = webReqs, webErrs
	var lat []time.Duration
	for page, l := range byPage {
		slices.Sort(l)
		f.WebPages = append(f.WebPages, WebPage{Page: page, Answers: len(l), P50: pctl(l, 0.5), P99: pctl(l, 0.99), Max: l[len(l)-1]})
		lat = append(lat, l...)
	}
	slices.SortFunc(f.WebPages, func(a, b WebPage) int { return cmp.Compare(b.P99, a.P99) })
	slices.Sort(lat)
	f.WebP50, f.WebP99 = pctl(lat, 0.5), pctl(lat, 0.99)
	if len(lat) > 0 {
		f.WebMax = lat[len(lat)-1]
	}
	f.UpPeakRSS = procHWM(up.Process.Pid)
	if err := f.scrapeScheduler(client, base); err != nil {
		logf("scheduler metrics: %v", err)
	}
	if err := f.query(ctx, pool, startPos, t0); err != nil {
		return nil, err
	}
	f.LogBytes = dirBytes(filepath.Join(home, "logs"))
	stopUp()

	// Replay of the whole log into fresh read models, then the
	// scheduler's cold start from it (no snapshot), in this process.
	if err := pool.QueryRow(ctx, `select count(*) from ledger.events`).Scan(&f.ReplayEvents); err != nil {
		return nil, err
	}
	t1 := time.Now()
	if err := cli("replay", "--into", "replay_bench"); err != nil {
		return nil, err
	}
	f.Replay = time.Since(t1)
	if f.ColdStart, err = coldStart(ctx, pool); err != nil {
		return nil, err
	}

	if o.Baselines {
		if f.BareInstantiate, f.NixBuild, err = baselines(ctx, o, env, logf); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// eventTally counts the events appended since pos by type. Each update
// reads only the events appended since the last, through the log's
// primary key: the run is measured while it is polled, so the poll must
// not scan the whole log twice a second. It did: at 1,000 jobs that scan
// was Postgres' costliest statement (2.9 s of every 40), and it grew
// with the log.
type eventTally struct {
	pos int64
	n   map[string]int
}

func (t *eventTally) update(ctx context.Context, pool *pgxpool.Pool) error {
	// Appends are serialized on the log's counter row, so positions
	// commit in order and none below pos can still appear.
	rows, err := pool.Query(ctx, `select type, count(*), max(position) from ledger.events
		where position > $1 group by type`, t.pos)
	if err != nil {
		return fmt.Errorf("count new events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var typ string
		var n int
		var pos int64
		if err := rows.Scan(&typ, &n, &pos); err != nil {
			return err
		}
		t.n[typ] += n
		t.pos = max(t.pos, pos)
	}
	return rows.Err()
}

// query reads the run's figures from the log.
func (f *Figures) query(ctx context.Context, pool *pgxpool.Pool, startPos int64, t0 time.Time) error {
	if err := f.queryEval(ctx, pool, startPos); err != nil {
		return err
	}
	var lastFinish time.Time
	err := pool.QueryRow(ctx, `select
		(select max(recorded_at) from ledger.events where type = 'BuildFinished' and position > $1),
		(select count(*) from ledger.events where type = 'StepFinished' and position > $1)`, startPos).
		Scan(&lastFinish, &f.Steps)
	if err != nil {
		return fmt.Errorf("figures from the log: %w", err)
	}
	f.Makespan = lastFinish.Sub(t0)
	// Hydra's build statuses: 0 succeeded, 1 failed, 2 dependency
	// failed, 7 timed out.
	rows, err := pool.Query(ctx, `select (data->>'status')::int, count(*) from ledger.events
		where type = 'BuildFinished' and position > $1 group by 1`, startPos)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var st, n int
		if err := rows.Scan(&st, &n); err != nil {
			return err
		}
		switch st {
		case 0:
			f.Succeeded += n
		case 2:
			f.DepFailed += n
		case 7:
			f.TimedOut += n
		default:
			f.Failed += n
		}
	}
	return rows.Err()
}

// queryEval reads the evaluation's figures from the log: its time, the
// first step queued and dispatched, the builds and events so far.
func (f *Figures) queryEval(ctx context.Context, pool *pgxpool.Pool, startPos int64) error {
	var evalStart, evalEnd, firstQueued, firstDispatch time.Time
	err := pool.QueryRow(ctx, `select
		(select min(recorded_at) from ledger.events where type = 'EvaluationStarted' and position > $1),
		(select min(recorded_at) from ledger.events where type = 'EvaluationFinished' and position > $1),
		(select min(recorded_at) from ledger.events where type = 'StepQueued' and position > $1),
		(select min(recorded_at) from ledger.events where type = 'StepDispatched' and position > $1),
		(select count(*) from ledger.events where position > $1),
		(select count(*) from ledger.events where type = 'BuildQueued' and position > $1),
		pg_total_relation_size('ledger.events')`, startPos).
		Scan(&evalStart, &evalEnd, &firstQueued, &firstDispatch, &f.Events, &f.Builds, &f.EventsBytes)
	if err != nil {
		return fmt.Errorf("evaluation figures from the log: %w", err)
	}
	f.Eval = evalEnd.Sub(evalStart)
	f.FirstQueued = firstQueued.Sub(evalStart)
	f.FirstDispatch = firstDispatch.Sub(evalStart)
	return nil
}

// scrapeScheduler reads the scheduler's decision figures from /metrics.
func (f *Figures) scrapeScheduler(c *http.Client, base string) error {
	res, err := c.Get(base + "/metrics")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	type bucket struct{ le, n float64 }
	var buckets []bucket
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch {
		case name == "buildledger_scheduler_decisions_total":
			f.Decisions = v
		case name == "buildledger_scheduler_decide_seconds_sum":
			f.DecideSeconds = v
		case name == "buildledger_scheduler_decide_seconds_count":
			f.DecidePasses = v
		case strings.HasPrefix(name, `buildledger_scheduler_decide_seconds_bucket{le="`):
			le := strings.TrimSuffix(strings.TrimPrefix(name, `buildledger_scheduler_decide_seconds_bucket{le="`), `"}`)
			if b, err := strconv.ParseFloat(le, 64); err == nil {
				buckets = append(buckets, bucket{b, v})
			}
		}
	}
	for _, b := range buckets {
		if b.n >= 0.99*f.DecidePasses {
			f.DecidePassP99 = b.le
			break
		}
	}
	return sc.Err()
}

// coldStart times a scheduler's catch-up over the whole log, from no
// snapshot, as "up" does when it starts without one.
func coldStart(ctx context.Context, pool *pgxpool.Pool) (time.Duration, error) {
	codec := events.NewCodec()
	rt := commands.NewRuntime(pglog.New(pool, pglog.Options{}), codec, commands.Options{Host: "bench",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s := scheduler.New(rt, codec, nil, scheduler.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t0 := time.Now()
	if _, err := s.CatchUp(ctx); err != nil {
		return 0, fmt.Errorf("scheduler cold start: %w", err)
	}
	return time.Since(t0), nil
}

// baselines times a bare nix-instantiate of the expression and a
// nix-build of its closure with the same slots, each with a nonce of its
// own so that nothing of it is in the store yet.
func baselines(ctx context.Context, o RunOptions, env []string, logf func(string, ...any)) (inst, build time.Duration, err error) {
	run := func(nonce string, name string, args ...string) (time.Duration, error) {
		p := o.Params
		p.Nonce = nonce
		w, err := Generate(p)
		if err != nil {
			return 0, err
		}
		dir := filepath.Join(o.Dir, "baseline-"+nonce)
		if err := w.WriteNix(dir); err != nil {
			return 0, err
		}
		c := exec.CommandContext(ctx, name, append(args, filepath.Join(dir, "release.nix"))...)
		c.Env = env
		c.Stdout = io.Discard
		c.Stderr = io.Discard
		t0 := time.Now()
		err = c.Run()
		var exit *exec.ExitError
		if err != nil && !(name == "nix-build" && errors.As(err, &exit)) { // nix-build exits 1: some builds fail
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		return time.Since(t0), nil
	}
	logf("baseline: nix-instantiate")
	if inst, err = run(o.Nonce+"-instantiate", "nix-instantiate", "--option", "substituters", ""); err != nil {
		return 0, 0, err
	}
	logf("baseline: nix-build -j %d", o.Slots)
	build, err = run(o.Nonce+"-nixbuild", "nix-build", "--no-out-link", "--keep-going", "-j", strconv.Itoa(o.Slots),
		"--timeout", strconv.Itoa(o.TimeoutSeconds), "--option", "substituters", "")
	return inst, build, err
}

// loadWeb requests pages at rate per second, round-robin over a jobset's
// pages and random builds, until ctx ends, and returns the latencies of
// the answers by page (its route, then "json" or "html"), the requests
// made and those that failed (no answer or a 5xx; a 404 for a build not
// queued yet is an answer).
func loadWeb(ctx context.Context, base string, rate, jobs int) (map[string][]time.Duration, int, int) {
	c := &http.Client{Timeout: 30 * time.Second}
	pages := []string{"/", "/project/scale", "/jobset/scale/main", "/jobset/scale/main/evals",
		"/queue-runner-status", "/jobset/scale/main/jobs-tab", "/build/%d", "/build/%d"}
	r := rand.New(rand.NewPCG(1, 2))
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var mu sync.Mutex
	lat := map[string][]time.Duration{}
	var wg sync.WaitGroup
	n, bad := 0, 0
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return lat, n, bad
		case <-tick.C:
		}
		route := pages[i%len(pages)]
		p := route
		if strings.Contains(p, "%d") {
			p = fmt.Sprintf(p, 1+r.IntN(max(1, jobs)))
		}
		n++
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", base+p, nil)
			kind := " html"
			if i%2 == 0 {
				req.Header.Set("Accept", "application/json")
				kind = " json"
			}
			t0 := time.Now()
			res, err := c.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || res.StatusCode >= 500 {
				bad++
				return
			}
			lat[route+kind] = append(lat[route+kind], d)
		}()
	}
}

// samplePostgres sums the proportional set size of the cluster's
// processes every five seconds until ctx ends and returns the largest
// sum. The kernel adds up a PSS by walking the process's page tables:
// sampled every half second, that walk took a sixth of a core from the
// run it measures, while the cluster's memory (its shared buffers and
// a few dozen backends) moves slowly.
func samplePostgres(ctx context.Context, dataDir string) int64 {
	var peak int64
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])); err == nil {
				peak = max(peak, treePSS(pid))
			}
		}
		select {
		case <-ctx.Done():
			return peak
		case <-tick.C:
		}
	}
}

// treePSS is the PSS of pid and its children, in bytes.
func treePSS(pid int) int64 {
	total := procField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
	kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, k := range strings.Fields(string(kids)) {
		if c, err := strconv.Atoi(k); err == nil {
			total += treePSS(c)
		}
	}
	return total
}

// procHWM is a process's peak resident set size, in bytes.
func procHWM(pid int) int64 { return procField(fmt.Sprintf("/proc/%d/status", pid), "VmHWM:") }

// procField reads a "Name:  N kB" line of a /proc file, in bytes.
func procField(file, name string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, name); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// dirBytes is the size of the files under dir.
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func pctl(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitFor polls ok every half second until it is true, fails, or d passes.
func waitFor(ctx context.Context, d time.Duration, ok func() (bool, error)) error {
	end := time.Now().Add(d)
	for {
		done, err := ok()
		if err != nil || done {
			return err
		}
		if time.Now().After(end) {
			return fmt.Errorf("not done within %v", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
