package web_test

import (
	"archive/tar"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/nix/nixtest"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/web"
)

// storeExpr builds two real store paths whose names hold a '+', which
// a MANIFEST's NarURL escapes: top, a directory referring to dep.
const storeExpr = `
let
  busybox = ` + nixtest.Busybox + `;
  dep = derivation {
    name = "blweb+dep";
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" "echo dependency > $out" ];
  };
in derivation {
  name = "blweb+top";
  system = builtins.currentSystem;
  builder = "${busybox}/busybox";
  args = [ "sh" "-c" "mkdir $out && echo ${dep} > $out/ref" ];
}
`

// realBuild is build 7 of eval 3 (job "tool"), whose output top and
// step output dep are real paths of the machine's store.
type realBuild struct {
	top, dep, topDrv, depDrv string
	// secret is a valid store path that no build made.
	secret string
}

// nixOut runs a Nix tool and returns its trimmed standard output.
func nixOut(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s %v: %s", name, args, stderr.String())
	return strings.TrimSpace(string(out))
}

// newStoreEnv is the seeded environment reading the machine's store
// through the real adapters, with build 7 built there and recorded as
// the builder records it (its output, a nix-build product, and the step
// that built its dependency). Build 4 gets a nix-build product whose
// output is not in the store.
func newStoreEnv(t *testing.T) (*env, realBuild) {
	t.Helper()
	if _, err := exec.LookPath("nix-build"); err != nil {
		t.Skip("nix not installed")
	}
	var rb realBuild
	rb.top = nixOut(t, "nix-build", "--no-out-link", "-E", storeExpr)
	rb.dep = nixOut(t, "nix-store", "--query", "--references", rb.top)
	rb.topDrv = nixOut(t, "nix-store", "--query", "--deriver", rb.top)
	rb.depDrv = nixOut(t, "nix-store", "--query", "--deriver", rb.dep)
	secret := filepath.Join(t.TempDir(), "blweb-secret")
	require.NoError(t, os.WriteFile(secret, []byte("a key no build made\n"), 0o600))
	rb.secret = nixOut(t, "nix-store", "--add", secret)

	e := newEnv(t, envOpts{cfg: func(c *web.Config) {
		c.Bzip2 = binarycache.NewBzip2Writer
		c.Outputs = binarycache.StoreFiles{Dir: "/nix/store"}
		c.Store = binarycache.StoreInfo{}
		c.StoreDir = "/nix/store"
	}})
	var jobsetID int64
	require.NoError(t, e.pool.QueryRow(e.ctx, `select id from jobsets where name = 'j'`).Scan(&jobsetID))
	ts := now.Unix() - 60
	e.appendEvents(streams.Build(7),
		events.BuildQueued{BuildID: 7, EvalID: 3, JobsetID: jobsetID, Project: "p", Jobset: "j", Job: "tool", NixName: "blweb+top",
			DrvPath: rb.topDrv, System: "x86_64-linux", Outputs: []events.Output{{Name: "out", Path: rb.top}}, Timestamp: ts,
			Meta: events.JobMeta{Description: `a "tool" ${x}`, License: "mit", Maintainers: "a@example.org"}},
		events.ProductScraped{BuildID: 7, ProductNr: 1, Type: "nix-build", Path: rb.top},
		events.BuildFinished{BuildID: 7, Status: 0, StartTime: ts, StopTime: ts + 5})
	e.appendEvents(streams.Step(rb.depDrv),
		events.StepStarted{DrvPath: rb.depDrv, BuildID: 7, StepNr: 2, Machine: "localhost", Attempt: 1, System: "x86_64-linux", StartTime: ts},
		events.StepFinished{DrvPath: rb.depDrv, BuildID: 7, StepNr: 2, Machine: "localhost", Attempt: 1, StartTime: ts, StopTime: ts + 2,
			Outputs: []events.Output{{Name: "out", Path: rb.dep}}})
	e.appendEvents(streams.Eval(3),
		events.EvaluationStarted{EvalID: 3, Project: "p", Jobset: "j", JobsetID: jobsetID, StartTime: ts},
		events.JobEvaluated{EvalID: 3, Job: "tool", System: "x86_64-linux", BuildID: 7, IsNew: true, DrvPath: rb.topDrv},
		events.EvaluationFinished{EvalID: 3, Project: "p", Jobset: "j", JobsetID: jobsetID, Hash: "h3", Timestamp: ts, NrBuilds: 1, HasNewBuilds: true})
	e.appendEvents(streams.Build(4), events.ProductScraped{BuildID: 4, ProductNr: 1, Type: "nix-build", Path: out("gone-4")})
	e.catchUp()
	return e, rb
}

// manifestEntry is one path of a MANIFEST.
type manifestEntry map[string]string

