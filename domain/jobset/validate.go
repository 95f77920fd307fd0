package jobset

import (
	"regexp"
	"slices"
	"strings"

	"buildledger/domain/domainerr"
	"buildledger/domain/names"
	"buildledger/events"
)

var (
	flakeRE  = regexp.MustCompile(`^[A-Za-z]`)
	evalRefs = []*regexp.Regexp{
		regexp.MustCompile(`^[0-9]+$`),
		regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*:[A-Za-z_][A-Za-z0-9_.-]*$`),
		regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*:[A-Za-z_][A-Za-z0-9_.-]*:[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*$`),
	}
)

// MinCheckInterval is the shortest polling interval a jobset may have, in
// seconds. Every check fetches the inputs and may append to the log, and a
// jobset's configuration is in the hands of its project's members: a
// minimum keeps one jobset from making the evaluator poll without pause.
// It is Hydra's default interval's order of magnitude, and requests
// (pushes, webhooks, "Evaluate") are not subject to it.
const MinCheckInterval = 60

// EffectiveCheckInterval is the interval, in seconds, at which a jobset
// configured with seconds is polled: 0 (no polling) stays 0, and a
// positive value below MinCheckInterval, which a log written before the
// minimum existed may hold, counts as MinCheckInterval. The recorded
// configuration is left as it was, so old logs replay unchanged.
func EffectiveCheckInterval(seconds int) int {
	if seconds <= 0 {
		return 0
	}
	return max(seconds, MinCheckInterval)
}

// ValidateName checks a jobset name against Hydra's rule.
func ValidateName(name string) error {
	if !names.Jobset(name) {
		return domainerr.Invalid("name", "invalid jobset identifier %q: want a letter or '_' followed by letters, digits, '_', '-' or '.'", name)
	}
	return nil
}

// Normalize trims and checks the configuration of jobset name, and sorts
// its inputs by name. Rules (Hydra's Jobset controller and schema CHECKs):
// a legacy jobset (type 0) names in NixExprInput one of its inputs and has
// a relative NixExprPath and no Flake; a flake jobset (type 1) has a Flake
// starting with a letter, no NixExprInput, NixExprPath or inputs;
// Enabled is 0..3, SchedulingShares > 0, VerifyFraction in [0, 1], CheckInterval 0 or at least
// MinCheckInterval, KeepNr >= 0;
// inputs have valid, distinct names, known types, and boolean inputs are
// "true" or "false", eval inputs an id, project:jobset or
// project:jobset:job. The declarative generator jobset ".jobsets" may
// leave the expression empty.
func Normalize(name string, c events.JobsetConfig) (events.JobsetConfig, error) {
	c.Description = strings.TrimSpace(c.Description)
	c.NixExprInput = strings.TrimSpace(c.NixExprInput)
	c.NixExprPath = strings.TrimSpace(c.NixExprPath)
	c.Flake = strings.TrimSpace(c.Flake)
	c.EmailOverride = strings.TrimSpace(c.EmailOverride)
	inputs, err := normalizeInputs(c.Inputs)
	if err != nil {
		return c, err
	}
	c.Inputs = inputs
	switch c.Type {
	case TypeLegacy:
		if err := checkLegacy(name, c); err != nil {
			return c, err
		}
	case TypeFlake:
		switch {
		case !flakeRE.MatchString(c.Flake):
			return c, domainerr.Invalid("flake", "invalid flake URI %q", c.Flake)
		case c.NixExprInput != "":
			return c, domainerr.Invalid("nixExprInput", "a flake jobset has no Nix expression input")
		case c.NixExprPath != "":
			return c, domainerr.Invalid("nixExprPath", "a flake jobset has no Nix expression path")
		case len(c.Inputs) > 0:
			return c, domainerr.Invalid("inputs", "a flake jobset takes no inputs")
		}
	default:
		return c, domainerr.Invalid("type", "invalid jobset type %d: want 0 (legacy) or 1 (flake)", c.Type)
	}
	switch {
	case c.Enabled < Disabled || c.Enabled > maxEnabled:
		return c, domainerr.Invalid(fieldEnabled, "%d is not 0 (disabled), 1 (enabled), 2 (one-shot) or 3 (one-at-a-time)", c.Enabled)
	case c.SchedulingShares <= 0:
		return c, domainerr.Invalid("schedulingShares", "the number of scheduling shares must be positive, not %d", c.SchedulingShares)
	case !(c.VerifyFraction >= 0 && c.VerifyFraction <= 1):
		return c, domainerr.Invalid("verifyFraction", "must be between 0 and 1, not %v", c.VerifyFraction)
	case c.CheckInterval < 0 || c.CheckInterval > 0 && c.CheckInterval < MinCheckInterval:
		return c, domainerr.Invalid("checkInterval", "must be 0 (no polling) or at least %d seconds, not %d", MinCheckInterval, c.CheckInterval)
	case c.KeepNr < 0:
		return c, domainerr.Invalid("keepNr", "must be >= 0, not %d", c.KeepNr)
	}
	return c, nil
}

