// Package pgtest gives tests a throw-away PostgreSQL: one private cluster
// per test binary, started on first use and stopped when the tests end,
// and a fresh migrated database for every caller. It never touches the
// developer's own databases.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// Set BUILDLEDGER_TEST_DATABASE_URL to a superuser URL of a running
// server to use it instead of starting a cluster (make test does this to
// share one cluster between packages).
package pgtest

import (
	"context"
	"fmt"
	neturl "net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/adapters/postgres"
)

// EnvURL names the variable that points tests at an existing server.
const EnvURL = "BUILDLEDGER_TEST_DATABASE_URL"

// The cluster is per test binary: tests cannot pass it around, so it
// lives here, behind Main.
var (
	mu       sync.Mutex
	cluster  *postgres.Cluster
	adminURL string
	tmpDir   string
	template string
	counter  atomic.Int64
)

// Main runs the tests and then stops the cluster if one was started, or
// on a server of EnvURL drops the template database it made, so that runs
// against one long-lived server do not pile templates up. It returns the
// exit code for os.Exit.
func Main(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if cluster == nil && template != "" {
		if err := dropDatabase(context.Background(), adminURL, template); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: drop template:", err)
		}
	}
	if cluster != nil {
		if err := cluster.Stop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stop cluster:", err)
		}
		os.RemoveAll(tmpDir)
	}
	return code
}

// URL returns the URL of a fresh, migrated database, as the
// application's role (postgres.AppRole).
func URL(t testing.TB) string {
	t.Helper()
	base, tmpl := server(t)
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), counter.Add(1))
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, fmt.Sprintf("create database %s template %s", name, tmpl)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() { _ = dropDatabase(context.Background(), base, name) })
	u, err := bootstrap(ctx, withDB(base, name))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// bootstrap prepares the database at admin as the private cluster's is
// prepared, and returns its URL as the application's role, which the
// tests then run as.
func bootstrap(ctx context.Context, admin string) (string, error) {
	if err := postgres.Bootstrap(ctx, admin); err != nil {
		return "", err
	}
	return postgres.AppURL(admin)
}

// AdminURL returns url (of a database URL returned) as the server's
// superuser, for tests that play an attacker who is one.
func AdminURL(t testing.TB, url string) string {
	t.Helper()
	mu.Lock()
	admin := adminURL
	mu.Unlock()
	a, err := neturl.Parse(admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.User = a.User
	return u.String()
}

// dropDatabase drops database name of the server at base, closing its
// connections.
func dropDatabase(ctx context.Context, base, name string) error {
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "drop database if exists "+name+" with (force)")
	return err
}

// NewPool returns a pool on a fresh, migrated database, closed when the
// test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), URL(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// server starts the cluster (or uses EnvURL) and prepares the template
// database once.
func server(t testing.TB) (base, tmpl string) {
	mu.Lock()
	defer mu.Unlock()
	if template != "" {
		return adminURL, template
	}
	ctx := context.Background()
	if u := os.Getenv(EnvURL); u != "" {
		adminURL = u
	} else {
		dir, err := os.MkdirTemp("", "buildledger-pgtest-")
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		c, err := postgres.StartCluster(ctx, postgres.ClusterOptions{DataDir: dir + "/data"})
		if err != nil {
			os.RemoveAll(dir)
			t.Fatalf("pgtest: %v", err)
		}
		cluster, tmpDir, adminURL = c, dir, c.AdminURL("postgres")
	}
	if err := postgres.WaitReady(ctx, adminURL, 30*time.Second); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := fmt.Sprintf("tmpl_%d_%d", os.Getpid(), time.Now().UnixNano())
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "create database "+name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	app, err := bootstrap(ctx, withDB(adminURL, name))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	pool, err := postgres.Open(ctx, app)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	err = postgres.Migrate(ctx, pool)
	pool.Close()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	template = name
	return adminURL, template
}

func withDB(base, db string) string {
	u, err := neturl.Parse(base)
	if err != nil {
		return base
	}
	u.Path = "/" + db
	return u.String()
}

// OwnCluster starts a cluster for the calling test alone, stopped when
// the test ends, and returns it with the URL of a migrated database on it
// as the application's role. Fault tests restart or stop it, which the
// server shared by every other test (EnvURL under make test) must never
// see.
func OwnCluster(t testing.TB) (*postgres.Cluster, string) {
	t.Helper()
	ctx := context.Background()
	// Not t.TempDir, whose parent only this user may enter: the server
	// may run as another.
	dir, err := os.MkdirTemp("", "buildledger-own-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	c, err := postgres.StartCluster(ctx, postgres.ClusterOptions{DataDir: dir + "/data"})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("pgtest: stop cluster: %v", err)
		}
	})
	if err := postgres.WaitReady(ctx, c.AdminURL("postgres"), 30*time.Second); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	url, err := bootstrap(ctx, c.AdminURL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return c, url
}
