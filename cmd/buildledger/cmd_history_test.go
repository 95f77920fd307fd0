package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/domain/redact"
	"buildledger/events"
)

// historyLog records a jobset with one evaluation and two builds, one of
// another jobset, and returns the database URL.
func historyLog(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	url := pgtest.URL(t)
	pool, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, postgres.Migrate(ctx, pool))
	store := pglog.New(pool, pglog.Options{})
	codec := events.NewCodec()
	add := func(stream, actor string, p events.Payload) {
		ev, err := codec.Encode(p, events.Metadata{Actor: actor}, time.Now())
		require.NoError(t, err)
		_, err = store.Append(ctx, stream, events.Any, ev)
		require.NoError(t, err)
	}
	add("jobset-p.j", "user:alice", &events.EvaluationRequested{Project: "p", Jobset: "j", Reason: "ui"})
	add("eval-1", "component:evaluator", &events.EvaluationStarted{EvalID: 1, Project: "p", Jobset: "j", JobsetID: 1})
	add("eval-1", "component:evaluator", &events.InputFetched{EvalID: 1, Name: "src", Type: "git"})
	add("eval-2", "component:evaluator", &events.EvaluationStarted{EvalID: 2, Project: "p", Jobset: "other", JobsetID: 2})
	add("eval-2", "component:evaluator", &events.InputFetched{EvalID: 2, Name: "src", Type: "git"})
	add("build-7", "component:evaluator", &events.BuildQueued{BuildID: 7, EvalID: 1, Project: "p", Jobset: "j", Job: "hello", DrvPath: "/nix/store/a.drv"})
	add("build-8", "component:evaluator", &events.BuildQueued{BuildID: 8, EvalID: 2, Project: "p", Jobset: "other", Job: "x", DrvPath: "/nix/store/b.drv"})
	add("step-a", "component:scheduler", &events.StepDispatched{DrvPath: "/nix/store/a.drv", BuildID: 7, Machine: "m1", Attempt: 1})
	add("step-a", "component:builder", &events.StepFinished{DrvPath: "/nix/store/a.drv", BuildID: 7, Machine: "m1", Attempt: 1})
	add("build-7", "component:scheduler", &events.BuildFinished{BuildID: 7, Status: 0})
	add("eval-1", "component:evaluator", &events.EvaluationFinished{EvalID: 1, Project: "p", Jobset: "j", JobsetID: 1})
	return url
}

func TestHistory(t *testing.T) {
	url := historyLog(t)
	out, code := runCLI(t, url, "history", "build", "7")
	require.Equal(t, 0, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	require.Contains(t, lines[0], "BuildQueued")
	require.Contains(t, lines[1], "component:scheduler")
	require.Contains(t, lines[2], "StepFinished")
	require.Contains(t, lines[2], "component:builder")
	require.NotContains(t, out, "build-8")

	out, code = runCLI(t, url, "history", "jobset", "p:j", "--json")
	require.Equal(t, 0, code, out)
	var entries []historyEntry
	require.NoError(t, json.Unmarshal([]byte(out), &entries))
	var types []string
	for _, e := range entries {
		types = append(types, e.Type)
	}
	require.Equal(t, []string{"EvaluationRequested", "EvaluationStarted", "InputFetched", "BuildQueued", "EvaluationFinished"}, types)
	require.Equal(t, "user:alice", entries[0].Actor)

	out, code = runCLI(t, url, "history", "build", "99")
	require.Equal(t, 1, code, out)
	out, code = runCLI(t, url, "history", "jobset", "nocolon")
	require.Equal(t, 1, code, out)
}

func TestEventsExport(t *testing.T) {
	url := historyLog(t)
	out, code := runCLI(t, url, "events", "export", "--format", "jsonl")
	require.Equal(t, 0, code, out)
	var n int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var line struct {
			Position int64           `json:"position"`
			Type     string          `json:"type"`
			Data     json.RawMessage `json:"data"`
			Hash     string          `json:"hash"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line))
		n++
		require.EqualValues(t, n, line.Position)
		require.Len(t, line.Hash, 64)
		require.True(t, json.Valid(line.Data))
	}
	require.Equal(t, 11, n)

	out, code = runCLI(t, url, "events", "export", "--from", "2", "--to", "9", "--stream", "build-")
	require.Equal(t, 0, code, out)
	require.Equal(t, 2, strings.Count(out, "\n"), "build-7 and build-8's BuildQueued: %s", out)

	file := filepath.Join(t.TempDir(), "log.parquet")
	out, code = runCLI(t, url, "events", "export", "--format", "parquet", "--out", file, "--stream", "eval-")
	require.Equal(t, 0, code, out)
	rows, err := parquet.ReadFile[redact.ExportRow](file)
	require.NoError(t, err)
	require.Len(t, rows, 5)
	require.Equal(t, "EvaluationStarted", rows[0].Type)
	require.Equal(t, "component:evaluator", rows[0].Actor)
	require.JSONEq(t, `{"evalId":1,"project":"p","jobset":"j","jobsetId":1,"startTime":0}`, rows[0].Data)

	_, code = runCLI(t, url, "events", "export", "--format", "parquet")
	require.Equal(t, 1, code, "parquet needs a file")
	var buf bytes.Buffer
	require.Equal(t, 2, newApp(&buf, &buf).main(context.Background(), []string{"nosuch"}))
}
