package nixsupport_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/nixsupport"
)

func TestParseMetrics(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		want   *nixsupport.Metric
		reason string
	}{
		{"with unit", "lineCoverage 18 %", &nixsupport.Metric{Name: "lineCoverage", Value: 18, Unit: "%"}, ""},
		{"no unit", "closure.size 1.5e6", &nixsupport.Metric{Name: "closure.size", Value: 1.5e6}, ""},
		{"negative", "delta_x-y -0.25 s", &nixsupport.Metric{Name: "delta_x-y", Value: -0.25, Unit: "s"}, ""},
		{"bad unit is dropped", "speed 3 MB/s", &nixsupport.Metric{Name: "speed", Value: 3}, ""},
		{"tabs and spaces", " \tt\t 1 \t", &nixsupport.Metric{Name: "t", Value: 1}, ""},
		{"missing value", "lonely", nil, "expected NAME VALUE"},
		{"bad name", "a/b 1", nil, "name"},
		{"not a number", "x abc", nil, "not a decimal"},
		{"garbled number", "x 1e+-2", nil, "not a number"},
		{"hex", "x 0x10", nil, "not a decimal"},
		{"inf", "x inf", nil, "not a decimal"},
		{"overflow", "x 1e400", nil, "not a number"},
		// Hydra ignores fields after the unit.
		{"extra field is ignored", "x 1 s extra", &nixsupport.Metric{Name: "x", Value: 1, Unit: "s"}, ""},
		{"extra fields after a bad unit", "speed 3 MB/s over 9000", &nixsupport.Metric{Name: "speed", Value: 3}, ""},
		{"an ignored field may hold anything", "x 2 ms <script> 1e400 /etc/passwd", &nixsupport.Metric{Name: "x", Value: 2, Unit: "ms"}, ""},
		{"extra fields do not rescue a bad value", "x abc s extra", nil, "not a decimal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, skipped, err := nixsupport.ParseMetrics(strings.NewReader(tt.line+"\n"), nixsupport.Limits{})
			require.NoError(t, err)
			if tt.want == nil {
				require.Empty(t, ms)
				require.Len(t, skipped, 1)
				require.Equal(t, 1, skipped[0].Line)
				require.Contains(t, skipped[0].Reason, tt.reason)
				return
			}
			require.Empty(t, skipped)
			tt.want.Line = 1
			require.Equal(t, []nixsupport.Metric{*tt.want}, ms)
		})
	}
}

func TestParseMetricsLaterDuplicateWins(t *testing.T) {
	in := "a 1\nb 2\nbad\na 3 ms\n"
	ms, skipped, err := nixsupport.ParseMetrics(strings.NewReader(in), nixsupport.Limits{})
	require.NoError(t, err)
	require.Equal(t, []nixsupport.Metric{
		{Name: "a", Value: 3, Unit: "ms", Line: 4},
		{Name: "b", Value: 2, Line: 2},
	}, ms)
	require.Len(t, skipped, 2)
	require.Equal(t, 1, skipped[0].Line)
	require.Contains(t, skipped[0].Reason, "overridden by line 4")
	require.Equal(t, 3, skipped[1].Line)
}

func TestParseMetricsSizeLimit(t *testing.T) {
	in := "a 1\n" + strings.Repeat("b 2 x\n", 1000)
	ms, _, err := nixsupport.ParseMetrics(strings.NewReader(in), nixsupport.Limits{MaxBytes: 100})
	require.ErrorIs(t, err, nixsupport.ErrTooLarge)
	require.Contains(t, err.Error(), "hydra-metrics")
	require.Len(t, ms, 2)
}

func TestMetricEvent(t *testing.T) {
	ev := nixsupport.Metric{Name: "n", Value: 1.5, Unit: "s", Line: 3}.Event(9)
	require.Equal(t, int64(9), ev.BuildID)
	require.Equal(t, "n", ev.Name)
	require.Equal(t, "s", ev.Unit)
	require.Equal(t, 1.5, ev.Value)
}
