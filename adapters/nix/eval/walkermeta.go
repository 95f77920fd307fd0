package eval

import (
	"bytes"
	"encoding/json"
	"strings"

	"buildledger/events"
)

// walkerMeta is the meta walker.nix returns: only the attributes Hydra
// records, normalised (strings, ints, bools, lists of names), decoded
// without the cost of generic JSON maps.
type walkerMeta struct {
	Description        *string    `json:"description"`
	Homepage           *string    `json:"homepage"`
	License            []nameItem `json:"license"`
	Maintainers        []nameItem `json:"maintainers"`
	Timeout            *int       `json:"timeout"`
	MaxSilent          *int       `json:"maxSilent"`
	SchedulingPriority *int       `json:"schedulingPriority"`
	IsHydraChannel     *bool      `json:"isHydraChannel"`
	IsChannel          *bool      `json:"isChannel"`
}

// nameItem is a license or maintainer: a string or a set of names.
type nameItem struct {
	Plain     string
	ShortName string `json:"shortName"`
	FullName  string `json:"fullName"`
	SpdxID    string `json:"spdxId"`
	Email     string `json:"email"`
}

// UnmarshalJSON accepts a string, an object or null.
func (n *nameItem) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &n.Plain)
	}
	type plain nameItem
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*n = nameItem(p)
	return nil
}

// jobMeta applies the same rules as jobMeta on generic JSON.
func (m walkerMeta) jobMeta() events.JobMeta {
	jm := events.JobMeta{
		SchedulingPriority: DefaultSchedulingPriority,
	}
	if m.Description != nil {
		jm.Description = *m.Description
	}
	if m.Homepage != nil {
		jm.Homepage = *m.Homepage
	}
	jm.License = joinNames(m.License, func(n nameItem) string { return firstNonEmpty(n.ShortName, n.FullName, n.SpdxID) })
	jm.Maintainers = joinNames(m.Maintainers, func(n nameItem) string { return n.Email })
	if m.Timeout != nil {
		jm.Timeout = *m.Timeout
	}
	if m.MaxSilent != nil {
		jm.MaxSilent = *m.MaxSilent
	}
	if m.SchedulingPriority != nil {
		jm.SchedulingPriority = *m.SchedulingPriority
	}
	if m.IsHydraChannel != nil {
		jm.IsChannel = *m.IsHydraChannel
	} else if m.IsChannel != nil {
		jm.IsChannel = *m.IsChannel
	}
	return jm
}

func joinNames(items []nameItem, of func(nameItem) string) string {
	var parts []string
	for _, it := range items {
		s := it.Plain
		if s == "" {
			s = of(it)
		}
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