// parseManifest reads Nix's old manifest format: a version block, then
// a block of "Key: value" lines per path.
func parseManifest(t *testing.T, body string) []manifestEntry {
	t.Helper()
	require.True(t, strings.HasPrefix(body, "version {\n  ManifestVersion: 4\n}\n"), body)
	var out []manifestEntry
	var cur manifestEntry
	for _, line := range strings.Split(strings.TrimPrefix(body, "version {\n  ManifestVersion: 4\n}\n"), "\n") {
		switch {
		case line == "{":
			cur = manifestEntry{}
		case line == "}":
			out = append(out, cur)
		case line == "":
		default:
			k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
			require.True(t, ok, line)
			cur[k] = v
		}
	}
	return out
}

// TestHydraChannelManifestAndClosure fetches the MANIFEST and closure of
// every kind of channel as Hydra's NixChannel serves them: the closure
// of the outputs still valid, with the store's own metadata; and
// nix-store --import takes the closure.
func TestHydraChannelManifestAndClosure(t *testing.T) {
	e, rb := newStoreEnv(t)
	c := e.anon()
	topHash := nixOut(t, "nix-store", "--query", "--hash", rb.top)
	depHash := nixOut(t, "nix-store", "--query", "--hash", rb.dep)
	for _, base := range []string{"/channel/latest", "/project/p/channel/latest", "/jobset/p/j/channel/latest",
		"/job/p/j/tool/channel/latest", "/eval/3/channel", "/build/7/nix"} {
		t.Run(base, func(t *testing.T) {
			res := c.do("GET", base+"/MANIFEST", nil)
			require.Equal(t, 200, res.code, res.body)
			require.Equal(t, "text/x-nix-manifest", res.header.Get("Content-Type"))
			m := parseManifest(t, res.body)
			want := []string{rb.dep, rb.top}
			slices.Sort(want)
			var got []string
			for _, en := range m {
				got = append(got, en["StorePath"])
			}
			require.Equal(t, want, got, "the closure of the valid outputs, sorted; build 4's output is not in the store")
			byPath := map[string]manifestEntry{}
			for _, en := range m {
				byPath[en["StorePath"]] = en
			}
			top, dep := byPath[rb.top], byPath[rb.dep]
			require.Equal(t, rb.dep, top["References"])
			require.NotContains(t, dep, "References", "a path without references has no line")
			require.Equal(t, rb.topDrv, top["Deriver"])
			require.Equal(t, topHash, top["NarHash"])
			require.Equal(t, depHash, dep["NarHash"])
			require.Equal(t, e.srv.URL+"/nar/"+strings.ReplaceAll(path.Base(rb.top), "+", "%2b"), top["NarURL"])
			require.Equal(t, "x86_64-linux", top["System"])
			require.NotContains(t, dep, "System", "only the outputs name their system")
			require.NotEmpty(t, top["NarSize"])

			res = c.do("GET", base+"/closure", nil)
			require.Equal(t, 200, res.code, res.body)
			require.Equal(t, "application/x-nix-export", res.header.Get("Content-Type"))
			zr, err := gzip.NewReader(strings.NewReader(res.body))
			require.NoError(t, err)
			cmd := exec.Command("nix-store", "--store", nixtest.NewChrootStore(t), "--import")
			cmd.Stdin = zr
			imported, err := cmd.Output()
			require.NoError(t, err)
			require.Equal(t, []string{rb.dep, rb.top}, strings.Fields(string(imported)), "references first")
		})
	}

	// nixexprs.tar.bz2 leaves out the outputs no longer valid, as Hydra.
	res := c.do("GET", "/jobset/p/j/channel/latest/nixexprs.tar.bz2", nil)
	require.Equal(t, 200, res.code)
	files := untarBz2(t, res.body)
	require.Contains(t, files["channel/default.nix"], rb.top)
	require.NotContains(t, files["channel/default.nix"], out("gone-4"))
	require.Contains(t, files["channel/default.nix"], "    meta = {\n      description = \"a \\\"tool\\\" \\${x}\";\n"+
		"      license = \"mit\";\n      maintainers = \"a@example.org\";\n    };\n", "the job's meta, Nix strings escaped")
	res = c.do("GET", "/build/7/nix/nixexprs.tar.bz2", nil)
	require.Equal(t, 200, res.code)
	require.Equal(t, "unnamed-channel", untarBz2(t, res.body)["channel/channel-name"])
}

func untarBz2(t *testing.T, body string) map[string]string {
	t.Helper()
	tr := tar.NewReader(bzip2.NewReader(strings.NewReader(body)))
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[h.Name] = string(b)
	}
}

