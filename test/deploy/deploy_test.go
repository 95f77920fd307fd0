package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/adapters/ssh/sshdtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// requireTools skips the test when a tool it needs is missing, or fails
// it when CI is "true".
func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required and CI=true: %v", tool, err)
			}
			t.Skipf("SKIPPED: %s is not installed (%v)", tool, err)
		}
	}
	if _, err := os.Stat(sshdtest.DefaultSshd); err != nil {
		t.Skipf("SKIPPED: no %s", sshdtest.DefaultSshd)
	}
}

// lockedBuffer is what a process writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		b.buf.Reset()
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is one process of the deployment, which the chaos test may kill
// and start again with the same command line.
type proc struct {
	name string
	argv []string
	env  []string
	out  lockedBuffer

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

func (p *proc) start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	require.NoError(t, cmd.Start(), p.name)
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	p.cmd, p.exited = cmd, exited
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.cmd = nil
}

// stop sends SIGTERM, then SIGKILL after 30 s.
func (p *proc) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// alive reports whether the process runs.
func (p *proc) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// deployment is the split deployment of docs/deploying.md on one
// machine.
type deployment struct {
	t       testing.TB
	ctx     context.Context
	bin     string
	url     string
	cluster *postgres.Cluster
	pool    *pgxpool.Pool
	schema  string
	// home is the projector's, evaluators' and queue runner's: logs and
	// the binary cache are there, as on shared storage.
	home    string
	work    string // the input root the jobsets come from
	env     []string
	system  string
	procs   map[string]*proc
	servers []string // base URLs
	status  string   // the queue runner's status address
	sshds   []*sshdtest.Server
	client  *http.Client
	// faults are the kinds of fault left in the chaos test's round.
	faults []string
}

// Process names the chaos test picks from.
const (
	projector   = "projector"
	evaluator1  = "evaluator-1"
	evaluator2  = "evaluator-2"
	queueRunner = "queue-runner"
	server1     = "server-1"
	server2     = "server-2"
)

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func buildBinary(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "buildledger")
	build := exec.Command(goBin, "build", "-o", bin, "./cmd/buildledger")
	build.Dir = filepath.Join("..", "..")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// openDir is a new directory every local user may enter: Postgres and the
// evaluation user read below it.
func openDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "buildledger-deploy-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