func checkLegacy(name string, c events.JobsetConfig) error {
	if c.Flake != "" {
		return domainerr.Invalid("flake", "a legacy jobset has no flake")
	}
	if name == names.DeclarativeJobset && c.NixExprInput == "" && c.NixExprPath == "" {
		return nil
	}
	if !names.RelPath(c.NixExprPath) {
		return domainerr.Invalid("nixExprPath", "invalid Nix expression path %q: want a relative path without '..'", c.NixExprPath)
	}
	if !names.Input(c.NixExprInput) {
		return domainerr.Invalid("nixExprInput", "invalid Nix expression input name %q", c.NixExprInput)
	}
	if !slices.ContainsFunc(c.Inputs, func(in events.JobsetInput) bool { return in.Name == c.NixExprInput }) {
		return domainerr.Invalid("nixExprInput", "%q is not one of the jobset's inputs", c.NixExprInput)
	}
	return nil
}

// supportedInputTypes are the input types of Hydra's (names.InputTypes)
// that buildledger fetches, sorted. A jobset using another is refused when
// it is saved, rather than failing every evaluation.
var supportedInputTypes = []string{"boolean", "build", "darcs", "eval", "git", "giteapulls", "github_refs", "githubpulls",
	"gitlabpulls", "hg", "nix", "path", "string", "svn", "sysbuild"}

// SupportedInputTypes returns the input types a jobset may use, sorted.
func SupportedInputTypes() []string { return slices.Clone(supportedInputTypes) }

func normalizeInputs(in []events.JobsetInput) ([]events.JobsetInput, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]events.JobsetInput, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, x := range in {
		x.Name = strings.TrimSpace(x.Name)
		field := "inputs." + x.Name
		switch {
		case !names.Input(x.Name):
			return nil, domainerr.Invalid("inputs", "invalid input name %q", x.Name)
		case seen[x.Name]:
			return nil, domainerr.Invalid(field, "duplicate input %q", x.Name)
		case !names.InputType(x.Type):
			return nil, domainerr.Invalid(field+".type", "invalid input type %q; valid types: %s", x.Type, strings.Join(names.InputTypes(), ", "))
		case !slices.Contains(supportedInputTypes, x.Type):
			return nil, domainerr.Invalid(field+".type", "input type %q is not supported yet; supported types: %s",
				x.Type, strings.Join(supportedInputTypes, ", "))
		}
		seen[x.Name] = true
		if x.Type != "string" {
			x.Value = strings.TrimSpace(x.Value)
		}
		switch x.Type {
		case "boolean":
			if x.Value != "true" && x.Value != "false" {
				return nil, domainerr.Invalid(field+".value", "%q is not a Boolean ('true' or 'false')", x.Value)
			}
		case "githubpulls", "github_refs", "gitlabpulls", "giteapulls":
			if _, err := ParseForgeInput(x.Type, x.Value); err != nil {
				return nil, domainerr.Invalid(field+".value", "%v", err)
			}
		case "eval":
			if !slices.ContainsFunc(evalRefs, func(re *regexp.Regexp) bool { return re.MatchString(x.Value) }) {
				return nil, domainerr.Invalid(field+".value", "%q does not name an evaluation: want an id, <project>:<jobset> or <project>:<jobset>:<job>", x.Value)
			}
		}
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b events.JobsetInput) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
