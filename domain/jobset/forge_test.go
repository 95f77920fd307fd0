package jobset

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseForgeInput(t *testing.T) {
	tests := []struct {
		typ, value string
		want       ForgeInput
		bad        bool
	}{
		{typ: "githubpulls", value: "NixOS nixpkgs", want: ForgeInput{Type: "githubpulls", Owner: "NixOS", Repo: "nixpkgs"}},
		{typ: "githubpulls", value: " acme  x.y-z ", want: ForgeInput{Type: "githubpulls", Owner: "acme", Repo: "x.y-z"}},
		{typ: "githubpulls", value: "acme", bad: true},
		{typ: "githubpulls", value: "acme ../../user", bad: true},
		{typ: "githubpulls", value: "acme x?per_page=1", bad: true},
		{typ: "githubpulls", value: "acme ..", bad: true},
		{typ: "github_refs", value: "acme x heads - release-", want: ForgeInput{Type: "github_refs", Owner: "acme", Repo: "x", RefType: "heads", Prefix: "release-"}},
		{typ: "github_refs", value: "acme x tags -", want: ForgeInput{Type: "github_refs", Owner: "acme", Repo: "x", RefType: "tags"}},
		{typ: "github_refs", value: "acme x notes - a", bad: true},
		{typ: "github_refs", value: "acme x heads - ../../../user", bad: true},
		{typ: "github_refs", value: "acme x heads - a?b", bad: true},
		{typ: "gitlabpulls", value: "https://gitlab.example/ 42", want: ForgeInput{Type: "gitlabpulls", BaseURL: "https://gitlab.example", ProjectID: "42"}},
		{typ: "gitlabpulls", value: "https://gitlab.example group%2Fx", bad: true},
		{typ: "gitlabpulls", value: "file:///etc 42", bad: true},
		{typ: "gitlabpulls", value: "https://u:p@gitlab.example 42", bad: true},
		{typ: "giteapulls", value: "https://gitea.example/sub acme x", want: ForgeInput{Type: "giteapulls", BaseURL: "https://gitea.example/sub", Owner: "acme", Repo: "x"}},
		{typ: "giteapulls", value: "https://gitea.example?x=1 acme x", bad: true},
		{typ: "giteapulls", value: "https://gitea.example acme", bad: true},
		{typ: "git", value: "https://x", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseForgeInput(tt.typ, tt.value)
		if tt.bad {
			require.Error(t, err, "%s %q", tt.typ, tt.value)
			continue
		}
		require.NoError(t, err, "%s %q", tt.typ, tt.value)
		require.Equal(t, tt.want, got)
	}
}

func FuzzParseForgeInput(f *testing.F) {
	f.Add("githubpulls", "acme x")
	f.Add("github_refs", "acme x heads - rel")
	f.Add("gitlabpulls", "https://gitlab.example 1")
	f.Add("giteapulls", "https://gitea.example acme x")
	f.Fuzz(func(t *testing.T, typ, value string) {
		in, err := ParseForgeInput(typ, value)
		if err != nil {
			return
		}
		for _, s := range []string{in.Owner, in.Repo, in.ProjectID} {
			require.NotContains(t, s, "/")
			require.NotContains(t, s, "?")
		}
		require.NotContains(t, in.Prefix, "..")
	})
}
