package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
)

// readmeDemo returns the shell commands of the README's first jobset: the
// sh block after "A first jobset, from the shell".
func readmeDemo(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)A first jobset, from the shell.*?```sh\\n(.*?)```").FindSubmatch(b)
	require.NotNil(t, m, "the README has the first jobset's commands")
	return string(m[1])
}

// TestReadmeDemo is a new user's first minutes, under Nix's compiled-in
// settings (an empty NIX_CONF_DIR: sandbox on, no /bin/sh inside): "up"
// in a fresh home, then the README's commands exactly as written. "eval"
// right after "jobset create" exits 0 with the summary of the evaluation
// the evaluator had already started, and the three builds succeed.
func TestReadmeDemo(t *testing.T) {
	requireTools(t, "nix-store", "nix-instantiate", "bash")
	t.Parallel()
	nixConf := "NIX_CONF_DIR=" + t.TempDir()
	forgetDemoOutputs(t, nixConf)
	// up with make run's allow-lists for a checkout made next.
	checkout := t.TempDir()
	u := startUpWith(t, []string{"--input-root", filepath.Join(checkout, "test", "fixtures"),
		"--eval-allowed-path", nixtest.BusyboxDir()}, nixConf)
	client := &http.Client{Timeout: 10 * time.Second}
	u.waitHealthy(t, client)
	require.Contains(t, u.stdout.String(), "created user admin with password ")
	require.Contains(t, u.stdout.String(), "\nlog in as admin with the password printed above\n")

	sh := exec.Command("bash", "-euo", "pipefail", "-c", readmeDemo(t))
	checkoutAfterMakeRun(t, checkout, u.bin)
	sh.Dir = checkout
	sh.Env = append(os.Environ(), nixConf, "BUILDLEDGER_HOME="+u.home, "BUILDLEDGER_EVENTSTORE=", "BUILDLEDGER_DATABASE_URL=")
	out, err := sh.CombinedOutput()
	require.NoError(t, err, "the README's commands:\n%s", out)
	t.Logf("the README's commands printed:\n%s", out)
	m := regexp.MustCompile(`(?m)^evaluation (\d+) of demo:main: finished$`).FindSubmatch(out)
	require.NotNil(t, m, "eval prints the evaluation's summary:\n%s", out)
	require.Contains(t, string(out), "jobs: 3  builds: 3")

	var eval struct {
		Builds []int64 `json:"builds"`
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		code, body, _ := get(t, client, u.base+"/eval/"+string(m[1]), "application/json")
		if code == http.StatusOK {
			require.NoError(t, json.Unmarshal([]byte(body), &eval), body)
			break
		}
		require.True(t, time.Now().Before(deadline), "evaluation %s not shown: %d %s", m[1], code, body)
		time.Sleep(200 * time.Millisecond)
	}
	require.Len(t, eval.Builds, 3)
	built := map[string]string{} // job: derivation, of the builds that ran here
	for _, id := range eval.Builds {
		for {
			var b struct {
				Job         string `json:"job"`
				DrvPath     string `json:"drvpath"`
				Finished    int    `json:"finished"`
				BuildStatus *int   `json:"buildstatus"`
				Cached      bool   `json:"iscachedbuild"`
			}
			code, body, _ := get(t, client, u.base+"/build/"+strconv.FormatInt(id, 10), "application/json")
			require.Equal(t, http.StatusOK, code, body)
			require.NoError(t, json.Unmarshal([]byte(body), &b), body)
			if b.Finished == 1 {
				require.NotNil(t, b.BuildStatus)
				require.Zero(t, *b.BuildStatus, "build %d (%s) succeeded: %s", id, b.Job, body)
				if !b.Cached {
					built[b.Job] = b.DrvPath
				}
				break
			}
			require.True(t, time.Now().Before(deadline), "build %d (%s) did not finish: %s", id, b.Job, body)
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Nix reads a finished build's log from the served binary cache. A
	// build found already built (its output still held by a GC root of
	// an earlier run on this machine) has no log here.
	for job, drv := range built {
		nixLog := exec.Command("nix", "--extra-experimental-features", "nix-command", "log", "--option", "substituters", "",
			"--store", u.base+"/nix-cache", drv)
		nixLog.Env = append(os.Environ(), nixConf, "XDG_CACHE_HOME="+t.TempDir())
		log, err := nixLog.CombinedOutput()
		require.NoError(t, err, "nix log %s: %s", job, log)
		require.Contains(t, string(log), demoLogs[job], job)
	}
	if len(built) == 0 {
		t.Log("every demo output was alive already: nix log is checked by TestLiveLog")
	}
	u.stop(t)
}

// demoLogs is what each job of the demo prints as it builds.
var demoLogs = map[string]string{"greeting": "building greeting", "hello": "building hello on top of /nix/store/", "release": ""}

// checkoutAfterMakeRun lays dir out as a checkout is after
// "make run", for what the README's commands use: the binary in
// .buildledger/bin (this test's, not one a developer's make run left in
// the repository) and the demo jobset's directory.
func checkoutAfterMakeRun(t *testing.T, dir, bin string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".buildledger", "bin"), 0o755))
	require.NoError(t, os.Symlink(bin, filepath.Join(dir, ".buildledger", "bin", "buildledger")))
	demo := filepath.Join("test", "fixtures", "hello")
	require.NoError(t, os.CopyFS(filepath.Join(dir, demo), os.DirFS(filepath.Join(repoRoot(t), demo))))
}

// forgetDemoOutputs deletes the demo's outputs from the machine's store if
// an earlier run built them and nothing holds them, so that the test
// builds them; outputs still alive are logged and found already built.
func forgetDemoOutputs(t *testing.T, nixConf string) {
	t.Helper()
	run := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), nixConf)
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	drvs, err := run("nix-instantiate", filepath.Join(repoRoot(t), "test", "fixtures", "hello", "release.nix"))
	require.NoError(t, err)
	outs, err := run("nix-store", append([]string{"--query", "--outputs"}, strings.Fields(drvs)...)...)
	require.NoError(t, err)
	// Dependents first: a path is only deleted once nothing refers to it.
	for _, out := range []string{"release", "hello-1.0", "greeting-1.0"} {
		for _, p := range strings.Fields(outs) {
			if strings.HasSuffix(p, "-"+out) {
				if _, err := os.Stat(p); err == nil {
					if _, err := run("nix-store", "--delete", p); err != nil {
						t.Logf("%s stays in the store (alive): it will show as already built", p)
					}
				}
			}
		}
	}
}
