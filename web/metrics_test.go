package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

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

	missing := c.do("GET", "/job/p/j/hello/metric/nope", nil)
	require.Equal(t, http.StatusNotFound, missing.code)
	require.Contains(t, missing.body, `"error"`)
}