// startDeployment starts every process and registers the three builders.
func startDeployment(t testing.TB) *deployment {
	t.Helper()
	requireTools(t, "nix-store", "nix-instantiate", "unshare")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cluster, url := pgtest.OwnCluster(t)
	d := &deployment{t: t, ctx: ctx, bin: buildBinary(t), url: url, cluster: cluster, procs: map[string]*proc{},
		client: &http.Client{Timeout: 30 * time.Second}}
	root := openDir(t)
	d.home, d.work = filepath.Join(root, "home"), filepath.Join(root, "work")
	for _, dir := range []string{d.home, d.work} {
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	d.env = append(os.Environ(), "BUILDLEDGER_EVENTSTORE=", "BUILDLEDGER_DATABASE_URL=", "BUILDLEDGER_HOME=",
		"NIX_CONF_DIR="+t.TempDir())
	d.system = hostSystem()
	d.cli("migrate")

	// The servers are separate hosts: homes of their own, the logs and
	// the cache on shared storage, and one session key.
	keyFile := filepath.Join(root, "session.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(strings.Repeat("deploy-session-key-", 4)), 0o600))
	provKey := filepath.Join(root, "provenance-key.pem")
	d.status = freeAddr(t)
	db := []string{"--database-url", url}
	d.add(projector, nil, append([]string{"projector", "--home", d.home}, db...)...)
	for i, name := range []string{evaluator1, evaluator2} {
		// Each evaluator on a host of its own (a UTS namespace): an
		// evaluator closes at start the evaluations its host left open.
		host := fmt.Sprintf("deploy-evaluator-%d", i+1)
		d.add(name, []string{"unshare", "--uts", "sh", "-c", `hostname "$0" && exec "$@"`, host},
			append([]string{"evaluator", "--home", d.home, "--poll", "1s", "--input-root", d.work,
				"--eval-allowed-path", nixtest.BusyboxDir()}, db...)...)
	}
	d.add(queueRunner, nil, append([]string{"queue-runner", "--home", d.home, "--bus", "postgres", "--status-listen", d.status,
		"--retry-interval", "1", "--retry-backoff", "1"}, db...)...)
	for _, name := range []string{server1, server2} {
		home := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(home, 0o755))
		for _, shared := range []string{"logs", "cache"} {
			require.NoError(t, os.MkdirAll(filepath.Join(d.home, shared), 0o755))
			require.NoError(t, os.Symlink(filepath.Join(d.home, shared), filepath.Join(home, shared)))
		}
		addr := freeAddr(t)
		d.servers = append(d.servers, "http://"+addr)
		d.add(name, nil, append([]string{"server", "--home", home, "--listen", addr, "--session-key-file", keyFile,
			"--provenance-key-file", provKey, "--queue-runner-endpoint", "http://" + d.status}, db...)...)
	}

	pool, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	d.pool = pool
	require.NoError(t, pool.QueryRow(ctx, `select current_schema()`).Scan(&d.schema))

	env := map[string]string{"PATH": filepath.Dir(mustLookPath(t, "nix-store")) + ":/usr/bin:/bin"}
	for i := range 3 {
		srv := sshdtest.Start(t, sshdtest.Options{Env: env})
		d.sshds = append(d.sshds, srv)
		d.cli("machine", "add", srv.URI(), "--systems", d.system, "--ssh-key", srv.ClientKeyPath, "--host-key", srv.HostPublicKey,
			"--store", nixtest.NewChrootStore(t), "--max-jobs", "2")
		_ = i
	}
	d.cli("user", "create", "admin", "--password-file", d.passwordFile(), "--role", "admin")
	for _, name := range []string{projector, evaluator1, evaluator2, queueRunner, server1, server2} {
		d.procs[name].start(t)
	}
	t.Cleanup(func() {
		for _, p := range d.procs {
			p.stop()
		}
		if t.Failed() {
			for name, p := range d.procs {
				t.Logf("%s (tail):\n%s", name, tail(p.out.String(), 3000))
			}
		}
	})
	for _, base := range d.servers {
		d.waitHealthy(base)
	}
	d.requireAlive()
	return d
}

// requireAlive fails the test with a process's output if it exited on
// its own.
func (d *deployment) requireAlive() {
	d.t.Helper()
	for name, p := range d.procs {
		require.True(d.t, p.alive(), "%s exited:\n%s", name, tail(p.out.String(), 4000))
	}
}

// add declares a process: prefix (a wrapper such as unshare) then the
// binary with args.
func (d *deployment) add(name string, prefix []string, args ...string) {
	argv := append(append(append([]string{}, prefix...), d.bin), args...)
	d.procs[name] = &proc{name: name, argv: argv, env: d.env}
}

func (d *deployment) passwordFile() string {
	p := filepath.Join(d.t.TempDir(), "password")
	require.NoError(d.t, os.WriteFile(p, []byte("deploy-password\n"), 0o600))
	return p
}

// cli runs one buildledger command against the deployment's database.
func (d *deployment) cli(args ...string) string {
	d.t.Helper()
	cmd := exec.Command(d.bin, append(args, "--database-url", d.url)...)
	cmd.Env = d.env
	out, err := cmd.CombinedOutput()
	require.NoError(d.t, err, "buildledger %v: %s", args, out)
	return string(out)
}

func (d *deployment) waitHealthy(base string) {
	d.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		res, err := d.client.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		require.True(d.t, time.Now().Before(deadline), "%s/healthz not 200 in time: %v", base, err)
		time.Sleep(100 * time.Millisecond)
	}
}

