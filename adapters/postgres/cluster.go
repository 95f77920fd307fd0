package postgres

import (
	"buildledger/adapters/unixuser"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ClusterOptions configures a private cluster.
type ClusterOptions struct {
	// DataDir holds the cluster; it is created (initdb) when empty.
	DataDir string
	// Durable keeps fsync on. Test clusters turn it off for speed.
	Durable bool
	// Logf, if set, receives progress lines.
	Logf func(format string, args ...any)
	// SpareDir is where the cluster's files go when it runs as the
	// postgres user and that user cannot reach DataDir (unixuser.Place);
	// empty means unixuser.DefaultSpareDir.
	SpareDir string
}

// Cluster is a running private PostgreSQL cluster. It listens only on a
// unix socket inside its data directory, which is mode 0700: only the
// cluster's owner and root reach it, never another local user or a build,
// and no TCP port is open. Port only names the socket (.s.PGSQL.Port).
type Cluster struct {
	DataDir   string
	SocketDir string
	Port      int
	bin       string
	owner     *syscall.Credential
	borrowed  bool
}

// superuser is the role initdb creates. It has no password: the only
// way in is the socket, which only the cluster's owner and root can reach,
// and they can read the data directory anyway.
const superuser = "postgres"

// socketPort names the socket. The socket directory is the cluster's own,
// so the usual port never clashes with another server.
const socketPort = 5432

// hbaConf is the whole client authentication file: unix-socket connections
// only. It is written at each start, so a cluster made by an older version
// (whose initdb trusted 127.0.0.1) loses its TCP rule too.
const hbaConf = `# Written by buildledger at each start; edits are lost.
# Only the unix socket, in the data directory (mode 0700), lets clients in:
# the cluster's owner and root. No TCP line: listen_addresses is empty.
local all all trust
`

// StartCluster creates the cluster if needed and starts it. When running
// as root, the cluster runs as the "postgres" system user, since initdb
// refuses root.
func StartCluster(ctx context.Context, opts ClusterOptions) (*Cluster, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	bin, err := findPostgresBin()
	if err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("postgres data dir: %w", err)
	}
	c := &Cluster{DataDir: dataDir, SocketDir: dataDir, Port: socketPort, bin: bin}
	if os.Geteuid() == 0 {
		if c.owner, err = unixuser.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root, the cluster needs the postgres system user: %w", err)
		}
	}
	if dataDir, err = unixuser.Place(dataDir, c.owner, opts.SpareDir, "postgres", logf); err != nil {
		return nil, err
	}
	c.DataDir, c.SocketDir = dataDir, dataDir
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dataDir, err)
	}
	if c.owner != nil {
		if err := os.Chown(dataDir, int(c.owner.Uid), int(c.owner.Gid)); err != nil {
			return nil, fmt.Errorf("chown %s: %w", dataDir, err)
		}
	}
	// Two processes starting the same cluster take turns.
	unlock, err := lockFile(dataDir + ".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		logf("initialising PostgreSQL cluster in %s", dataDir)
		args := []string{"-D", dataDir, "-U", superuser, "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--locale=C"}
		if !opts.Durable {
			args = append(args, "--no-sync")
		}
		if err := c.run(ctx, "initdb", args...); err != nil {
			return nil, err
		}
	}
	// A cluster already running in this directory (another buildledger
	// process started it) is shared, not restarted: this process does not
	// own it and Stop leaves it running.
	if port, ok := c.runningPort(ctx); ok {
		c.Port, c.borrowed = port, true
		logf("using the PostgreSQL cluster already running in %s (socket port %d)", dataDir, port)
		return c, nil
	}
	if err := c.lockDown(); err != nil {
		return nil, err
	}
	settings := []string{
		// No TCP: a port on 127.0.0.1 is open to every local account and
		// to fixed-output builds, which share the host's network.
		"-c", "listen_addresses=''",
		"-c", "port=" + strconv.Itoa(c.Port),
		"-c", "unix_socket_directories=" + c.SocketDir,
		"-c", "max_connections=200",
		// Settings for one embedded server on a small box (a few cores, a
		// few GB of memory), sized for a replay's bulk writes.
		// Half the default cache. A backend maps each page of the cache
		// the first time it touches it, and on a virtual machine such a
		// fault cost 24 µs per 4kB page (a COPY of 50,000 log rows into a
		// new backend: 8,500 faults, 255 ms; again: none, 49 ms). A
		// replay's reader, writer and index builders each touch the whole
		// cache, so a larger one costs more than the evictions it saves:
		// the 1,000,000-event Hydra replay ran at 104,000 events/s with
		// 64MB, 102,000 with 128MB, 87,000-100,000 with 256MB, and the
		// 100,000-job evaluation ingest took 8.7 s against 10.8 s. With
		// huge pages reserved (vm.nr_hugepages), which huge_pages=try
		// uses, the faults all but vanish at any size.
		"-c", "shared_buffers=64MB",
		// A checkpoint every 4GB of WAL rather than 1GB: each one flushes
		// the whole cache and, on a durable cluster, makes the next change
		// of every page log the full page again. A 1,000,000-event Hydra
		// benchmark (seeding the log, replay, plain COPY) wrote 1.7-1.9GB
		// of WAL: 4 checkpoints under the default, 1 with this. Disk use
		// for WAL stays below this.
		"-c", "max_wal_size=4GB",
		// No replica or WAL archive reads this embedded cluster's WAL, so
		// it logs only what crash recovery needs: an index built by CREATE
		// INDEX (a replay's deferred indexes), or a table filled in the
		// transaction that created it, is written to disk at commit
		// instead of into the WAL (the benchmark above: 10% less WAL).
		"-c", "wal_level=minimal", "-c", "max_wal_senders=0",
	}
	if !opts.Durable {
		settings = append(settings, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	logFile := filepath.Join(dataDir, "postgres.log")
	err = c.runEnv(ctx, []string{mallocMmapThreshold, mallocTrimThreshold},
		"pg_ctl", "-D", dataDir, "-l", logFile, "-w", "-t", "60", "-o", strings.Join(settings, " "), "start")
	if err != nil {
		return nil, fmt.Errorf("%w (server log: %s)", err, logFile)
	}
	logf("PostgreSQL listening on the unix socket in %s", c.SocketDir)
	return c, nil
}

// lockDown makes the data directory, which holds the socket, 0700 (the
// server also accepts 0750, which would let the owner's group in) and
// writes hbaConf.
func (c *Cluster) lockDown() error {
	if err := os.Chmod(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("lock down %s: %w", c.DataDir, err)
	}
	hba := filepath.Join(c.DataDir, "pg_hba.conf")
	if err := os.WriteFile(hba, []byte(hbaConf), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", hba, err)
	}
	if c.owner != nil {
		if err := os.Chown(hba, int(c.owner.Uid), int(c.owner.Gid)); err != nil {
			return fmt.Errorf("chown %s: %w", hba, err)
		}
	}
	return nil
}

// AdminURL returns the URL of database db as the superuser, over the
// socket. Only Bootstrap and test harnesses use it; the application
// connects as AppRole (AppURL).
func (c *Cluster) AdminURL(db string) string {
	q := url.Values{"host": {c.SocketDir}, "port": {strconv.Itoa(c.Port)}, "sslmode": {"disable"}}
	return (&url.URL{Scheme: "postgres", User: url.User(superuser), Path: "/" + db, RawQuery: q.Encode()}).String()
}

// Stop shuts the cluster down (fast mode: open sessions are ended), unless
// this process found it already running.
func (c *Cluster) Stop(ctx context.Context) error {
	if c.borrowed {
		return nil
	}
	return c.run(ctx, "pg_ctl", "-D", c.DataDir, "-m", "fast", "-w", "stop")
}

// Restart restarts the server in fast mode, as an operator's
// "pg_ctl restart -m fast" does: every open session is ended and clients
// cannot connect until it is back. The fault tests use it on a cluster
// that another process may have started.
func (c *Cluster) Restart(ctx context.Context) error {
	return c.runEnv(ctx, []string{mallocMmapThreshold, mallocTrimThreshold},
		"pg_ctl", "-D", c.DataDir, "-l", filepath.Join(c.DataDir, "postgres.log"), "-m", "fast", "-w", "-t", "60", "restart")
}

// runningPort reports the port of a server running in the data directory.
// postmaster.pid holds it on its fourth line.
func (c *Cluster) runningPort(ctx context.Context) (int, bool) {
	b, err := os.ReadFile(filepath.Join(c.DataDir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	if c.run(ctx, "pg_ctl", "-D", c.DataDir, "status") != nil {
		return 0, false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, false
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	return port, err == nil
}

// The server's processes inherit pg_ctl's environment, and these settings
// of glibc's malloc keep a backend from giving memory back to the kernel
// only to fault it in again. By default glibc serves a block larger than
// a threshold that adapts from 128kB up with a mapping of its own,
// unmapped when freed, and gives back the top of the heap once more than
// 128kB of it is free; so a backend that sorts for an index build, checks
// a foreign key or buffers a COPY maps fresh pages for each statement, and
// on a virtual machine each page fault costs 10-24 µs. Here blocks below
// 32MB come from the heap, and a backend keeps up to 64MB of it free. In a
// 1,000,000-event Hydra replay the backends' page faults fell from
// 77,000-91,000 to about 29,000, their CPU time from 8.4 s to 6.6 s, and
// the replay from 124,000-136,000 to 144,000-149,000 events/s (keeping
// 256MB free did no better).
const (
	mallocMmapThreshold = "MALLOC_MMAP_THRESHOLD_=33554432"
	mallocTrimThreshold = "MALLOC_TRIM_THRESHOLD_=67108864"
)

func (c *Cluster) run(ctx context.Context, tool string, args ...string) error {
	return c.runEnv(ctx, nil, tool, args...)
}

// runEnv runs tool with env added to this process's environment.
func (c *Cluster) runEnv(ctx context.Context, env []string, tool string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, tool), args...)
	cmd.Dir = c.DataDir
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if c.owner != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.owner}
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", tool, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// findPostgresBin finds the directory holding initdb and pg_ctl: the PATH
// first, then Debian's versioned directories.
func findPostgresBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	return "", errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin: install PostgreSQL 15 (Debian: apt-get install postgresql-15) or pass --database-url")
}

// lockFile takes an exclusive lock on path, creating it, and returns the
// function that releases it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// WaitReady waits until the database at url accepts connections.
func WaitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		pool, err := Open(ctx, url)
		if err == nil {
			pool.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("database not ready: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
