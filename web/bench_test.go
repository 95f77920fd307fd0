package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/logstore"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/queries"
	"buildledger/commands"
	"buildledger/events"
	"buildledger/web"
)

// Benchmark shape: builds spread over benchJobsets jobsets of two
// projects, benchPerEval builds per evaluation.
const (
	benchJobsets = 20
	benchPerEval = 500
	benchRate    = 200 // requests per second
)

// recorder is a pgx tracer that keeps the SQL of the queries run while
// it is on, to EXPLAIN them.
type recorder struct {
	mu  sync.Mutex
	on  bool
	sql []tracedQuery
}

type tracedQuery struct {
	sql  string
	args []any
}

type traceKey struct{}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.on {
		r.sql = append(r.sql, tracedQuery{d.SQL, d.Args})
	}
	return ctx
}

func (r *recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *recorder) record(f func()) []tracedQuery {
	r.mu.Lock()
	r.on, r.sql = true, nil
	r.mu.Unlock()
	f()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	return r.sql
}

// BenchmarkRoutes loads read models holding BUILDLEDGER_BENCH_BUILDS
// builds (default 20,000) with COPY and drives /build/<id>,
// /jobset/<p>/<j> and /api/latestbuilds (JSON) at 200 requests/s for
// BUILDLEDGER_BENCH_SECONDS (default 3) each, reporting p50/p99 latency
// and throughput. It logs the query plans of each route and fails if one
// scans Builds sequentially.
func BenchmarkRoutes(b *testing.B) {
	n := envInt(b, "BUILDLEDGER_BENCH_BUILDS", 20000)
	secs := envInt(b, "BUILDLEDGER_BENCH_SECONDS", 3)
	ctx := context.Background()
	pool, rec := benchPool(b)
	start := time.Now()
	if err := loadBuilds(ctx, pool, n); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d builds in %s", n, time.Since(start).Round(time.Millisecond))

	srv := benchServer(b, pool)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}

	routes := []struct {
		name string
		path func(r *rand.Rand) string
	}{
		{"build", func(r *rand.Rand) string { return "/build/" + strconv.Itoa(1+r.IntN(n)) }},
		{"jobset", func(r *rand.Rand) string {
			j := r.IntN(benchJobsets)
			return fmt.Sprintf("/jobset/proj%d/js%d", j%2, j)
		}},
		{"latestbuilds", func(r *rand.Rand) string { return "/api/latestbuilds?nr=10" }},
		{"latestbuilds-jobset", func(r *rand.Rand) string {
			j := r.IntN(benchJobsets)
			return fmt.Sprintf("/api/latestbuilds?nr=10&project=proj%d&jobset=js%d", j%2, j)
		}},
	}
	for _, rt := range routes {
		b.Run(rt.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			// The plans of the route's queries.
			qs := rec.record(func() {
				if _, err := fetch(client, srv.URL+rt.path(rng)); err != nil {
					b.Fatal(err)
				}
			})
			for _, q := range qs {
				plan, err := explain(ctx, pool, q)
				if err != nil {
					b.Fatal(err)
				}
				if testing.Verbose() {
					b.Logf("%s\n%s\n%s", rt.name, oneLine(q.sql), plan)
				}
				if seqScanBuilds.MatchString(plan) {
					b.Errorf("%s scans builds sequentially:\n%s\n%s", rt.name, q.sql, plan)
				}
			}
			// Warm up connections and caches, then measure.
			load(client, srv.URL, rt.path, rng, time.Second)
			for b.Loop() {
				lat, elapsed, errs := load(client, srv.URL, rt.path, rng, time.Duration(secs)*time.Second)
				if errs > 0 {
					b.Errorf("%d requests failed", errs)
				}
				slices.Sort(lat)
				b.ReportMetric(ms(quantile(lat, 0.50)), "p50-ms")
				b.ReportMetric(ms(quantile(lat, 0.99)), "p99-ms")
				b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
				if p99 := quantile(lat, 0.99); p99 > 50*time.Millisecond {
					b.Logf("%s: p99 %s is above the 50 ms target", rt.name, p99)
				}
			}
		})
	}
}

// benchServer serves the web over pool, with real command handlers.
func benchServer(b *testing.B, pool *pgxpool.Pool) *httptest.Server {
	store := pglog.New(pool, pglog.Options{})
	rt := commands.NewRuntime(store, events.NewCodec(), commands.Options{})
	h := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), postgres.NewVault(pool))
	logs, err := logstore.New(b.TempDir(), logstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	handler, err := web.New(web.Config{Queries: queries.New(pool), Commands: h, Builds: h, Events: store,
		Accounts: commands.NewAccounts(rt, postgres.NewVault(pool)), SessionKey: bytes.Repeat([]byte("k"), 32), Logs: logs})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	b.Cleanup(srv.Close)
	return srv
}

// seqScanBuilds finds a sequential scan of the Builds table in a plan.
var seqScanBuilds = regexp.MustCompile(`Seq Scan on builds( |$)`)

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func fetch(c *http.Client, url string) (int, error) {
	return fetchAs(c, url, "application/json")
}

