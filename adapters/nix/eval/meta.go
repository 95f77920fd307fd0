package eval

import (
	"math"
	"strings"

	"buildledger/events"
)

// DefaultSchedulingPriority is the priority Hydra records for a job whose
// meta lacks schedulingPriority. A missing meta.timeout or meta.maxSilent is
// recorded as 0, as Hydra stores NULL: the scheduler then applies its own
// defaults (36000 s and 3600 s, as Hydra's queue runner does).
const DefaultSchedulingPriority = 100

// jobMeta extracts the fields Hydra records from a derivation's meta, given
// as decoded JSON (the walker's normalised meta or nix-eval-jobs' full meta).
//
// license: strings, or attribute sets by shortName (else fullName, else
// spdxId), joined with ", "; maintainers: strings or the email of attribute
// sets, joined with ", "; homepage: a string or the first of a list;
// isChannel: meta.isHydraChannel (or meta.isChannel).
func jobMeta(m map[string]any) events.JobMeta {
	jm := events.JobMeta{
		Description:        firstString(m["description"]),
		Homepage:           firstString(m["homepage"]),
		License:            joinEach(m["license"], "shortName", "fullName", "spdxId"),
		Maintainers:        joinEach(m["maintainers"], "email"),
		Timeout:            intOr(m["timeout"], 0),
		MaxSilent:          intOr(m["maxSilent"], 0),
		SchedulingPriority: intOr(m["schedulingPriority"], DefaultSchedulingPriority),
	}
	if b, ok := m["isHydraChannel"].(bool); ok {
		jm.IsChannel = b
	} else if b, ok := m["isChannel"].(bool); ok {
		jm.IsChannel = b
	}
	return jm
}

func firstString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		if len(v) > 0 {
			s, _ := v[0].(string)
			return s
		}
	}
	return ""
}

// joinEach joins the elements of v (a list or a single value): strings as
// they are, objects by the first non-empty of keys.
func joinEach(v any, keys ...string) string {
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	var parts []string
	for _, it := range items {
		switch it := it.(type) {
		case string:
			if it != "" {
				parts = append(parts, it)
			}
		case map[string]any:
			for _, k := range keys {
				if s, ok := it[k].(string); ok && s != "" {
					parts = append(parts, s)
					break
				}
			}
		}
	}
	return strings.Join(parts, ", ")
}

func intOr(v any, def int) int {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return def
	}
	return int(f)
}
