package forgestatus

import (
	"fmt"
	"regexp"
	"strings"

	"buildledger/domain/hydraconf"
)

// Config is what hydra.conf says about commit statuses, under Hydra's
// names: <githubstatus> sections, <gitea_authorization>,
// <gitlab_authorization>, enable_bitbucket_status with <bitbucket>.
type Config struct {
	// BaseURL is base_uri (--base-url), the target of every status.
	BaseURL string
	GitHub  []GitHub
	// Gitea, GitLab and BitBucket are on as Hydra's plugins are: when
	// their section (or switch) is in the file.
	Gitea, GitLab, BitBucket bool
}

// GitHub is one <githubstatus> section.
type GitHub struct {
	// Index numbers the section, naming its authorization
	// ("githubstatus/0").
	Index int
	// Jobs matches project:jobset:job, anchored at both ends.
	Jobs *regexp.Regexp
	// Inputs are the jobset inputs whose repositories get the status
	// (legacy jobsets; a flake's own repository gets it otherwise).
	Inputs                  []string
	Context, Description    string
	ExcludeBuildFromContext bool
	UseShortContext         bool
}

// Enabled reports whether any forge gets statuses.
func (c Config) Enabled() bool { return len(c.GitHub) > 0 || c.Gitea || c.GitLab || c.BitBucket }

// ConfigFrom reads the kept sections of a hydra.conf.
func ConfigFrom(k hydraconf.Kept, baseURL string) (Config, error) {
	if baseURL == "" {
		baseURL = "http://localhost:3000" // Hydra's default
	}
	c := Config{BaseURL: strings.TrimRight(baseURL, "/"), Gitea: len(k.Authorization["gitea_authorization"]) > 0,
		GitLab: len(k.Authorization["gitlab_authorization"]) > 0, BitBucket: k.EnableBitBucketStatus && k.BitBucket != nil}
	for i, b := range k.GithubStatus {
		jobs := first(b, "jobs")
		if jobs == "" {
			return Config{}, fmt.Errorf("<githubstatus> %d: jobs is required (a regular expression over project:jobset:job)", i+1)
		}
		re, err := regexp.Compile("^(?:" + jobs + ")$")
		if err != nil {
			return Config{}, fmt.Errorf("<githubstatus> %d: jobs: %w", i+1, err)
		}
		c.GitHub = append(c.GitHub, GitHub{Index: i, Jobs: re, Inputs: b.Get("inputs"), Context: first(b, "context"),
			Description: first(b, "description"), ExcludeBuildFromContext: truthy(first(b, "excludeBuildFromContext")),
			UseShortContext: truthy(first(b, "useShortContext"))})
	}
	return c, nil
}

func first(b *hydraconf.Block, key string) string {
	if v := b.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// truthy is Perl's truth of a config value.
func truthy(v string) bool { return v != "" && v != "0" }