// TestHydraBuildNixChannel checks /build/N/nix/*: Hydra's channel of one
// build, which only a build with a nix-build product and valid outputs
// has.
func TestHydraBuildNixChannel(t *testing.T) {
	e, rb := newStoreEnv(t)
	c := e.anon()
	tests := []struct {
		path     string
		code     int
		contains string
	}{
		{"/build/7/nix", 200, rb.top},
		{"/build/7/nix/binary-cache-url", 200, e.srv.URL + "/"},
		{"/build/1/nix", 404, "nix-build"},           // no nix-build product
		{"/build/1/nix/MANIFEST", 404, "nix-build"},  // the same for every file
		{"/build/4/nix/MANIFEST", 404, "no longer"},  // its output is not in the store
		{"/build/4/nix/closure", 404, "no longer"},   //
		{"/build/99/nix/MANIFEST", 404, "not found"}, //
		{"/build/x/nix/closure", 404, ""},            //
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := c.do("GET", tt.path, nil)
			require.Equal(t, tt.code, res.code, res.body)
			require.Contains(t, res.body, tt.contains)
		})
	}
}

// TestHydraNAR serves /nar/NAME as Hydra does, the xz-compressed NAR of
// a valid path, but only of the outputs of builds and steps the ledger
// records: a valid path no build made (a secret someone put in the
// store) is 404, exactly as a path that does not exist.
func TestHydraNAR(t *testing.T) {
	e, rb := newStoreEnv(t)
	c := e.anon()
	for _, p := range []string{rb.top, rb.dep} {
		t.Run(path.Base(p), func(t *testing.T) {
			res := c.do("GET", "/nar/"+strings.ReplaceAll(path.Base(p), "+", "%2b"), nil)
			require.Equal(t, 200, res.code, res.body)
			require.Equal(t, "application/x-nix-archive", res.header.Get("Content-Type"))
			require.NotEmpty(t, res.header.Get("Expires"))
			zr, err := xz.NewReader(strings.NewReader(res.body))
			require.NoError(t, err)
			nar, err := io.ReadAll(zr)
			require.NoError(t, err)
			want, err := exec.Command("nix-store", "--dump", p).Output()
			require.NoError(t, err)
			require.Equal(t, want, nar)
		})
	}
	tests := []struct {
		name string
		code int
	}{
		{path.Base(rb.secret), 404},     // valid, but no build's output
		{path.Base(rb.topDrv), 404},     // a derivation, no output
		{path.Base(out("gone-4")), 410}, // a build's output no longer in the store
		{"00000000000000000000000000000000-x", 404},
		{"..%2f..%2fetc%2fpasswd", 404},
		{"nothing.nar.zst", 404}, // no binary cache configured
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := c.do("GET", "/nar/"+tt.name, nil)
			require.Equal(t, tt.code, res.code, res.body)
			require.NotContains(t, res.body, "a key no build made")
		})
	}
	require.Equal(t, 405, c.do("POST", "/nar/"+path.Base(rb.top), nil).code)
}

// TestHydraRuntimeDeps checks /build/N/runtime-deps: the tree of the
// outputs' references with the steps that built them, as JSON and as
// Hydra's page.
func TestHydraRuntimeDeps(t *testing.T) {
	e, rb := newStoreEnv(t)
	c := e.anon()
	var roots []struct {
		Path string `json:"path"`
		Name string `json:"name"`
		Step *struct {
			Build  int64 `json:"build"`
			StepNr int   `json:"stepnr"`
		} `json:"step"`
		Refs []struct {
			Path string `json:"path"`
			Name string `json:"name"`
			Step *struct {
				Build  int64 `json:"build"`
				StepNr int   `json:"stepnr"`
			} `json:"step"`
		} `json:"refs"`
	}
	res := c.do("GET", "/build/7/runtime-deps", nil)
	require.Equal(t, 200, res.code, res.body)
	res.json(t, &roots)
	require.Len(t, roots, 1)
	require.Equal(t, rb.top, roots[0].Path)
	require.Equal(t, "blweb+top", roots[0].Name)
	require.Nil(t, roots[0].Step, "no step of the ledger recorded top as its output")
	require.Len(t, roots[0].Refs, 1)
	require.Equal(t, rb.dep, roots[0].Refs[0].Path)
	require.NotNil(t, roots[0].Refs[0].Step)
	require.Equal(t, int64(7), roots[0].Refs[0].Step.Build)
	require.Equal(t, 2, roots[0].Refs[0].Step.StepNr)

	res = c.do("GET", "/build/7/runtime-deps", nil, "Accept", "text/html")
	require.Equal(t, 200, res.code)
	require.Contains(t, res.body, `href="/build/7/step/2/log"`)
	require.Contains(t, res.body, "blweb&#43;top</code> (<em>no info</em>)")

	require.Equal(t, 410, c.do("GET", "/build/1/runtime-deps", nil).code, "outputs not in the store")
	require.Equal(t, 404, c.do("GET", "/build/99/runtime-deps", nil).code)
}
