package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/queries"
	"buildledger/adapters/ssh/sshdtest"
	"buildledger/commands"
	"buildledger/events"
	"buildledger/web"
	"buildledger/web/browsertest"
)

// liveLogNix is a jobset of one job that prints a line, sleeps, and prints
// another: its log is read while it builds. The sleep is the browser's
// time to start and show the first line; on a loaded machine (load 17 on
// 2 cores) 6 s was not enough. It builds with busybox from
// the store (the harness's busybox input), inside Nix's default sandbox.
const liveLogNix = `{ nonce ? "0000000000000000", busybox }:
{
  slow = derivation {
    name = "slow";
    inherit nonce;
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" "echo first; sleep 20; echo second; mkdir $out" ];
  };
}
`

// TestLiveLog watches a real build's log in a browser while it builds, on
// the localhost builder and on an ssh:// builder (real sshd, a chroot
// store): the first line shows before the build ends, the second once
// Nix prints it. Afterwards the log is served on Hydra's /log/DRVFILE
// and to nix log --store from the served binary cache.
func TestLiveLog(t *testing.T) {
	requireTools(t, "nix-store", "nix-instantiate", "nix")
	browsertest.Chromium(t)
	for _, tc := range []struct {
		name string
		ssh  bool
		// page is the log page the browser opens, under /build/N.
		page string
	}{
		{"localhost", false, "/log"},
		{"ssh", true, "/nixlog/1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newHarness(t, harnessOptions{})
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "live.nix"), []byte(liveLogNix), 0o644))
			e.seedFrom(dir, "live.nix")
			if tc.ssh {
				requireSshd(t)
				env := map[string]string{"PATH": filepath.Dir(mustLookPath(t, "nix-store")) + ":/usr/bin:/bin"}
				srv := sshdtest.Start(t, sshdtest.Options{Env: env})
				e.registerMachine("ssh1", events.MachineConfig{URI: srv.URI(), Systems: []string{hostSystem()}, SSHKey: srv.ClientKeyPath,
					PublicHostKey: srv.HostPublicKey, MaxJobs: 1, SpeedFactor: 1, Store: nixtest.NewChrootStore(t), Enabled: true})
			} else {
				e.registerMachine("localhost", localhostMachine())
			}
			site := e.serveWeb()
			e.startQueue(queueOptions{})
			e.evaluate()
			drvPath := e.jobDrv("slow")
			ids := e.queryStrings(`select id::text from builds where job = 'slow'`)
			require.Len(t, ids, 1)
			build := site.URL + "/build/" + ids[0]

			// The running step's log is served as soon as Nix prints.
			raw := waitBody(t, build+"/log/raw", "first", 2*time.Minute)
			require.NotContains(t, raw, "second")

			ctx := browsertest.New(t, 1280, 900)
			browse(ctx, t, "open the running log", chromedp.Navigate(build+tc.page),
				chromedp.WaitVisible(chromedp.Search(`//pre[@id="log"][contains(., "first")]`)))
			shown := text(ctx, t, "#log")
			require.NotContains(t, shown, "second", "the browser shows the first line before the second is printed")
			require.Equal(t, []string{"0"}, e.queryStrings(`select finished::text from builds where id = $1::int`, ids[0]),
				"the browser shows the first line while the build runs")
			require.Contains(t, text(ctx, t, "#log-status"), "follows live")

			browse(ctx, t, "the rest of the log", chromedp.WaitVisible(chromedp.Search(`//pre[@id="log"][contains(., "second")]`)),
				chromedp.WaitVisible(chromedp.Search(`//p[@id="log-status"][contains(., "finished")]`)))
			require.Less(t, strings.Index(text(ctx, t, "#log"), "first"), strings.Index(text(ctx, t, "#log"), "second"))
			e.waitBuilds(1, 2*time.Minute)
			e.requireAllSucceeded()

			// Hydra's log URL and the binary cache's log, read by Nix.
			drvFile := path.Base(drvPath)
			for _, u := range []string{site.URL + "/log/" + drvFile, site.URL + "/nix-cache/log/" + drvFile} {
				body := waitBody(t, u, "second", time.Second)
				require.Less(t, strings.Index(body, "first"), strings.Index(body, "second"), u)
			}
			require.Equal(t, "second\n", waitBody(t, site.URL+"/log/"+drvFile+"?tail=1", "second", time.Second))
			// Nix finds the log by the derivation (which it reads from
			// the cache first) and by an output (whose deriver it reads).
			out := e.queryStrings(`select path from buildoutputs where build = $1::int`, ids[0])
			require.Len(t, out, 1)
			for _, p := range []string{drvPath, out[0]} {
				cmd := exec.Command("nix", "--extra-experimental-features", "nix-command", "log", "--option", "substituters", "",
					"--store", site.URL+"/nix-cache", p)
				cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir())
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				log, err := cmd.Output()
				require.NoError(t, err, "nix log %s: %s", p, stderr.String())
				require.Contains(t, string(log), "first")
				require.Contains(t, string(log), "second")
			}
		})
	}
}

// serveWeb serves the web UI over the harness's read models, commands,
// log store and binary cache, as "up" wires them.
func (e *harness) serveWeb() *httptest.Server {
	e.t.Helper()
	h, err := web.New(web.Config{Queries: queries.New(e.pool), Commands: e.h, Builds: e.h, Logs: e.logs,
		Accounts:   commands.NewAccounts(e.rt, postgres.NewVault(e.pool)),
		SessionKey: bytes.Repeat([]byte("k"), 32), BinaryCache: binarycache.NewHandler(e.cacheDir, e.log), Logger: e.log})
	require.NoError(e.t, err)
	srv := httptest.NewServer(h)
	e.t.Cleanup(srv.Close)
	return srv
}

// waitBody polls url until it answers 200 with a body containing text,
// and returns the body.
func waitBody(t *testing.T, url, text string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		res, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			last = res.Status + ": " + string(b)
			if res.StatusCode == http.StatusOK && bytes.Contains(b, []byte(text)) {
				return string(b)
			}
		}
		require.True(t, time.Now().Before(deadline), "no %q at %s within %s; last answer %s", text, url, within, last)
		time.Sleep(50 * time.Millisecond)
	}
}

// browse runs browser steps, each bounded by a minute.
func browse(ctx context.Context, t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	require.NoError(t, chromedp.Do(sctx, steps...), what)
}

// text returns the text of the first element matching the CSS selector.
func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, "text of %s", sel)
	return s
}
