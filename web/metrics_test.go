package web_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/web"
)

func TestMetricChart(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()

	res := c.do("GET", "/job/p/j/hello/metric/lines", nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	var pts []web.MetricPoint
	res.json(t, &pts)
	require.Len(t, pts, 1)
	require.Equal(t, web.MetricPoint{Build: 1, Timestamp: pts[0].Timestamp, Value: 42, Unit: "count"}, pts[0])

	html := c.do("GET", "/job/p/j/hello/metric/lines", nil, "Accept", "text/html")
	require.Equal(t, http.StatusOK, html.code)
	require.Contains(t, html.body, `<svg class="metric-chart"`)
	require.Contains(t, html.body, `href="/build/1"`)

	// As in Hydra's Job.pm: a metric the job never had is an empty list,
	// a jobset that is not there a 404.
	none := c.do("GET", "/job/p/j/hello/metric/nope", nil)
	require.Equal(t, http.StatusOK, none.code)
	require.JSONEq(t, `[]`, none.body)
	require.Equal(t, http.StatusOK, c.do("GET", "/job/p/j/hello/metric/nope", nil, "Accept", "text/html").code)
	missing := c.do("GET", "/job/p/nope/hello/metric/lines", nil)
	require.Equal(t, http.StatusNotFound, missing.code)
	require.Contains(t, missing.body, `"error"`)
}

// TestMetricChartAll checks that every value of a metric is answered,
// oldest first, as Hydra does, not only the newest ones.
func TestMetricChartAll(t *testing.T) {
	e := newEnv(t, envOpts{})
	var jobsetID int64
	require.NoError(t, e.pool.QueryRow(e.ctx, `select id from jobsets where name = 'j'`).Scan(&jobsetID))
	const n = 150
	for i := range n {
		id := int64(100 + i)
		e.appendEvents(streams.Build(id),
			events.BuildQueued{BuildID: id, EvalID: 2, JobsetID: jobsetID, Project: "p", Jobset: "j", Job: "many",
				NixName: "many", DrvPath: drv(fmt.Sprintf("many-%d", i)), System: "x86_64-linux", Timestamp: now.Unix() + int64(i)},
			events.MetricScraped{BuildID: id, Name: "time", Unit: "s", Value: float64(i)})
	}
	e.catchUp()
	var pts []web.MetricPoint
	e.anon().do("GET", "/job/p/j/many/metric/time", nil).json(t, &pts)
	require.Len(t, pts, n)
	require.Equal(t, int64(100), pts[0].Build, "oldest first")
	require.Equal(t, int64(100+n-1), pts[n-1].Build)
}
