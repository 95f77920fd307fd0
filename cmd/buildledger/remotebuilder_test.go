package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/nix/drv"
	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/nix/serve"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/adapters/ssh"
	"buildledger/domain/streams"
	"buildledger/events"
)

// writeUserKey writes a new ed25519 key pair: path (private, 0600) and
// path.pub (authorized_keys form).
func writeUserKey(t *testing.T, path string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := gossh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(block), 0o600))
	sp, err := gossh.NewPublicKey(pub)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path+".pub", gossh.MarshalAuthorizedKey(sp), 0o644))
}

// remoteBuilderEnv is a queue-runner with --builder-listen on a test
// database, and what a Nix client needs to reach it.
type remoteBuilderEnv struct {
	url, home, port string
	// knownHosts lists the port's host key; keys holds users' private keys.
	knownHosts string
	keys       map[string]string
	store      events.Store
}

// sshOpts is NIX_SSHOPTS for a client logging in with key: the port, the
// host key pinned through a known_hosts file, and no agent or other key.
func (e *remoteBuilderEnv) sshOpts(key string) string {
	return fmt.Sprintf("-p %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes -i %s",
		e.port, e.knownHosts, key)
}

// nixEnv is the environment of a Nix client: Nix's compiled-in settings
// (an empty NIX_CONF_DIR) and NIX_SSHOPTS.
func (e *remoteBuilderEnv) nixEnv(t *testing.T, key string) []string {
	return append(os.Environ(), "NIX_CONF_DIR="+t.TempDir(), "NIX_SSHOPTS="+e.sshOpts(key))
}

func startRemoteBuilder(t *testing.T) *remoteBuilderEnv {
	t.Helper()
	for _, tool := range []string{"nix-build", "nix-instantiate", "ssh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
	e := &remoteBuilderEnv{url: pgtest.URL(t), home: t.TempDir(), keys: map[string]string{}}
	run := func(ctx context.Context, args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := newApp(&out, &errb).main(ctx, append(args, "--database-url", e.url, "--home", e.home))
		return out.String() + errb.String(), code
	}
	keyDir := t.TempDir()
	pw := filepath.Join(keyDir, "pw")
	require.NoError(t, os.WriteFile(pw, []byte("a-password\n"), 0o600))
	for _, u := range []string{"alice", "bob", "mallory"} {
		e.keys[u] = filepath.Join(keyDir, u)
		writeUserKey(t, e.keys[u])
	}
	for _, args := range [][]string{
		{"user", "create", "admin", "--role", "admin", "--password-file", pw},
		{"user", "create", "alice", "--role", "submit-builds", "--password-file", pw},
		{"user", "create", "bob", "--password-file", pw},
		{"user", "add-key", "alice", e.keys["alice"] + ".pub"},
		{"user", "add-key", "bob", e.keys["bob"] + ".pub"},
		{"machine", "add", "localhost", "--systems", hostSystem() + ",builtin", "--max-jobs", "2"},
	} {
		out, code := run(context.Background(), args...)
		require.Equal(t, 0, code, "%v: %s", args, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, e.port, _ = net.SplitHostPort(addr)

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan string, 1)
	go func() {
		out, code := run(ctx, "queue-runner", "--bus", "gochannel", "--status-listen", "", "--builder-listen", addr)
		done <- fmt.Sprintf("exit %d: %s", code, out)
	}()
	t.Cleanup(func() {
		stop()
		t.Log(<-done)
	})
	// The host key is written at the start; the port then accepts.
	deadline := time.Now().Add(time.Minute)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			break
		}
		select {
		case out := <-done:
			t.Fatalf("queue-runner stopped: %s", out)
		default:
		}
		require.True(t, time.Now().Before(deadline), "the remote-builder port did not open")
		time.Sleep(100 * time.Millisecond)
	}
	pemKey, err := os.ReadFile(filepath.Join(e.home, "builder-host-key"))
	require.NoError(t, err)
	signer, err := gossh.ParsePrivateKey(pemKey)
	require.NoError(t, err)
	e.knownHosts = filepath.Join(keyDir, "known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%s %s", e.port, gossh.MarshalAuthorizedKey(signer.PublicKey()))
	require.NoError(t, os.WriteFile(e.knownHosts, []byte(line), 0o644))

	pool, err := postgres.Open(context.Background(), e.url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	e.store = pglog.New(pool, pglog.Options{})
	return e
}

// stream reads a whole stream, decoded.
func (e *remoteBuilderEnv) stream(t *testing.T, name string) []events.Payload {
	t.Helper()
	recs, err := e.store.ReadStream(context.Background(), name, 0, 10000)
	if err != nil {
		return nil
	}
	codec := events.NewCodec()
	out := make([]events.Payload, 0, len(recs))
	for _, r := range recs {
		p, err := codec.Decode(r)
		require.NoError(t, err)
		out = append(out, p)
	}
	return out
}

// waitFor polls until cond holds; the deadline only keeps a broken run
// from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "gave up waiting: %s", what)
		time.Sleep(200 * time.Millisecond)
	}
}

