package jobset

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// ForgeInput is the parsed value of a pull-request or refs input, whose
// fetch asks a forge's API for the open pull requests or the matching
// refs of one repository.
type ForgeInput struct {
	// Type is the input type: githubpulls, github_refs, gitlabpulls or
	// giteapulls.
	Type string
	// BaseURL is the forge's address for gitlabpulls and giteapulls
	// (without a trailing slash); GitHub's is the operator's endpoint.
	BaseURL string
	// Owner and Repo name a GitHub or Gitea repository.
	Owner, Repo string
	// ProjectID is a GitLab project's number.
	ProjectID string
	// RefType is "heads" or "tags", Prefix what the refs' names start
	// with (github_refs).
	RefType, Prefix string
}

var (
	forgeNameRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	forgeDigitsRE = regexp.MustCompile(`^[0-9]+$`)
	refPrefixRE   = regexp.MustCompile(`^[A-Za-z0-9_./-]*$`)
)

// ParseForgeInput reads the value of a forge input as Hydra's plugins
// split it, on white space:
//
//	githubpulls  OWNER REPO
//	github_refs  OWNER REPO heads|tags - [PREFIX]
//	gitlabpulls  BASE-URL PROJECT-ID
//	giteapulls   BASE-URL OWNER REPO
//
// The names end up in the path of an API request: they are restricted to
// the characters forge names have, so that none adds a path segment, a
// query or a host.
func ParseForgeInput(typ, value string) (ForgeInput, error) {
	w := strings.Fields(value)
	in := ForgeInput{Type: typ}
	name := func(what, s string) error {
		if !forgeNameRE.MatchString(s) || s == "." || s == ".." {
			return fmt.Errorf("%s %q: want letters, digits, '_', '.' or '-'", what, s)
		}
		return nil
	}
	var err error
	switch typ {
	case "githubpulls":
		if len(w) != 2 {
			return in, fmt.Errorf("githubpulls value %q: want OWNER REPO", value)
		}
		in.Owner, in.Repo = w[0], w[1]
	case "github_refs":
		if len(w) != 4 && len(w) != 5 {
			return in, fmt.Errorf("github_refs value %q: want OWNER REPO heads|tags - [PREFIX]", value)
		}
		in.Owner, in.Repo, in.RefType = w[0], w[1], w[2]
		if len(w) == 5 {
			in.Prefix = w[4]
		}
		if in.RefType != "heads" && in.RefType != "tags" {
			return in, fmt.Errorf("github_refs value %q: the type %q is neither heads nor tags", value, in.RefType)
		}
		if !refPrefixRE.MatchString(in.Prefix) || strings.Contains(in.Prefix, "..") || strings.HasPrefix(in.Prefix, "/") {
			return in, fmt.Errorf("github_refs value %q: the prefix %q is not a ref name's start", value, in.Prefix)
		}
	case "gitlabpulls":
		if len(w) != 2 {
			return in, fmt.Errorf("gitlabpulls value %q: want BASE-URL PROJECT-ID", value)
		}
		in.ProjectID = w[1]
		if !forgeDigitsRE.MatchString(in.ProjectID) {
			return in, fmt.Errorf("gitlabpulls value %q: the project id %q is not a number", value, in.ProjectID)
		}
		in.BaseURL, err = forgeBaseURL(w[0])
		return in, err
	case "giteapulls":
		if len(w) != 3 {
			return in, fmt.Errorf("giteapulls value %q: want BASE-URL OWNER REPO", value)
		}
		in.Owner, in.Repo = w[1], w[2]
		if in.BaseURL, err = forgeBaseURL(w[0]); err != nil {
			return in, err
		}
	default:
		return in, fmt.Errorf("%q is not a forge input type", typ)
	}
	if err := name("owner", in.Owner); err != nil {
		return in, err
	}
	return in, name("repository", in.Repo)
}

// forgeBaseURL checks a forge's address: http or https, a host, no
// user, query or fragment. It is returned without a trailing slash.
func forgeBaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.Contains(u.Path, "..") {
		return "", fmt.Errorf("forge address %q: want http(s)://host[/path]", s)
	}
	return strings.TrimRight(s, "/"), nil
}
