package web_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/domain/streams"
	"buildledger/events"
)

// TestJobsTabHTMLShowsTheJSONsFirstJobs checks that the jobs tab's HTML,
// which reads only the jobs it shows, shows what the full answer (the
// JSON) holds: its first 250 jobs in byte order, each with its build in
// each evaluation, and how many more there are. Jobset j has three
// evaluations (the jobs are counted across them); jobset k has one
// (its count is the evaluation's). Both have more than 250 jobs, in
// names whose byte order is not their dictionary order, and a channel.
func TestJobsTabHTMLShowsTheJSONsFirstJobs(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, err := e.h.CreateJobset(e.ctx, e.md(), commands.CreateJobset{Project: "p", Name: "k", Config: events.JobsetConfig{
		Type: 0, NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1, CheckInterval: 300, SchedulingShares: 100,
		Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: "https://github.com/acme/widget.git"}}}})
	require.NoError(t, err)
	e.catchUp()
	ids := map[string]int64{}
	for _, name := range []string{"j", "k"} {
		var id int64
		require.NoError(t, e.pool.QueryRow(e.ctx, `select id from jobsets where name = $1`, name).Scan(&id))
		ids[name] = id
	}
	build := int64(100)
	evaluate := func(jobset string, eval int64, n int) {
		var ps []events.Payload
		for i := range n {
			// "Job007" sorts before "alpha" in bytes, after it in a dictionary.
			job := fmt.Sprintf("%s%03d", []string{"Job", "alpha", "job"}[i%3], i)
			if i == n-1 {
				job = "channel"
			}
			build++
			e.appendEvents(streams.Build(build), events.BuildQueued{BuildID: build, EvalID: eval, JobsetID: ids[jobset], Project: "p",
				Jobset: jobset, Job: job, NixName: job, DrvPath: drv(fmt.Sprintf("%s-%d", job, build)), System: "x86_64-linux",
				Meta: events.JobMeta{IsChannel: job == "channel"}, Timestamp: now.Unix()})
			if i%4 == 0 {
				e.appendEvents(streams.Build(build), events.BuildFinished{BuildID: build, Status: i % 8 / 4, StartTime: 10, StopTime: 20})
			}
			ps = append(ps, events.JobEvaluated{EvalID: eval, Job: job, System: "x86_64-linux", BuildID: build, IsNew: true,
				DrvPath: drv(fmt.Sprintf("%s-%d", job, build))})
		}
		e.appendEvents(streams.Eval(eval), append([]events.Payload{events.EvaluationStarted{EvalID: eval, Project: "p", Jobset: jobset,
			JobsetID: ids[jobset], StartTime: now.Unix()}}, append(ps, events.EvaluationFinished{EvalID: eval, Project: "p", Jobset: jobset,
			JobsetID: ids[jobset], Hash: "h" + strconv.FormatInt(eval, 10), Timestamp: now.Unix(), NrBuilds: n, HasNewBuilds: true})...)...)
	}
	evaluate("j", 3, 270)
	evaluate("k", 4, 300)
	e.catchUp()
	c := e.anon()

	row := regexp.MustCompile(`<tr><th><a href="/job/p/[jk]/([^"]+)">[^<]*</a></th>\n((?:<td>.*?</td>)*)</tr>`)
	cell := regexp.MustCompile(`<td>(?:<a href="/build/(\d+)">[^/]*</span></a>)?</td>`)
	for _, tc := range []struct {
		jobset string
		nrJobs int
	}{{"j", 5 + 269}, {"k", 299}} {
		var full struct {
			Evals map[string]struct {
				Builds map[string]struct {
					ID int64 `json:"id"`
				} `json:"builds"`
			} `json:"evals"`
			Jobs   []string `json:"jobs"`
			NrJobs int      `json:"nrJobs"`
		}
		res := c.do("GET", "/jobset/p/"+tc.jobset+"/jobs-tab", nil)
		require.Equal(t, http.StatusOK, res.code, res.body)
		res.json(t, &full)
		require.Equal(t, tc.nrJobs, full.NrJobs, tc.jobset)
		require.Len(t, full.Jobs, 250, tc.jobset)

		html := c.do("GET", "/jobset/p/"+tc.jobset+"/jobs-tab", nil, "Accept", "text/html")
		require.Equal(t, http.StatusOK, html.code)
		cols := regexp.MustCompile(`<th><a href="/eval/(\d+)">`).FindAllStringSubmatch(html.body, -1)
		require.Len(t, cols, len(full.Evals), tc.jobset)
		var names []string
		for _, m := range row.FindAllStringSubmatch(html.body, -1) {
			names = append(names, m[1])
			cells := cell.FindAllStringSubmatch(m[2], -1)
			require.Len(t, cells, len(cols), m[1])
			for i, col := range cols {
				want := ""
				if b, ok := full.Evals[col[1]].Builds[m[1]]; ok {
					want = strconv.FormatInt(b.ID, 10)
				}
				require.Equal(t, want, cells[i][1], "%s: %s in evaluation %s", tc.jobset, m[1], col[1])
			}
		}
		require.Equal(t, full.Jobs, names, tc.jobset)
		require.Contains(t, html.body, fmt.Sprintf("%d more jobs", tc.nrJobs-250), tc.jobset)
	}
}