// chainNix is a chain of three derivations built with busybox from the
// store; nonce makes them new.
func chainNix(nonce string) string {
	return `let busybox = ` + nixtest.Busybox + `;
  mk = name: deps: derivation { inherit name; nonce = "` + nonce + `"; system = builtins.currentSystem;
    builder = "${busybox}/busybox"; args = [ "sh" "-c" "echo building ${name}; ${busybox}/busybox cat ${toString deps} /dev/null > $out; echo ${name} >> $out" ]; };
  a = mk "rb-chain-a" [];
  b = mk "rb-chain-b" [ a ];
in mk "rb-chain-c" [ b ]
`
}

// instantiate writes expr to a file and instantiates it into the
// client's chroot store, returning the file and the .drv path.
func instantiate(t *testing.T, env []string, clientStore, expr string) (string, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "default.nix")
	require.NoError(t, os.WriteFile(file, []byte(expr), 0o644))
	cmd := exec.Command("nix-instantiate", "--store", clientStore, file)
	cmd.Env = env
	out, err := cmd.Output()
	require.NoError(t, err)
	return file, strings.TrimSpace(string(out))
}

// TestRemoteBuilderNixBuild: a plain nix-build, run on a store of its own
// (a client sharing the server's store would hold the output locks the
// server's own build waits for), builds a chain of three derivations on
// buildledger as its remote builder. The builds are in adhoc:alice with
// their submitter, key, client version, closure graph and logs, and the
// outputs are in the client's store and the binary cache.
func TestRemoteBuilderNixBuild(t *testing.T) {
	e := startRemoteBuilder(t)
	env := e.nixEnv(t, e.keys["alice"])
	clientStore := nixtest.NewChrootStore(t)
	file, drvPath := instantiate(t, env, clientStore, chainNix(fmt.Sprint(time.Now().UnixNano())))

	// No nix-copy-closure first: buildledger restores each .drv from the
	// derivation Nix sends, checked against its path.
	build := e.nixBuild(env, clientStore, "alice", file)
	var stdout, stderr bytes.Buffer
	build.Stdout, build.Stderr = &stdout, &stderr
	require.NoError(t, build.Run(), "%s", stderr.String())
	outPath := strings.TrimSpace(stdout.String())
	got, err := os.ReadFile(filepath.Join(clientStore, outPath))
	require.NoError(t, err)
	require.Equal(t, "rb-chain-a\nrb-chain-b\nrb-chain-c\n", string(got))
	require.Contains(t, stderr.String(), "building rb-chain-c", "the build log reaches the client")
	require.Contains(t, stderr.String(), "in adhoc:alice")

	// Three ad-hoc builds, one per derivation, as Nix asks for them.
	var last *events.AdhocBuildSubmitted
	for id := int64(1); id <= 3; id++ {
		var finished *events.BuildFinished
		var queued *events.BuildQueued
		for _, p := range e.stream(t, streams.Build(id)) {
			switch ev := p.(type) {
			case *events.BuildQueued:
				queued = ev
			case *events.AdhocBuildSubmitted:
				last = ev
			case *events.BuildFinished:
				finished = ev
			}
		}
		require.NotNil(t, queued, "build %d", id)
		require.Equal(t, []string{"adhoc", "alice"}, []string{queued.Project, queued.Jobset})
		require.NotNil(t, finished, "build %d", id)
		require.Equal(t, 0, finished.Status)
	}
	require.Equal(t, drvPath, last.DrvPath)
	require.Equal(t, "alice", last.UserName)
	require.Equal(t, "ssh", last.Via)
	require.Equal(t, "2.7", last.ClientVersion)
	pub, err := os.ReadFile(e.keys["alice"] + ".pub")
	require.NoError(t, err)
	pk, _, _, _, err := gossh.ParseAuthorizedKey(pub)
	require.NoError(t, err)
	require.Equal(t, gossh.FingerprintSHA256(pk), last.KeyFingerprint)
	require.Len(t, last.Paths, 4, "busybox and three .drv files")
	require.Len(t, last.Edges, 5, "each .drv refers to busybox, b and c to their input")

	var logged bool
	for _, p := range e.stream(t, streams.Step(drvPath)) {
		if l, ok := p.(*events.StepLogStored); ok && l.Size > 0 {
			logged = true
		}
	}
	require.True(t, logged, "the step's log is stored")
	hashPart := strings.SplitN(filepath.Base(outPath), "-", 2)[0]
	_, err = os.Stat(filepath.Join(e.home, "cache", hashPart+".narinfo"))
	require.NoError(t, err, "the output is in the binary cache")
}

