package jobset

import (
	"net/url"
	"strings"
)

// flakeHosts are the hosts of the flake reference shorthands
// ("github:owner/repo/ref"): the reference names the repository with its
// first two path segments.
var flakeHosts = map[string]string{"github": "github.com", "gitlab": "gitlab.com", "sourcehut": "git.sr.ht"}

// localSchemes name no remote repository (flake references and URLs).
var localSchemes = map[string]bool{"path": true, "file": true, "tarball": true, "flake": true, "http": true, "https": true}

// RepoKey returns the canonical name of the remote repository ref names,
// "host/path", or "" when it names none (a local path, a file:// URL,
// something unparsable). Two references to the same repository get the
// same key whichever form they take: https://, ssh://, git://,
// scp-like user@host:path, git+ flake URLs, the github: and gitlab:
// shorthands, and a scheme-less host/path. The host is lowered and its
// port dropped; the path keeps its case but loses a trailing "/" or
// ".git", a query and a fragment. A Hydra git input's value may name a
// branch after the URL: only the first field counts.
//
// Webhooks find the jobsets of a pushed repository by equal keys, so
// that acme/x never matches acme/x-private.
func RepoKey(ref string) string {
	fields := strings.Fields(ref)
	if len(fields) == 0 {
		return ""
	}
	s := strings.TrimPrefix(fields[0], "git+")
	var host, path string
	scheme, rest, ok := strings.Cut(s, ":")
	ok = ok && scheme != "" && !strings.Contains(scheme, "/")
	switch {
	case ok && flakeHosts[strings.ToLower(scheme)] != "" && !strings.HasPrefix(rest, "//"):
		host = flakeHosts[strings.ToLower(scheme)]
		path, _, _ = strings.Cut(rest, "?")
		if parts := strings.SplitN(path, "/", 3); len(parts) >= 2 {
			path = parts[0] + "/" + parts[1]
		}
	case ok && strings.HasPrefix(rest, "//"):
		u, err := url.Parse(s)
		if err != nil {
			return ""
		}
		switch strings.ToLower(u.Scheme) {
		case "http", "https", "ssh", "git":
		default:
			return ""
		}
		host, path = u.Hostname(), u.Path
	case ok && localSchemes[strings.ToLower(scheme)]:
	case ok:
		// scp-like: [user@]host:path
		host, path = scheme, rest
	case !strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "."):
		host, path, _ = strings.Cut(s, "/")
	}
	if _, h, found := strings.Cut(host, "@"); found {
		host = h
	}
	path, _, _ = strings.Cut(path, "#")
	path, _, _ = strings.Cut(path, "?")
	for trimmed := ""; trimmed != path; {
		trimmed = path
		path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	}
	host = strings.TrimRight(strings.ToLower(host), ".")
	// A host is a DNS name (IPv6 literals are not matched).
	const hostChars = "abcdefghijklmnopqrstuvwxyz0123456789.-_"
	if host == "" || path == "" || strings.ContainsAny(path, " \t\n") || strings.TrimLeft(host, hostChars) != "" ||
		strings.IndexByte(hostChars[:36], host[0]) < 0 {
		return ""
	}
	return host + "/" + path
}
