package web_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/streams"
	"buildledger/events"
)

// TestHydraJobRoutes checks the routes of Hydra's Job controller and
// /prometheus: metric names, JSON keys, shield colours.
func TestHydraJobRoutes(t *testing.T) {
	e := newEnv(t, envOpts{})
	// Build 6 (job fresh) is cancelled; build 4 (gone) gets sizes.
	e.appendEvents(streams.Build(6), events.BuildFinished{BuildID: 6, Status: 4, StartTime: now.Unix(), StopTime: now.Unix()})
	e.catchUp()
	_, err := e.pool.Exec(e.ctx, `update builds set size = 100, closuresize = 250 where id = 4`)
	require.NoError(t, err)
	_, err = e.pool.Exec(e.ctx, `insert into buildsteps (build, stepnr, type, drvpath, busy, status, starttime, stoptime, machine)
		values (4, 1, 0, $1, 0, 0, 100, 145, 'builder1')`, drv("gone-4"))
	require.NoError(t, err)
	c := e.anon()
	tests := []struct {
		path, contentType string
		code              int
		body              string
		contains          []string
	}{
		{"/job/p/j/hello/shield", "application/json", 200, `{"color":"red","label":"hydra build","message":"failing","schemaVersion":1}`, nil},
		{"/job/p/j/gone/shield", "application/json", 200, `{"color":"green","label":"hydra build","message":"passing","schemaVersion":1}`, nil},
		{"/job/p/j/fresh/shield", "application/json", 200, `{"color":"yellow","label":"hydra build","message":"cancelled","schemaVersion":1}`, nil},
		{"/job/p/j/gone/closure-sizes", "application/json", 200, `[{"id":4,"timestamp":` + itoa(now.Unix()-3600) + `,"value":250}]`, nil},
		{"/job/p/j/gone/output-sizes", "application/json", 200, `[{"id":4,"timestamp":` + itoa(now.Unix()-3600) + `,"value":100}]`, nil},
		{"/job/p/j/gone/build-times", "application/json", 200, `[{"id":4,"timestamp":` + itoa(now.Unix()-3600) + `,"value":45}]`, nil},
		{"/job/p/j/hello/closure-sizes", "application/json", 200, `[]`, nil},
		{"/job/p/nope/build-times", "application/json", 404, "", []string{`"error"`}},
		{"/job/p/j/hello/metric-tab", "application/json", 200, `["lines"]`, nil},
		{"/job/p/j/hello/prometheus", "text/plain; version=0.0.4; charset=utf-8", 200, "", []string{
			"# TYPE hydra_job_completion_time counter",
			`hydra_job_completion_time{project="p",jobset="j",job="hello"} ` + itoa(now.Unix()-3530),
			`hydra_job_failed{project="p",jobset="j",job="hello"} 1`,
			`hydra_build_closure_size{project="p",jobset="j",job="hello"} 0`,
			`hydra_build_output_size{project="p",jobset="j",job="hello"} 0`}},
		{"/job/p/j/gone/prometheus", "text/plain; version=0.0.4; charset=utf-8", 200, "", []string{
			`hydra_job_failed{project="p",jobset="j",job="gone"} 0`, `hydra_build_output_size{project="p",jobset="j",job="gone"} 100`}},
		{"/job/p/j/waiting/prometheus", "application/json", 404, "", []string{`"error"`}},
		{"/prometheus", "text/plain; version=0.0.4; charset=utf-8", 200, "", []string{
			"# TYPE hydra_machine_build_duration histogram",
			`hydra_machine_build_duration_bucket{machine="builder1",le="1800"} 0`,
			`hydra_machine_build_duration_bucket{machine="builder1",le="3600"} 1`,
			`hydra_machine_build_duration_bucket{machine="builder1",le="+Inf"} 1`,
			`hydra_machine_build_duration_count{machine="builder1"} 1`}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := c.do("GET", tt.path, nil)
			require.Equal(t, tt.code, res.code, res.body)
			require.Equal(t, tt.contentType, res.header.Get("Content-Type"))
			if tt.body != "" {
				require.JSONEq(t, tt.body, res.body)
			}
			for _, part := range tt.contains {
				require.Contains(t, res.body, part)
			}
		})
	}
	res := c.do("GET", "/job/p/j/hello/metric-tab", nil, "Accept", "text/html")
	require.True(t, strings.Contains(res.body, `/job/p/j/hello/metric/lines`), res.body)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
