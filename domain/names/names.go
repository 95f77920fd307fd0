// Package names holds Hydra's rules for the identifiers of projects,
// jobsets, jobs, users and jobset inputs, and the set of input types.
// The patterns are those of Hydra's web controllers (CatalystUtils and the
// Jobset controller), which the read models and URLs rely on.
package names

import (
	"regexp"
	"slices"
)

var (
	projectRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	jobsetRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	attrRE    = `[A-Za-z_][A-Za-z0-9_-]*`
	jobRE     = regexp.MustCompile(`^` + attrRE + `(?:\.` + attrRE + `)*$`)
	userRE    = regexp.MustCompile(`^[a-z][a-z0-9_.]*$`)
	inputRE   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
	pathComp  = `[A-Za-z0-9+._$-][A-Za-z0-9+._$:-]*`
	relPathRE = regexp.MustCompile(`^` + pathComp + `(?:/` + pathComp + `)*$`)
	systemRE  = regexp.MustCompile(`^[a-z0-9_]+(?:-[a-z0-9_]+)+$`)
	// storeBase is Nix's store path base name: nixbase32 hash, dash, name
	// of [A-Za-z0-9+._?=-] not starting with a dot.
	storeBase   = `[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+_?=-][A-Za-z0-9+._?=-]*`
	storeBaseRE = regexp.MustCompile(`^` + storeBase + `$`)
	drvFileRE   = regexp.MustCompile(`^` + storeBase + `\.drv$`)
)

// DeclarativeJobset is the reserved name of a declarative project's
// generator jobset; it is the only jobset name that may start with a dot.
const DeclarativeJobset = ".jobsets"

// MaxLen is the longest identifier accepted; it keeps stream names within
// events.MaxStreamNameLen.
const MaxLen = 90

// Project reports whether s is a valid project name: [A-Za-z_][A-Za-z0-9_-]*.
func Project(s string) bool { return len(s) <= MaxLen && projectRE.MatchString(s) }

// Jobset reports whether s is a valid jobset name: [A-Za-z_][A-Za-z0-9_.-]*,
// or DeclarativeJobset.
func Jobset(s string) bool {
	return s == DeclarativeJobset || len(s) <= MaxLen && jobsetRE.MatchString(s)
}

// Job reports whether s is a valid job name: attribute names joined by dots.
func Job(s string) bool { return jobRE.MatchString(s) }

// User reports whether s is a valid user name: [a-z][a-z0-9_.]*.
func User(s string) bool { return len(s) <= MaxLen && userRE.MatchString(s) }

// Input reports whether s is a valid jobset input name: a letter followed
// by letters, digits, '_' or '-' (Hydra's [[:alpha:]][\w-]*, ASCII only).
// The same rule applies to a legacy jobset's nixExprInput.
func Input(s string) bool { return inputRE.MatchString(s) }

// DrvFile reports whether s is the file name of a derivation in the Nix
// store, as in Hydra's /log/DRVFILE: it names a derivation and cannot
// climb out of the store.
func DrvFile(s string) bool { return len(s) <= 255 && drvFileRE.MatchString(s) }

// StoreBase reports whether s is the base name of a Nix store path
// (hash, dash, name): it names one store object and, with no slash, dot
// start or option dash, can neither climb out of the store nor pass as
// a command-line option.
func StoreBase(s string) bool { return len(s) <= 32+1+211 && storeBaseRE.MatchString(s) }

// RelPath reports whether s is a relative path as Hydra accepts for
// nixExprPath, without ".." components.
func RelPath(s string) bool {
	if !relPathRE.MatchString(s) {
		return false
	}
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] != '/' {
			j++
		}
		if s[i:j] == ".." {
			return false
		}
		i = j + 1
	}
	return true
}

// System reports whether s looks like a Nix system type (x86_64-linux).
func System(s string) bool { return systemRE.MatchString(s) }

// inputTypes are Hydra's built-in input types and those of its input
// plugins, and giteapulls, buildledger's Gitea counterpart of
// githubpulls (Hydra has none).
var inputTypes = []string{
	"bitbucketpulls", "boolean", "build", "bzr", "bzr-checkout", "darcs",
	"eval", "git", "giteapulls", "github_refs", "githubpulls", "gitlabpulls", "hg", "nix",
	"path", "string", "svn", "svn-checkout", "sysbuild",
}

// InputTypes returns the known jobset input types, sorted.
func InputTypes() []string { return slices.Clone(inputTypes) }

// InputType reports whether t is a known jobset input type.
func InputType(t string) bool {
	_, found := slices.BinarySearch(inputTypes, t)
	return found
}