// TestRemoteBuilderRefusesUnknownKeys: a key nobody registered, and a
// registered key of a user without the submit-builds role, are refused
// at SSH authentication, before any protocol byte, and nothing is
// appended to the log.
func TestRemoteBuilderRefusesUnknownKeys(t *testing.T) {
	e := startRemoteBuilder(t)
	head, err := e.store.Head(context.Background())
	require.NoError(t, err)
	for _, tt := range []struct{ user, key string }{
		{"alice", "mallory"}, // unknown key
		{"mallory", "mallory"},
		{"bob", "bob"},     // registered, but no role
		{"alice", "bob"},   // bob's key for alice
		{"admin", "alice"}, // alice's key for admin
	} {
		t.Run(tt.user+" with "+tt.key+"'s key", func(t *testing.T) {
			args := append(strings.Fields(e.sshOpts(e.keys[tt.key])), tt.user+"@127.0.0.1", "nix-store", "--serve", "--write")
			cmd := exec.Command("ssh", args...)
			cmd.Stdin = strings.NewReader("")
			out, err := cmd.CombinedOutput()
			require.Error(t, err)
			require.Contains(t, string(out), "Permission denied (publickey)")
		})
	}
	after, err := e.store.Head(context.Background())
	require.NoError(t, err)
	require.Equal(t, head, after, "a refused login appends nothing")
}

// TestRemoteBuilderClientKilled: two nix-builds (from two stores) build
// the same derivation, so two ad-hoc builds need its one step. The first
// is interrupted while the step runs (Ctrl-C: Nix then kills its build
// hook and the hook's ssh): its build is cancelled and the step goes on,
// as the other build needs it. When the second is interrupted too, the
// scheduler aborts the step (status 4), after the second cancellation in
// the log. (TestRemoteBuilderClientKilledHard kills with SIGKILL.)
func TestRemoteBuilderClientKilled(t *testing.T) {
	e := startRemoteBuilder(t)
	env := e.nixEnv(t, e.keys["alice"])
	expr := `derivation { name = "rb-slow"; nonce = "` + fmt.Sprint(time.Now().UnixNano()) + `"; system = builtins.currentSystem;
  builder = "` + nixtest.Sh + `"; args = [ "sh" "-c" "echo started; sleep 600; echo > $out" ]; }`
	var builds []*exec.Cmd
	var drvPath string
	for i := range 2 {
		clientStore := nixtest.NewChrootStore(t)
		file, p := instantiate(t, env, clientStore, expr)
		drvPath = p
		build := e.nixBuild(env, clientStore, "alice", file)
		require.NoError(t, build.Start())
		t.Cleanup(func() { _ = build.Process.Kill(); _ = build.Wait() })
		builds = append(builds, build)
		id := int64(i + 1)
		waitFor(t, fmt.Sprintf("build %d is queued", id), func() bool { return len(e.stream(t, streams.Build(id))) > 0 })
	}
	waitFor(t, "the step starts", func() bool { return e.has(t, streams.Step(drvPath), "StepStarted") })

	require.NoError(t, builds[0].Process.Signal(syscall.SIGINT))
	_ = builds[0].Wait()
	waitFor(t, "the first build is cancelled", func() bool { return e.has(t, streams.Build(1), "BuildCancelled") })
	require.NoError(t, builds[1].Process.Signal(syscall.SIGINT))
	_ = builds[1].Wait()
	waitFor(t, "the step is aborted", func() bool { return e.has(t, streams.Step(drvPath), "StepFinished") })

	pos := func(stream, typ string) uint64 {
		recs, err := e.store.ReadStream(context.Background(), stream, 0, 1000)
		require.NoError(t, err)
		for _, r := range recs {
			if r.Type == typ {
				return r.Position.Commit
			}
		}
		t.Fatalf("no %s in %s", typ, stream)
		return 0
	}
	for _, p := range e.stream(t, streams.Step(drvPath)) {
		if f, ok := p.(*events.StepFinished); ok {
			require.Equal(t, 4, f.Status, "aborted")
		}
	}
	require.Greater(t, pos(streams.Step(drvPath), "StepFinished"), pos(streams.Build(2), "BuildCancelled"),
		"the step ran on while the second build needed it")
}

