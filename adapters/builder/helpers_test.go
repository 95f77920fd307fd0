package builder_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/builder"
	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/logstore"
	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/adapters/ssh/sshdtest"
	"buildledger/commands"
	"buildledger/domain/step"
	"buildledger/domain/streams"
	"buildledger/events"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// nixArgs go to every nix-store call: no substituters (no network).
var nixArgs = []string{"--option", "substituters", ""}

// env is a worker over a real Postgres log, a chroot local store, a log
// store and a signed file:// binary cache.
type env struct {
	t      testing.TB
	rt     *commands.Runtime
	store  events.Store
	logs   *logstore.Store
	cache  *binarycache.FileWriter
	pubKey string
	local  string
	worker *builder.Worker
	nextID atomic.Int64
}

type envOptions struct {
	localNixStore string
	localNice     int
	maxOutputSize int64
	scanMax       int64
	localStore    string // "-" for the default store
	// wrapCache wraps the destination the worker uploads to.
	wrapCache func(binarycache.Destination) binarycache.Destination
}

func requireNix(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("nix-store"); err != nil {
		t.Skip("nix not installed")
	}
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	requireNix(t)
	store := pglog.New(pgtest.NewPool(t), pglog.Options{})
	rt := commands.NewRuntime(store, events.NewCodec(), commands.Options{Host: "testhost"})
	logs, err := logstore.New(filepath.Join(t.TempDir(), "logs"), logstore.Options{FlushInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	sk, pk, err := binarycache.GenerateKey("test-cache-1")
	require.NoError(t, err)
	cache, err := binarycache.NewFileWriter(filepath.Join(t.TempDir(), "cache"), binarycache.FileWriterOptions{SecretKeys: []signature.SecretKey{sk}})
	require.NoError(t, err)
	local := filepath.Join(t.TempDir(), "local")
	switch o.localStore {
	case "-":
		local = ""
	case "":
	default:
		local = o.localStore
	}
	e := &env{t: t, rt: rt, store: store, logs: logs, cache: cache, pubKey: pk.String(), local: local}
	var dest binarycache.Destination = cache
	if o.wrapCache != nil {
		dest = o.wrapCache(cache)
	}
	cfg := builder.Config{Runtime: rt, Logs: logs, Cache: dest, LocalStore: local, NixStoreArgs: nixArgs,
		LocalNixStore: o.localNixStore, LocalNice: o.localNice, MaxOutputSize: o.maxOutputSize, SpoolDir: t.TempDir()}
	cfg.ScanLimits.MaxBytes = o.scanMax
	e.worker, err = builder.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { e.worker.Close() })
	return e
}

// nonce makes every test's derivations new, so nothing is already built.
func nonce() string { return fmt.Sprintf("%d-%d", time.Now().UnixNano(), os.Getpid()) }

// instantiate writes the derivation of attr in expr to the local store.
func (e *env) instantiate(expr, attr string) string {
	e.t.Helper()
	args := []string{"--expr", expr, "--attr", attr}
	if e.local != "" {
		args = append([]string{"--store", e.local}, args...)
	}
	cmd := exec.Command("nix-instantiate", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(e.t, err, "nix-instantiate: %s", stderr.String())
	return strings.TrimSpace(string(out))
}

// jobs is a Nix file of test derivations; %s is a nonce.
const jobs = `
let
  busybox = ` + nixtest.Busybox + `;
  mk = name: script: attrs: derivation ({
    inherit name;
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" script ];
    nonce = "%s";
  } // attrs);
in rec {
  dep = mk "dep" "echo building dep; echo dep-content > $out" {};
  top = mk "top" "echo building top; cat ${dep} > $out; echo ${dep} >> $out" {};
  fail = mk "fail" "echo about to fail; exit 3" {};
  slow = mk "slow" "echo sleeping; sleep 30; touch $out" {};
  chatty = mk "chatty" "yes 'this line repeats forever'" {};
  products = mk "products" ''
    mkdir -p $out/nix-support $out/doc $dev/include
    echo '#define X' > $dev/include/x.h
    echo single file > $bin
    echo manual > $out/doc/manual.html
    echo readme > "$out/read me.txt"
    echo "doc manual $out/doc manual.html" >> $out/nix-support/hydra-build-products
    echo "file readme \"$out/read me.txt\"" >> $out/nix-support/hydra-build-products
    echo "doc headers $dev/include x.h fields Hydra ignores" >> $out/nix-support/hydra-build-products
    echo "file escape /etc/passwd" >> $out/nix-support/hydra-build-products
    echo "garbage line" >> $out/nix-support/hydra-build-products
    echo "lineCoverage 18 %%" >> $out/nix-support/hydra-metrics
    echo "runtime 1.5 s as Hydra ignores this" >> $out/nix-support/hydra-metrics
    echo "my-release-1.0" > $out/nix-support/hydra-release-name
  '' { outputs = [ "out" "bin" "dev" ]; };
  multi = mk "multi" "echo out > $out; mkdir -p $dev; echo $out > $dev/ref" { outputs = [ "out" "dev" ]; };
  marked = mk "marked" "mkdir -p $out/nix-support; touch $out/nix-support/failed; echo tests failed > $out/report" {};
  garbage = mk "garbage" "mkdir -p $out/nix-support; head -c 10485760 /dev/urandom > $out/nix-support/hydra-build-products" {};
  big = mk "big" "head -c 300000 /dev/zero > $out" {};
  nice = mk "nice" "awk '{ print $19 }' /proc/self/stat > $out" {};
}
`

// drvs instantiates the named jobs of a fresh copy of jobs.
func (e *env) drvs(names ...string) map[string]string {
	e.t.Helper()
	expr := fmt.Sprintf(jobs, nonce())
	out := map[string]string{}
	for _, n := range names {
		out[n] = e.instantiate(expr, n)
	}
	return out
}

// machine names.
const localMachine = "local"

// localhost returns a localhost machine building into its own chroot store.
func localhost(t testing.TB) events.MachineConfig {
	return events.MachineConfig{URI: "localhost", Systems: []string{"x86_64-linux"}, MaxJobs: 2, SpeedFactor: 1,
		Store: nixtest.NewChrootStore(t), Enabled: true}
}

// sshMachine starts an sshd and returns a machine on it building into its
// own chroot store, and the server.
func sshMachine(t *testing.T, env map[string]string) (events.MachineConfig, *sshdtest.Server) {
	if env == nil {
		env = map[string]string{"PATH": "/usr/bin:/bin"}
	}
	srv := sshdtest.Start(t, sshdtest.Options{Env: env})
	return events.MachineConfig{URI: srv.URI(), Systems: []string{"x86_64-linux"}, SSHKey: srv.ClientKeyPath,
		PublicHostKey: srv.HostPublicKey, MaxJobs: 2, SpeedFactor: 1, Store: nixtest.NewChrootStore(t), Enabled: true}, srv
}

// dispatch records StepQueued and StepDispatched for drvPath as the
// evaluator and scheduler would and returns the BuildStep to send.
func (e *env) dispatch(drvPath, machine string, cfg events.MachineConfig, tweak func(*commands.BuildStep)) commands.BuildStep {
	e.t.Helper()
	ctx := context.Background()
	md := commands.NewMetadata(commands.ComponentActor("test"), e.rt)
	buildID := e.nextID.Add(1)
	_, err := commands.Execute(ctx, e.rt, streams.Step(drvPath), commands.StepAggregate,
		func(s step.State) ([]events.Payload, error) {
			return []events.Payload{&events.StepQueued{DrvPath: drvPath, System: "x86_64-linux", BuildID: buildID}}, nil
		}, md)
	require.NoError(e.t, err)
	now := time.Now().Unix()
	res, err := commands.NewHandlers(e.rt, nil, nil).DispatchStep(ctx, md, events.StepDispatched{DrvPath: drvPath, BuildID: buildID, Machine: machine,
		Attempt: 1, LeaseUntil: now + 600, Timestamp: now})
	require.NoError(e.t, err)
	c := commands.BuildStep{ID: res.Events[0].ID, DrvPath: drvPath, System: "x86_64-linux", BuildID: buildID, StepNr: 1,
		Attempt: 1, StepRevision: res.NextRevision, Machine: machine, MachineConfig: cfg, LeaseUntil: now + 600,
		Timeout: 60, MaxSilent: 60, CorrelationID: md.CorrelationID}
	if tweak != nil {
		tweak(&c)
	}
	return c
}

// build dispatches and builds drvPath on the machine.
func (e *env) build(drvPath, machine string, cfg events.MachineConfig, tweak func(*commands.BuildStep)) builder.Result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := e.worker.Build(ctx, e.dispatch(drvPath, machine, cfg, tweak))
	require.NoError(e.t, err)
	return res
}

// stepEvents returns the types and payloads recorded on drvPath's stream.
func (e *env) stepEvents(drvPath string) ([]string, []json.RawMessage) {
	e.t.Helper()
	recs, err := e.store.ReadStream(context.Background(), streams.Step(drvPath), 0, 1000)
	require.NoError(e.t, err)
	var types []string
	var data []json.RawMessage
	for _, r := range recs {
		types = append(types, r.Type)
		data = append(data, r.Data)
	}
	return types, data
}

// readLog returns a step's stored log.
func (e *env) readLog(loc string) string {
	e.t.Helper()
	rc, err := e.logs.Open(loc)
	require.NoError(e.t, err)
	defer rc.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(rc)
	require.NoError(e.t, err)
	return b.String()
}

// localFile reads a file of the local store.
func (e *env) localFile(storePath string) string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.local, storePath))
	require.NoError(e.t, err)
	return string(b)
}
