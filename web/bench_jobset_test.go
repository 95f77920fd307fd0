package web_test

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/adapters/postgres/pgtest"
)

// BenchmarkJobsetPages times the pages of one large jobset that
// benchscale found growing with the jobset's size: the jobs tab, the
// evaluations list and the project page, each as HTML and as JSON. The
// jobset has BUILDLEDGER_BENCH_JOBS jobs (default 2,000) in
// BUILDLEDGER_BENCH_EVALS evaluations (default 2), loaded with COPY;
// each evaluation after the first rebuilds half the jobs, and a third of
// the newest evaluation's new builds are still queued, as during a run.
// With -v it logs the plans of each page's queries.
func BenchmarkJobsetPages(b *testing.B) {
	n := envInt(b, "BUILDLEDGER_BENCH_JOBS", 2000)
	nEvals := envInt(b, "BUILDLEDGER_BENCH_EVALS", 2)
	ctx := context.Background()
	pool, rec := benchPool(b)
	start := time.Now()
	builds, err := loadJobset(ctx, pool, n, nEvals)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d jobs, %d builds in %d evaluations in %s", n, builds, nEvals, time.Since(start).Round(time.Millisecond))
	srv := benchServer(b, pool)
	client := &http.Client{Timeout: time.Minute}

	for _, page := range []string{"/jobset/scale/main/jobs-tab", "/jobset/scale/main/evals", "/project/scale"} {
		for _, accept := range []string{"text/html", "application/json"} {
			b.Run(path.Base(page)+"/"+path.Base(accept), func(b *testing.B) {
				url := srv.URL + page
				qs := rec.record(func() {
					if _, err := fetchAs(client, url, accept); err != nil {
						b.Fatal(err)
					}
				})
				if testing.Verbose() {
					for _, q := range qs {
						plan, err := explain(ctx, pool, q)
						if err != nil {
							b.Fatal(err)
						}
						b.Logf("%s\n%s\n%s", page, oneLine(q.sql), plan)
					}
				}
				for b.Loop() {
					if _, err := fetchAs(client, url, accept); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// benchPool opens a pool on a fresh database, with a recorder of its
// queries.
func benchPool(b *testing.B) (*pgxpool.Pool, *recorder) {
	rec := &recorder{}
	cfg, err := pgxpool.ParseConfig(pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.Tracer = rec
	cfg.MaxConns = 32
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool, rec
}

// loadJobset fills project scale, jobset main with n jobs in nEvals
// evaluations with COPY and returns how many builds it made. Every
// evaluation has every job; the first builds them all, each later one
// rebuilds half of them (and keeps the other half's builds), and a third
// of the newest evaluation's new builds are queued. One finished build
// in ten failed.
func loadJobset(ctx context.Context, pool *pgxpool.Pool, n, nEvals int) (int, error) {
	for _, q := range []string{
		`insert into users (username, emailaddress, password) values ('bench', 'bench@example.org', '')`,
		`insert into projects (name, displayname, owner) values ('scale', 'scale', 'bench')`,
		`insert into jobsets (id, name, project, nixexprinput, nixexprpath, emailoverride) values (1, 'main', 'scale', 'src', 'release.nix', '')`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return 0, fmt.Errorf("%s: %w", q, err)
		}
	}
	base := int32(1600000000)
	var evals [][]any
	for e := range nEvals {
		evals = append(evals, []any{int32(e + 1), int32(1), base + int32(e)*3600, int32(1), int32(2), int32(1), "h" + strconv.Itoa(e)})
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"jobsetevals"}, []string{"id", "jobset_id", "timestamp", "checkouttime", "evaltime", "hasnewbuilds", "hash"},
		pgx.CopyFromRows(evals)); err != nil {
		return 0, fmt.Errorf("copy evals: %w", err)
	}
	latest := make([]int32, n)
	var builds, members [][]any
	for e := range nEvals {
		last := e == nEvals-1
		for i := range n {
			if e == 0 || (i+e)%2 == 0 {
				id := int32(len(builds) + 1)
				t := base + int32(e)*3600 + int32(i%3600)
				finished, status, started, stopped := int32(1), any(int32(0)), any(t+1), any(t+30)
				switch {
				case last && i%3 == 0:
					finished, status, started, stopped = 0, nil, nil, nil
				case i%10 == 0:
					status = int32(1)
				}
				job := "job" + strconv.Itoa(i)
				builds = append(builds, []any{id, finished, t, int32(1), job, job + "-1.0",
					fmt.Sprintf("/nix/store/%032d-%s.drv", id, job), "x86_64-linux", int32(0), status, int32(0), started, stopped})
				latest[i] = id
				members = append(members, []any{int32(e + 1), id, int32(1)})
				continue
			}
			members = append(members, []any{int32(e + 1), latest[i], int32(0)})
		}
	}
	for _, id := range latest {
		builds[id-1][8] = int32(1) // iscurrent
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"builds"}, []string{"id", "finished", "timestamp", "jobset_id", "job", "nixname", "drvpath",
		"system", "iscurrent", "buildstatus", "iscachedbuild", "starttime", "stoptime"}, pgx.CopyFromRows(builds)); err != nil {
		return 0, fmt.Errorf("copy builds: %w", err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"jobsetevalmembers"}, []string{"eval", "build", "isnew"}, pgx.CopyFromRows(members)); err != nil {
		return 0, fmt.Errorf("copy members: %w", err)
	}
	for _, t := range []string{"jobsets", "jobsetevals", "builds"} {
		if _, err := pool.Exec(ctx, "select setval(pg_get_serial_sequence($1, 'id'), (select max(id) from "+t+"))", t); err != nil {
			return 0, fmt.Errorf("sequence of %s: %w", t, err)
		}
	}
	if _, err := pool.Exec(ctx, "analyze"); err != nil {
		return 0, fmt.Errorf("analyze: %w", err)
	}
	return len(builds), nil
}