// TestRemoteBuilderClientKilledHard: a nix-build is killed with SIGKILL
// while its step runs, either alone or with its whole process group. Its
// build hook, in a session of its own, dies with it (Nix gives the hook a
// parent-death signal); the hook's ssh lives on, but reads the end of its
// input and sends it on, and the server takes that as the client gone.
// The build is cancelled, its step, which no other build needs, is
// aborted (status 4), and the server's end of the session makes the ssh
// exit.
func TestRemoteBuilderClientKilledHard(t *testing.T) {
	e := startRemoteBuilder(t)
	env := e.nixEnv(t, e.keys["alice"])
	for i, tt := range []struct {
		name string
		kill func(pid int) error
	}{
		{"the nix-build process", func(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }},
		{"its process group", func(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			expr := `derivation { name = "rb-killed"; nonce = "` + fmt.Sprint(time.Now().UnixNano()) + `"; system = builtins.currentSystem;
  builder = "` + nixtest.Sh + `"; args = [ "sh" "-c" "echo started; sleep 600; echo > $out" ]; }`
			clientStore := nixtest.NewChrootStore(t)
			file, drvPath := instantiate(t, env, clientStore, expr)
			build := e.nixBuild(env, clientStore, "alice", file)
			build.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			require.NoError(t, build.Start())
			pid := build.Process.Pid
			t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL); _ = build.Wait() })
			id := int64(i + 1)
			waitFor(t, "the step starts", func() bool { return e.has(t, streams.Step(drvPath), "StepStarted") })

			require.True(t, running(t, "ssh", e.keys["alice"]), "the hook's ssh runs")
			require.NoError(t, tt.kill(pid))
			_ = build.Wait()
			waitFor(t, "the build is cancelled", func() bool { return e.has(t, streams.Build(id), "BuildCancelled") })
			waitFor(t, "the step is aborted", func() bool { return e.has(t, streams.Step(drvPath), "StepFinished") })
			for _, p := range e.stream(t, streams.Step(drvPath)) {
				if f, ok := p.(*events.StepFinished); ok {
					require.Equal(t, 4, f.Status, "aborted")
				}
			}
			waitFor(t, "the hook's ssh exits", func() bool { return !running(t, "ssh", e.keys["alice"]) })
		})
	}
}

// running reports whether a process runs the program named prog with
// arg among its arguments.
func running(t *testing.T, prog, arg string) bool {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue // not a process, or gone
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) == prog && slices.Contains(args, arg) {
			return true
		}
	}
	return false
}

// nixBuild is a nix-build of file on clientStore (a store of its own)
// with buildledger as its only builder, as user with their key; the
// derivations are not copied first.
func (e *remoteBuilderEnv) nixBuild(env []string, clientStore, user, file string) *exec.Cmd {
	build := exec.Command("nix-build", "--store", clientStore, "--max-jobs", "0", "--no-out-link",
		"--builders", fmt.Sprintf("ssh://%s@127.0.0.1 %s %s 1", user, hostSystem(), e.keys[user]), file)
	build.Env = env
	return build
}

// has reports whether stream holds an event of type typ.
func (e *remoteBuilderEnv) has(t *testing.T, stream, typ string) bool {
	t.Helper()
	recs, err := e.store.ReadStream(context.Background(), stream, 0, 1000)
	if err != nil {
		return false
	}
	for _, r := range recs {
		if r.Type == typ {
			return true
		}
	}
	return false
}

// serveSession opens a serve-protocol session on the remote-builder port
// as user, with their key.
func (e *remoteBuilderEnv) serveSession(t *testing.T, user string) (*serve.Client, *ssh.Session) {
	t.Helper()
	ctx := context.Background()
	c, err := ssh.Dial(ctx, ssh.Target{URI: "ssh://" + user + "@127.0.0.1:" + e.port, KeyFile: e.keys[user], KnownHostsFile: e.knownHosts})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	sess, err := c.Run(ctx, "nix-store --serve --write")
	require.NoError(t, err)
	t.Cleanup(func() { _ = sess.Close() })
	cl, err := serve.NewClient(ctx, sess)
	require.NoError(t, err)
	return cl, sess
}