// writeJobset writes a trial's jobset: 200 jobs over a shared DAG (one
// root, 20 middle derivations each job takes two of), busybox from the
// store as builder, salt making every derivation new. Every 40th job
// fails (exit 1), so the fault-free outcome has both statuses.
func (d *deployment) writeJobset(name string) string {
	d.t.Helper()
	dir := filepath.Join(d.work, name)
	require.NoError(d.t, os.MkdirAll(dir, 0o755))
	bb, err := os.ReadFile(filepath.Join("..", "fixtures", "hello", "busybox.nix"))
	require.NoError(d.t, err)
	require.NoError(d.t, os.WriteFile(filepath.Join(dir, "busybox.nix"), bb, 0o644))
	release := fmt.Sprintf(`{ system ? builtins.currentSystem }:
let
  busybox = import ./busybox.nix;
  salt = "%s";
  mk = name: deps: script: derivation {
    name = "chaos-${salt}-${name}";
    inherit system deps;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" script ];
  };
  mod = a: b: a - (a / b) * b;
  root = mk "root" [] "mkdir -p $out; echo root > $out/v";
  mids = builtins.genList (i: mk "mid-${toString i}" [ root ] "mkdir -p $out; cat ${root}/v > $out/v; echo ${toString i} >> $out/v") 20;
  job = i: mk "job-${toString i}" [ (builtins.elemAt mids (mod i 20)) (builtins.elemAt mids (mod (i * 7) 20)) ]
    (if mod i 40 == 0 then "echo failing on purpose; exit 1" else "echo building ${toString i}; mkdir -p $out; echo ${toString i} > $out/v");
in builtins.listToAttrs (map (i: { name = "job${toString i}"; value = job i; }) (builtins.genList (i: i + 1) %d))
`, fmt.Sprintf("%s-%d", name, time.Now().UnixNano()), trialBuilds)
	require.NoError(d.t, os.WriteFile(filepath.Join(dir, "release.nix"), []byte(release), 0o644))
	return dir
}

// trialBuilds is the number of jobs of a trial's jobset.
const trialBuilds = 200

// expectedStatus is the status a fault-free run gives job i.
func expectedStatus(job string) int {
	var i int
	_, _ = fmt.Sscanf(job, "job%d", &i)
	if i%40 == 0 {
		return 1
	}
	return 0
}

// submit creates a jobset of a new trial and requests its evaluation.
func (d *deployment) submit(project, name string) {
	d.t.Helper()
	dir := d.writeJobset(name)
	d.cli("jobset", "create", project, name, "--type", "legacy", "--input", "src=path:"+dir,
		"--nixexprinput", "src", "--nixexprpath", "release.nix", "--check-interval", "0", "--evaluate")
}

// builds returns job → "finished:status" of the jobset's builds.
func (d *deployment) builds(project, name string) map[string]string {
	d.t.Helper()
	rows, err := d.pool.Query(d.ctx, `select b.job, b.finished || ':' || coalesce(b.buildstatus::text, '-')
		from builds b join jobsets j on j.id = b.jobset_id where j.project = $1 and j.name = $2`, project, name)
	if err != nil {
		return nil // Postgres restarting
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var job, st string
		if rows.Scan(&job, &st) != nil {
			return nil
		}
		out[job] = st
	}
	if rows.Err() != nil {
		return nil
	}
	return out
}

// finished counts the finished builds among bs.
func finished(bs map[string]string) int {
	n := 0
	for _, st := range bs {
		if strings.HasPrefix(st, "1:") {
			n++
		}
	}
	return n
}

// waitBuilt waits until the jobset's trialBuilds builds are all finished.
func (d *deployment) waitBuilt(project, name string, within time.Duration) map[string]string {
	d.t.Helper()
	deadline := time.Now().Add(within)
	for {
		bs := d.builds(project, name)
		if len(bs) == trialBuilds && finished(bs) == trialBuilds {
			return bs
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s:%s: %d builds, %d finished after %s", project, name, len(bs), finished(bs), within)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// settle waits until every projection has applied the head of the log
// and the head stays put for a second, and returns it.
func (d *deployment) settle() int64 {
	d.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var last int64 = -1
	for {
		var head, behind int64
		err := d.pool.QueryRow(d.ctx, `select (select position from ledger.counter),
			(select count(*) from projection_checkpoints where position_commit < (select position from ledger.counter))`).Scan(&head, &behind)
		if err == nil && behind == 0 && head == last {
			return head
		}
		if err == nil && behind == 0 {
			last = head
		} else {
			last = -1
		}
		require.True(d.t, time.Now().Before(deadline), "the projector did not reach the head (%d, %d behind): %v", head, behind, err)
		time.Sleep(time.Second)
	}
}

func hostSystem() string {
	out, err := exec.Command("nix-instantiate", "--eval", "--expr", "builtins.currentSystem", "--json").Output()
	var system string
	if err != nil || json.Unmarshal(out, &system) != nil || system == "" {
		return "x86_64-linux"
	}
	return system
}

func mustLookPath(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	require.NoError(t, err)
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