// fetchAs gets url with the Accept header accept and reads the body.
func fetchAs(c *http.Client, url, accept string) (int, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", accept)
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return 0, err
	}
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return res.StatusCode, nil
}

// load sends requests at benchRate per second (open loop: a slow answer
// does not delay the next request) for d and returns the latencies.
func load(c *http.Client, base string, path func(*rand.Rand) string, rng *rand.Rand, d time.Duration) ([]time.Duration, time.Duration, int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	lat := []time.Duration{}
	errs := 0
	tick := time.NewTicker(time.Second / benchRate)
	defer tick.Stop()
	start := time.Now()
	for time.Since(start) < d {
		<-tick.C
		url := base + path(rng)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			_, err := fetch(c, url)
			el := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs++
				return
			}
			lat = append(lat, el)
		}()
	}
	wg.Wait()
	return lat, time.Since(start), errs
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func explain(ctx context.Context, pool *pgxpool.Pool, q tracedQuery) (string, error) {
	rows, err := pool.Query(ctx, "explain "+q.sql, q.args...)
	if err != nil {
		return "", fmt.Errorf("explain %s: %w", oneLine(q.sql), err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return "", err
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n"), rows.Err()
}

// loadBuilds fills the Hydra tables with COPY: one user, two projects,
// benchJobsets jobsets, an evaluation per benchPerEval builds, n finished
// builds (one in ten failed, the newest evaluation's builds current), one
// output and one eval membership per build.
func loadBuilds(ctx context.Context, pool *pgxpool.Pool, n int) error {
	if _, err := pool.Exec(ctx, `insert into users (username, emailaddress, password) values ('bench', 'bench@example.org', '')`); err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	for p := range 2 {
		if _, err := pool.Exec(ctx, `insert into projects (name, displayname, owner) values ($1, $1, 'bench')`, "proj"+strconv.Itoa(p)); err != nil {
			return fmt.Errorf("insert project: %w", err)
		}
	}
	var jobsets [][]any
	for j := range benchJobsets {
		jobsets = append(jobsets, []any{int32(j + 1), "js" + strconv.Itoa(j), "proj" + strconv.Itoa(j%2), "src", "release.nix", ""})
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"jobsets"}, []string{"id", "name", "project", "nixexprinput", "nixexprpath", "emailoverride"},
		pgx.CopyFromRows(jobsets)); err != nil {
		return fmt.Errorf("copy jobsets: %w", err)
	}
	nEvals := (n + benchPerEval - 1) / benchPerEval
	base := int32(1600000000)
	var evals [][]any
	for e := range nEvals {
		evals = append(evals, []any{int32(e + 1), int32(e%benchJobsets + 1), base + int32(e)*60, int32(1), int32(2), int32(1), "h" + strconv.Itoa(e)})
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"jobsetevals"}, []string{"id", "jobset_id", "timestamp", "checkouttime", "evaltime", "hasnewbuilds", "hash"},
		pgx.CopyFromRows(evals)); err != nil {
		return fmt.Errorf("copy evals: %w", err)
	}
	lastEval := map[int32]int32{}
	for e := range nEvals {
		lastEval[int32(e%benchJobsets+1)] = int32(e + 1)
	}
	hash := func(i int) string { return fmt.Sprintf("%032d", i) }
	i := 0
	builds := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		i++
		eval := int32((i-1)/benchPerEval + 1)
		jobset := (eval-1)%benchJobsets + 1
		status, current := int32(0), int32(0)
		if i%10 == 0 {
			status = 1
		}
		if lastEval[jobset] == eval {
			current = 1
		}
		job := "job" + strconv.Itoa((i-1)%benchPerEval)
		t := base + int32(i)
		return []any{int32(i), int32(1), t, jobset, job, job + "-1.0", "/nix/store/" + hash(i) + "-" + job + ".drv", "x86_64-linux",
			current, t + 1, t + 30, status, int32(0)}, nil
	})
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"builds"}, []string{"id", "finished", "timestamp", "jobset_id", "job", "nixname", "drvpath",
		"system", "iscurrent", "starttime", "stoptime", "buildstatus", "iscachedbuild"}, builds); err != nil {
		return fmt.Errorf("copy builds: %w", err)
	}
	i = 0
	outputs := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		i++
		return []any{int32(i), "out", "/nix/store/" + hash(i+n) + "-out"}, nil
	})
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"buildoutputs"}, []string{"build", "name", "path"}, outputs); err != nil {
		return fmt.Errorf("copy outputs: %w", err)
	}
	i = 0
	members := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		i++
		return []any{int32((i-1)/benchPerEval + 1), int32(i), int32(1)}, nil
	})
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"jobsetevalmembers"}, []string{"eval", "build", "isnew"}, members); err != nil {
		return fmt.Errorf("copy members: %w", err)
	}
	for _, t := range []string{"jobsets", "jobsetevals", "builds"} {
		if _, err := pool.Exec(ctx, "select setval(pg_get_serial_sequence($1, 'id'), (select max(id) from "+t+"))", t); err != nil {
			return fmt.Errorf("sequence of %s: %w", t, err)
		}
	}
	if _, err := pool.Exec(ctx, "analyze"); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return nil
}