// TestRemoteBuilderRefusesForgedInputs: a client cannot put a path into
// the server's store under a name its contents do not make (an
// input-addressed path, or a content address that does not match), and
// cannot have a derivation built from a description that differs from
// the .drv the server holds, or from a .drv the server does not hold.
// Nothing is recorded for any of them.
func TestRemoteBuilderRefusesForgedInputs(t *testing.T) {
	e := startRemoteBuilder(t)
	ctx := context.Background()
	head, err := e.store.Head(ctx)
	require.NoError(t, err)

	file := filepath.Join(t.TempDir(), "evil")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf("trojan %s %d", t.Name(), time.Now().UnixNano())), 0o644))
	nar, err := exec.Command("nix-store", "--dump", file).Output()
	require.NoError(t, err)
	dump := func(_ context.Context, w io.Writer, _ string) error { _, err := w.Write(nar); return err }
	forged := "/nix/store/" + strings.Repeat("a", 32) + "-glibc-2.36"
	t.Run("input-addressed", func(t *testing.T) {
		cl, sess := e.serveSession(t, "alice")
		require.Error(t, cl.ImportPaths(ctx, []serve.PathInfo{{Path: forged, NarSize: uint64(len(nar))}}, dump))
		_ = sess.Wait()
		require.Contains(t, sess.Stderr(), "not content-addressed")
		require.Error(t, exec.Command("nix-store", "--check-validity", forged).Run(), "the forged path is not in the store")
	})
	t.Run("a source's name is checked", func(t *testing.T) {
		// The source as another store would add it: its name follows
		// from its contents, so the server takes it.
		out, err := exec.Command("nix-store", "--store", nixtest.NewChrootStore(t), "--add", file).Output()
		require.NoError(t, err)
		src := strings.TrimSpace(string(out))
		cl, _ := e.serveSession(t, "alice")
		require.NoError(t, cl.ImportPaths(ctx, []serve.PathInfo{{Path: src, NarSize: uint64(len(nar))}}, dump))
		require.NoError(t, exec.Command("nix-store", "--check-validity", src).Run())
	})

	expr := `derivation { name = "rb-forged"; nonce = "` + fmt.Sprint(time.Now().UnixNano()) + `"; system = builtins.currentSystem;
  builder = "` + nixtest.Sh + `"; args = [ "sh" "-c" "echo honest > $out" ]; }`
	out, err := exec.Command("nix-instantiate", "--expr", expr).Output()
	require.NoError(t, err)
	drvPath := strings.TrimSpace(string(out))
	d, err := drv.NewReader("").Read(drvPath)
	require.NoError(t, err)
	inputs, err := drv.NewReader("").InputPaths(d)
	require.NoError(t, err)
	altered := serve.NewBasicDerivation(d, inputs)
	altered.Args = []string{"sh", "-c", "echo trojan > $out"}
	missing := filepath.Dir(drvPath) + "/" + strings.Repeat("b", 32) + "-rb-missing.drv"
	for name, c := range map[string]struct {
		drvPath string
		want    string
	}{
		"altered derivation":  {drvPath, "does not match"},
		"derivation not here": {missing, "does not make"},
	} {
		t.Run(name, func(t *testing.T) {
			cl, _ := e.serveSession(t, "alice")
			res, err := cl.BuildDerivation(ctx, c.drvPath, altered, serve.BuildOptions{})
			require.NoError(t, err)
			require.False(t, res.Success())
			require.Contains(t, res.ErrorMsg, c.want)
		})
	}
	after, err := e.store.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, head, after, "nothing was submitted")
}

