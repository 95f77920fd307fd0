package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nixhash"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
)

// provenanceJobset is a jobset whose top job needs a dependency and a
// source file; the nonce makes every run's outputs new, so they are built
// here and not found already valid.
const provenanceJobset = `
let
  busybox = ` + nixtest.Busybox + `;
  dep = derivation {
    name = "prov-dep-NONCE";
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" "echo NONCE > $out" ];
  };
in {
  top = derivation {
    name = "prov-top-NONCE";
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" ./build.sh ];
    inherit dep;
    outputs = [ "out" "doc" ];
  };
}
`

// TestProvenanceOfARealBuild is issue 23's acceptance point on
// provenance: up builds a job with real Nix under its default sandbox;
// GET /build/N/provenance verifies as a DSSE envelope with the key of
// GET /provenance/key, checked by the verifier below (written from the
// DSSE specification, sharing no code with the signer), and its
// subjects' digests are the NAR hashes of the binary cache's narinfos.
// The cache holds the same envelope next to each narinfo, which names it,
// Nix still copies from the cache over HTTP, and "provenance verify"
// accepts the envelope and refuses an altered one.
func TestProvenanceOfARealBuild(t *testing.T) {
	requireTools(t, "nix-store", "nix-instantiate", "nix")
	t.Parallel()
	nixConf := "NIX_CONF_DIR=" + t.TempDir()
	nonce := make([]byte, 8)
	_, err := rand.Read(nonce)
	require.NoError(t, err)
	root := t.TempDir()
	src := filepath.Join(root, "prov")
	require.NoError(t, os.Mkdir(src, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "release.nix"),
		[]byte(strings.ReplaceAll(provenanceJobset, "NONCE", hex.EncodeToString(nonce))), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "build.sh"), []byte("mkdir $out $doc; cat $dep > $out/dep; echo doc > $doc/README\n"), 0o644))

	u := startUpWith(t, []string{"--input-root", root, "--eval-allowed-path", nixtest.BusyboxDir()}, nixConf)
	client := &http.Client{Timeout: 10 * time.Second}
	u.waitHealthy(t, client)
	cli := func(args ...string) string {
		cmd := exec.Command(u.bin, args...)
		cmd.Env = append(os.Environ(), nixConf, "BUILDLEDGER_HOME="+u.home, "BUILDLEDGER_EVENTSTORE=", "BUILDLEDGER_DATABASE_URL=")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "buildledger %v: %s", args, out)
		return string(out)
	}
	cli("project", "create", "prov", "--owner", "admin")
	cli("jobset", "create", "prov", "main", "--type", "legacy", "--input", "src=path:"+src, "--nixexprinput", "src", "--nixexprpath", "release.nix")
	out := cli("eval", "prov", "main", "--input-root", root, "--eval-allowed-path", nixtest.BusyboxDir())
	m := regexp.MustCompile(`(?m)^evaluation (\d+) of prov:main: finished$`).FindStringSubmatch(out)
	require.NotNil(t, m, out)

	deadline := time.Now().Add(3 * time.Minute)
	poll := func(url string, want int) (int, string) {
		for {
			code, body, _ := get(t, client, url, "application/json")
			if code == want {
				return code, body
			}
			require.True(t, time.Now().Before(deadline), "%s: %d %s", url, code, body)
			time.Sleep(200 * time.Millisecond)
		}
	}
	_, body := poll(u.base+"/eval/"+m[1], http.StatusOK)
	var eval struct {
		Builds []int64 `json:"builds"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &eval), body)
	require.Len(t, eval.Builds, 1)
	id := strconv.FormatInt(eval.Builds[0], 10)
	for {
		var b struct {
			Finished    int  `json:"finished"`
			BuildStatus *int `json:"buildstatus"`
		}
		_, body := poll(u.base+"/build/"+id, http.StatusOK)
		require.NoError(t, json.Unmarshal([]byte(body), &b), body)
		if b.Finished == 1 {
			require.Zero(t, *b.BuildStatus, body)
			break
		}
		require.True(t, time.Now().Before(deadline), "build %s did not finish", id)
		time.Sleep(200 * time.Millisecond)
	}

	_, envelope := poll(u.base+"/build/"+id+"/provenance", http.StatusOK)
	_, keyPEM := poll(u.base+"/provenance/key", http.StatusOK)
	payload := verifyDSSE(t, []byte(envelope), []byte(keyPEM))

	var st struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate struct {
			BuildDefinition struct {
				ExternalParameters struct {
					Project string `json:"project"`
					Job     string `json:"job"`
					Inputs  []struct {
						Name  string `json:"name"`
						Value string `json:"value"`
					} `json:"inputs"`
				} `json:"externalParameters"`
				ResolvedDependencies []struct {
					Name        string            `json:"name"`
					Digest      map[string]string `json:"digest"`
					Annotations struct {
						Kind string `json:"kind"`
					} `json:"annotations"`
				} `json:"resolvedDependencies"`
			} `json:"buildDefinition"`
			RunDetails struct {
				Builder struct {
					ID string `json:"id"`
				} `json:"builder"`
			} `json:"runDetails"`
		} `json:"predicate"`
	}
	require.NoError(t, json.Unmarshal(payload, &st))
	require.Equal(t, "https://in-toto.io/Statement/v1", st.Type)
	require.Equal(t, "https://slsa.dev/provenance/v1", st.PredicateType)
	require.Equal(t, "prov", st.Predicate.BuildDefinition.ExternalParameters.Project)
	require.Equal(t, "top", st.Predicate.BuildDefinition.ExternalParameters.Job)
	require.Equal(t, "localhost", st.Predicate.RunDetails.Builder.ID)
	kinds := map[string]int{}
	var sources []string
	for _, d := range st.Predicate.BuildDefinition.ResolvedDependencies {
		kinds[d.Annotations.Kind]++
		if d.Annotations.Kind == "source" {
			sources = append(sources, path.Base(d.Name)[33:])
		}
		if d.Annotations.Kind == "output" && strings.Contains(d.Name, "prov-dep-") {
			require.Len(t, d.Digest["sha256"], 64, "the dependency built here has its NAR hash")
		}
	}
	require.Equal(t, 1, kinds["derivation"])
	require.ElementsMatch(t, []string{"build.sh", "busybox"}, sources)
	require.Equal(t, 3, kinds["output"], "out, doc and the dependency's out")
	require.Len(t, st.Subject, 2, "out and doc")

	pk, err := os.ReadFile(filepath.Join(u.home, "cache-key.pub"))
	require.NoError(t, err)
	for _, s := range st.Subject {
		hp := path.Base(s.Name)[:32]
		_, narinfo := poll(u.base+"/nix-cache/"+hp+".narinfo", http.StatusOK)
		nh := regexp.MustCompile(`(?m)^NarHash: (\S+)$`).FindStringSubmatch(narinfo)
		require.NotNil(t, nh, narinfo)
		h, err := nixhash.ParseAny(nh[1], nil)
		require.NoError(t, err)
		require.Equal(t, h.Format(nixhash.Base16, false), s.Digest["sha256"], "%s: the subject's digest is the cache's NAR hash", s.Name)

		// The publisher stores the envelope within a few seconds.
		for !strings.Contains(narinfo, "\nProvenance: "+hp+".provenance.json\n") {
			require.True(t, time.Now().Before(deadline), "the narinfo of %s never named its provenance:\n%s", s.Name, narinfo)
			time.Sleep(200 * time.Millisecond)
			_, narinfo = poll(u.base+"/nix-cache/"+hp+".narinfo", http.StatusOK)
		}
		_, inCache := poll(u.base+"/nix-cache/"+hp+".provenance.json", http.StatusOK)
		require.Equal(t, envelope, inCache, "the cache holds the envelope the web serves")

		copyTo := filepath.Join(t.TempDir(), "store")
		cp := exec.Command("nix", "--extra-experimental-features", "nix-command", "copy", "--from", u.base+"/nix-cache", "--to", copyTo,
			"--option", "require-sigs", "true", "--option", "trusted-public-keys", strings.TrimSpace(string(pk)),
			"--option", "substituters", "", s.Name)
		cp.Env = append(os.Environ(), nixConf, "XDG_CACHE_HOME="+t.TempDir())
		cpOut, err := cp.CombinedOutput()
		require.NoError(t, err, "nix copy of %s from the cache whose narinfo names its provenance: %s", s.Name, cpOut)
	}

	dir := t.TempDir()
	envFile, keyFile, badFile := filepath.Join(dir, "env.json"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(envFile, []byte(envelope), 0o644))
	require.NoError(t, os.WriteFile(keyFile, []byte(keyPEM), 0o644))
	verified := cli("provenance", "verify", envFile, "--pubkey", keyFile)
	require.Contains(t, verified, "verified: "+envFile)
	bad := bytes.Replace([]byte(envelope), []byte(`"payload":"`), []byte(`"payload":"AA`), 1)
	require.NoError(t, os.WriteFile(badFile, bad, 0o644))
	cmd := exec.Command(u.bin, "provenance", "verify", badFile, "--pubkey", keyFile)
	badOut, err := cmd.CombinedOutput()
	require.Error(t, err, "an altered envelope is refused: %s", badOut)
	u.stop(t)
}

// verifyDSSE checks a DSSE envelope as the DSSE protocol specification
// defines it, independently of domain/provenance: PAE(type, body) =
// "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths as ASCII
// decimal; one signature must verify with the PKIX Ed25519 key in PEM.
// It returns the payload.
func verifyDSSE(t *testing.T, envelope, keyPEM []byte) []byte {
	t.Helper()
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   string `json:"sig"`
		} `json:"signatures"`
	}
	require.NoError(t, json.Unmarshal(envelope, &env))
	require.Equal(t, "application/vnd.in-toto+json", env.PayloadType)
	body, err := base64.StdEncoding.DecodeString(env.Payload)
	require.NoError(t, err)
	block, _ := pem.Decode(keyPEM)
	require.NotNil(t, block)
	require.Equal(t, "PUBLIC KEY", block.Type)
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	require.NoError(t, err)
	pub, ok := k.(ed25519.PublicKey)
	require.True(t, ok, "an Ed25519 key, got %T", k)
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(env.PayloadType), env.PayloadType, len(body), body)
	require.NotEmpty(t, env.Signatures)
	for _, s := range env.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		require.NoError(t, err)
		if ed25519.Verify(pub, []byte(pae), sig) {
			return body
		}
	}
	t.Fatalf("no signature of the envelope verifies with the published key")
	return nil
}
