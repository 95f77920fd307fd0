package nixsupport

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Metric is one line of hydra-metrics.
type Metric struct {
	// Name matches [a-zA-Z0-9._-]+.
	Name string
	// Value is a finite number.
	Value float64
	// Unit matches [a-zA-Z0-9._%-]+, or is empty.
	Unit string
	// Line is the line the value comes from.
	Line int
}

// ParseMetrics reads a hydra-metrics file: lines "NAME VALUE [UNIT]"
// separated by white space. NAME must match [a-zA-Z0-9._-]+ and VALUE be a
// finite decimal number, else the line is skipped; a UNIT outside
// [a-zA-Z0-9._%-]+ is dropped and the metric kept, and fields after UNIT
// are ignored, as Hydra does. When a
// name repeats, the later line wins: the metric keeps the place of its
// first line and the earlier lines are reported as skipped.
//
// A read error or a file over lim.MaxBytes stops reading and is returned
// together with the metrics parsed before it.
func ParseMetrics(r io.Reader, lim Limits) (metrics []Metric, skipped []Skipped, err error) {
	index := map[string]int{}
	var overridden []Skipped
	skipped, err = scanLines(r, lim, func(no int, line string) error {
		m, err := parseMetricLine(line)
		if err != nil {
			return err
		}
		m.Line = no
		if i, ok := index[m.Name]; ok {
			old := metrics[i]
			overridden = append(overridden, newSkipped(old.Line, "", fmt.Sprintf("metric %q overridden by line %d", m.Name, no)))
			metrics[i] = m
			return nil
		}
		index[m.Name] = len(metrics)
		metrics = append(metrics, m)
		return nil
	})
	skipped = append(skipped, overridden...)
	sortSkipped(skipped)
	if err != nil {
		return metrics, skipped, fmt.Errorf("parse %s: %w", MetricsFile, err)
	}
	return metrics, skipped, nil
}

func parseMetricLine(line string) (Metric, error) {
	name, rest := nextField(line)
	value, rest := nextField(rest)
	unit, _ := nextField(rest)
	if value == "" {
		return Metric{}, errors.New("expected NAME VALUE [UNIT]")
	}
	if !matches(name, false, isMetricNameChar) {
		return Metric{}, fmt.Errorf("name %q has characters outside [a-zA-Z0-9._-]", name)
	}
	v, err := parseValue(value)
	if err != nil {
		return Metric{}, err
	}
	if !matches(unit, true, isUnitChar) {
		unit = ""
	}
	return Metric{Name: name, Value: v, Unit: unit}, nil
}

// parseValue accepts a finite decimal number (no hex, no inf or nan).
func parseValue(s string) (float64, error) {
	if !matches(s, false, func(c byte) bool { return ('0' <= c && c <= '9') || strings.IndexByte(".eE+-", c) >= 0 }) {
		return 0, fmt.Errorf("value %q is not a decimal number", s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("value %q is not a number", s)
	}
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("value %q is not finite", s)
	}
	return v, nil
}

func isMetricNameChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '-'
}

func isUnitChar(c byte) bool {
	return isMetricNameChar(c) || c == '%'
}
