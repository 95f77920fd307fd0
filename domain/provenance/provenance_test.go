package provenance_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixhash"
	"github.com/stretchr/testify/require"

	"buildledger/domain/provenance"
)

func TestSHA256Hex(t *testing.T) {
	sum := sha256.Sum256([]byte("nar"))
	h := nixhash.MustNewHashWithEncoding(nixhash.SHA256, sum[:], nixhash.NixBase32, true)
	want := h.Format(nixhash.Base16, false)
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{"nixbase32", h.Format(nixhash.NixBase32, true), want, ""},
		{"base16", h.Format(nixhash.Base16, true), want, ""},
		{"base64", h.Format(nixhash.Base64, true), want, ""},
		{"sri", "sha256-" + h.Format(nixhash.Base64, false), want, ""},
		{"md5", "md5:00000000000000000000000000000000", "", "want sha256"},
		{"short", "sha256:000", "", "no encoded length"},
		{"bad char", "sha256:" + "e" + h.Format(nixhash.NixBase32, false)[1:], "", "invalid character"},
		{"padding", "sha256:z" + h.Format(nixhash.NixBase32, false)[1:], "", "padding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := provenance.SHA256Hex(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func FuzzSHA256Hex(f *testing.F) {
	f.Add("sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s")
	f.Add("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := provenance.SHA256Hex(s)
		if err != nil {
			return
		}
		// Whatever decodes is a digest Nix's own parser reads the same.
		h, perr := nixhash.ParseAny(s, nil)
		require.NoError(t, perr)
		require.Equal(t, h.Format(nixhash.Base16, false), got)
	})
}

func sampleBuild() provenance.Build {
	return provenance.Build{
		BuildID: 7, EvalID: 3, Project: "p", Jobset: "j", Job: "hello", DrvPath: "/nix/store/aaa-hello.drv", System: "x86_64-linux",
		Outputs: []provenance.Output{
			{Name: "out", Path: "/nix/store/bbb-hello", NarHash: "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"},
			{Name: "dev", Path: "/nix/store/abb-hello-dev", NarHash: "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
		},
		Inputs: []provenance.Input{{Name: "src", Type: "git", URI: "https://example.org/r.git", Revision: "abc"}, {Name: "nixpkgs", Type: "path", Value: "/x"}},
		Deps: []provenance.Dependency{{Kind: "source", Path: "/nix/store/ccc-builder.sh"},
			{Kind: "output", Path: "/nix/store/ddd-busybox", Drv: "/nix/store/eee-busybox.drv", Output: "out", NarHash: "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"}},
		Run:       provenance.Run{Machine: "localhost", BuildID: 7, StepNr: 1, Attempt: 1, StartTime: 100, StopTime: 160},
		Positions: []uint64{9, 3, 12, 3},
	}
}

func TestStatementIsDeterministic(t *testing.T) {
	a := sampleBuild()
	first, err := provenance.Statement(a)
	require.NoError(t, err)
	// The same facts in another order give the same bytes.
	b := sampleBuild()
	b.Outputs[0], b.Outputs[1] = b.Outputs[1], b.Outputs[0]
	b.Inputs[0], b.Inputs[1] = b.Inputs[1], b.Inputs[0]
	b.Deps[0], b.Deps[1] = b.Deps[1], b.Deps[0]
	second, err := provenance.Statement(b)
	require.NoError(t, err)
	require.Equal(t, string(first), string(second))

	var st struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate struct {
			BuildDefinition struct {
				BuildType string `json:"buildType"`
			} `json:"buildDefinition"`
			RunDetails struct {
				Builder struct {
					ID string `json:"id"`
				} `json:"builder"`
				Metadata struct {
					InvocationID string `json:"invocationId"`
					StartedOn    string `json:"startedOn"`
				} `json:"metadata"`
				Byproducts []struct {
					Annotations struct {
						Positions []uint64 `json:"positions"`
					} `json:"annotations"`
				} `json:"byproducts"`
			} `json:"runDetails"`
		} `json:"predicate"`
	}
	require.NoError(t, json.Unmarshal(first, &st))
	require.Equal(t, "https://in-toto.io/Statement/v1", st.Type)
	require.Equal(t, "https://slsa.dev/provenance/v1", st.PredicateType)
	require.Equal(t, provenance.BuildType, st.Predicate.BuildDefinition.BuildType)
	require.Len(t, st.Subject, 2)
	require.Equal(t, "/nix/store/abb-hello-dev", st.Subject[0].Name)
	require.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", st.Subject[0].Digest["sha256"])
	require.Equal(t, "localhost", st.Predicate.RunDetails.Builder.ID)
	require.Equal(t, "build/7/step/1/attempt/1", st.Predicate.RunDetails.Metadata.InvocationID)
	require.Equal(t, "1970-01-01T00:01:40Z", st.Predicate.RunDetails.Metadata.StartedOn)
	require.Equal(t, []uint64{3, 9, 12}, st.Predicate.RunDetails.Byproducts[0].Annotations.Positions)
}

func TestStatementRefusesIncompleteBuilds(t *testing.T) {
	for name, mod := range map[string]func(*provenance.Build){
		"no outputs":   func(b *provenance.Build) { b.Outputs = nil },
		"no run":       func(b *provenance.Build) { b.Run = provenance.Run{} },
		"bad nar hash": func(b *provenance.Build) { b.Outputs[0].NarHash = "sha256:nope" },
	} {
		t.Run(name, func(t *testing.T) {
			b := sampleBuild()
			mod(&b)
			_, err := provenance.Statement(b)
			require.Error(t, err)
		})
	}
}

func TestSignVerify(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	otherPub, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	st, err := provenance.Statement(sampleBuild())
	require.NoError(t, err)
	env, err := provenance.Sign(key, st)
	require.NoError(t, err)
	again, err := provenance.Sign(key, st)
	require.NoError(t, err)
	require.Equal(t, env, again, "signing is deterministic")

	got, err := provenance.Verify(pub, env)
	require.NoError(t, err)
	require.Equal(t, st, got)

	_, err = provenance.Verify(otherPub, env)
	require.ErrorIs(t, err, provenance.ErrBadSignature)

	var e provenance.Envelope
	require.NoError(t, json.Unmarshal(env, &e))
	e.Payload = append([]byte(nil), e.Payload...)
	e.Payload[len(e.Payload)-2] ^= 1
	tampered, err := json.Marshal(e)
	require.NoError(t, err)
	_, err = provenance.Verify(pub, tampered)
	require.ErrorIs(t, err, provenance.ErrBadSignature, "an altered payload does not verify")

	require.NoError(t, json.Unmarshal(env, &e))
	e.PayloadType = "text/plain"
	retyped, err := json.Marshal(e)
	require.NoError(t, err)
	_, err = provenance.Verify(pub, retyped)
	require.Error(t, err, "another payload type is refused")

	k, err := provenance.ParsePublicKeyPEM(provenance.PublicKeyPEM(pub))
	require.NoError(t, err)
	require.Equal(t, pub, k)
}

func TestPAE(t *testing.T) {
	// The example of the DSSE protocol specification.
	require.Equal(t, "DSSEv1 29 http://example.com/HelloWorld 11 hello world",
		string(provenance.PAE("http://example.com/HelloWorld", []byte("hello world"))))
}