// TestRemoteBuilderRefusesForgedDerivations: a BuildDerivation for a .drv
// the server lacks is built only when the derivation sent makes that
// .drv exactly and its outputs are the ones Nix gives it. A derivation
// with a changed environment or output path, a mentioned extra source,
// another derivation's path claimed, or outputs taken from another
// derivation under the forged one's true path, is refused; so is one
// whose input was built from a .drv the server does not hold, with a
// message that says to copy the derivation. The .drv is not added and
// nothing is appended for any of them.
func TestRemoteBuilderRefusesForgedDerivations(t *testing.T) {
	e := startRemoteBuilder(t)
	ctx := context.Background()
	env := e.nixEnv(t, e.keys["alice"])
	clientStore := nixtest.NewChrootStore(t)
	_, top := instantiate(t, env, clientStore, chainNix(fmt.Sprint(time.Now().UnixNano())))
	r := drv.NewReader(clientStore)
	c, err := r.Read(top)
	require.NoError(t, err)
	middle := c.InputDrvPaths()[0]
	b, err := r.Read(middle)
	require.NoError(t, err)
	leaf, err := r.Read(b.InputDrvPaths()[0])
	require.NoError(t, err)

	// The input of the unknown-deriver case: an output in the server's
	// store whose .drv has gone.
	nonce := fmt.Sprint(time.Now().UnixNano())
	out, err := exec.Command("nix-instantiate", "--expr", chainNix(nonce)).Output()
	require.NoError(t, err)
	uTop, err := drv.NewReader("").Read(strings.TrimSpace(string(out)))
	require.NoError(t, err)
	uMiddle, err := drv.NewReader("").Read(uTop.InputDrvPaths()[0])
	require.NoError(t, err)
	uLeaf := uMiddle.InputDrvPaths()[0]
	realise := exec.Command("nix-store", "--realise", uLeaf)
	realise.Env = env
	rout, err := realise.CombinedOutput()
	require.NoError(t, err, "%s", rout)
	uInputs, err := drv.NewReader("").InputPaths(uMiddle)
	require.NoError(t, err)
	rm := exec.Command("nix-store", "--option", "keep-derivations", "false", "--delete", uTop.Path, uMiddle.Path, uLeaf)
	rm.Env = env
	rout, err = rm.CombinedOutput()
	require.NoError(t, err, "%s", rout)

	head, err := e.store.Head(ctx)
	require.NoError(t, err)
	honest := func(d *drv.Derivation) serve.BasicDerivation {
		inputs, err := r.InputPaths(d)
		require.NoError(t, err)
		bd := serve.NewBasicDerivation(d, inputs)
		bd.Env = maps.Clone(d.Env)
		bd.Outputs = maps.Clone(bd.Outputs)
		return bd
	}
	other := "/nix/store/" + strings.Repeat("c", 32) + "-rb-chain-a"
	// The trojan: the leaf's build with another script, claiming the
	// honest leaf's output under the trojan's own true .drv path.
	trojan := *leaf
	trojan.Args = []string{"sh", "-c", "echo trojan > $out"}
	_, trojanPath, err := trojan.ATerm()
	require.NoError(t, err)
	for _, tt := range []struct {
		name, drvPath string
		sent          func() serve.BasicDerivation
		want          string
	}{
		{"changed environment", leaf.Path, func() serve.BasicDerivation {
			bd := honest(leaf)
			bd.Env["nonce"] = "other"
			return bd
		}, "does not make"},
		{"changed output path", leaf.Path, func() serve.BasicDerivation {
			bd := honest(leaf)
			bd.Outputs["out"] = serve.DerivationOutput{Path: other}
			bd.Env["out"] = other
			return bd
		}, "does not make"},
		{"a mentioned extra source", middle, func() serve.BasicDerivation {
			bd := honest(b)
			bd.InputSrcs = append(bd.InputSrcs, other)
			bd.Args = append(slices.Clone(bd.Args), other)
			return bd
		}, "does not make"},
		{"another derivation's path", middle, func() serve.BasicDerivation { return honest(leaf) }, "does not make"},
		{"outputs of another derivation", trojanPath, func() serve.BasicDerivation {
			bd := serve.NewBasicDerivation(&trojan, trojan.InputSrcs)
			return bd
		}, "not the paths Nix gives"},
		{"input from an unknown derivation", uMiddle.Path, func() serve.BasicDerivation {
			return serve.NewBasicDerivation(uMiddle, uInputs)
		}, "built from derivations its store does not hold"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cl, _ := e.serveSession(t, "alice")
			res, err := cl.BuildDerivation(ctx, tt.drvPath, tt.sent(), serve.BuildOptions{})
			require.NoError(t, err)
			require.False(t, res.Success())
			require.Contains(t, res.ErrorMsg, tt.want)
			if tt.want != "not the paths Nix gives" {
				require.Contains(t, res.ErrorMsg, "nix-copy-closure --to USER@HOST "+tt.drvPath)
			}
			require.Error(t, exec.Command("nix-store", "--check-validity", tt.drvPath).Run(), "the .drv was not added")
		})
	}
	after, err := e.store.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, head, after, "nothing was submitted")
}
