package provenance_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	dprov "buildledger/domain/provenance"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/provenance"
	"buildledger/test/projtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	drvA    = "/nix/store/0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a.drv"
	outA    = "/nix/store/0bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-a"
	drvB    = "/nix/store/0ccccccccccccccccccccccccccccccc-b.drv"
	outB    = "/nix/store/0ddddddddddddddddddddddddddddddd-b"
	srcA    = "/nix/store/0fffffffffffffffffffffffffffffff-builder.sh"
	drvC    = "/nix/store/0ggggggggggggggggggggggggggggggg-c.drv"
	outC    = "/nix/store/0hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh-c"
	narA    = "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"
	narB    = "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
	hexNarA = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" // SHA-256 of "abc", the narA above
)

// history appends what an evaluation and a builder record: build 1 of
// drv A (which needs B) succeeds, build 2 of C fails, build 3 of A is
// cached, build 4 is restarted after it succeeded.
func history(t *testing.T, env *projtest.Env) {
	md := events.Metadata{Actor: "component:test"}
	env.Append(t, "eval-1", md,
		&events.InputFetched{EvalID: 1, Name: "src", Type: "git", URI: "https://example.org/r.git", Revision: "0123abcd"},
		&events.InputFetched{EvalID: 1, Name: "nixpkgs", Type: "path", Value: "/srv/nixpkgs"})
	queued := func(id int64, drv, out string) events.Payload {
		return &events.BuildQueued{BuildID: id, EvalID: 1, Project: "p", Jobset: "j", Job: "job" + drv[len(drv)-5:], DrvPath: drv,
			System: "x86_64-linux", Outputs: []events.Output{{Name: "out", Path: out}}}
	}
	env.Append(t, "build-1", md, queued(1, drvA, outA))
	env.Append(t, "build-2", md, queued(2, drvC, outC))
	env.Append(t, "step-b", md, &events.StepQueued{DrvPath: drvB, System: "x86_64-linux", Outputs: []events.Output{{Name: "out", Path: outB}}, BuildID: 1, EvalID: 1})
	env.Append(t, "step-a", md, &events.StepQueued{DrvPath: drvA, System: "x86_64-linux", Outputs: []events.Output{{Name: "out", Path: outA}},
		InputDrvs: []string{drvB}, InputSrcs: []string{srcA}, BuildID: 1, EvalID: 1})
	env.Append(t, "step-b", md,
		&events.StepStarted{DrvPath: drvB, BuildID: 1, StepNr: 1, Machine: "localhost", Attempt: 1, StartTime: 1000},
		&events.OutputUploaded{DrvPath: drvB, BuildID: 1, OutputName: "out", Path: outB, NarHash: narB, NarSize: 10},
		&events.StepFinished{DrvPath: drvB, BuildID: 1, StepNr: 1, Machine: "localhost", Attempt: 1, StartTime: 1000, StopTime: 1010})
	env.Append(t, "step-a", md,
		&events.StepStarted{DrvPath: drvA, BuildID: 1, StepNr: 2, Machine: "ssh://b1", Attempt: 1, StartTime: 1010},
		&events.StepFinished{DrvPath: drvA, BuildID: 1, StepNr: 2, Machine: "ssh://b1", Attempt: 1, Status: 1, StartTime: 1010, StopTime: 1011},
		&events.StepStarted{DrvPath: drvA, BuildID: 1, StepNr: 3, Machine: "ssh://b2", Attempt: 2, StartTime: 1020},
		&events.OutputUploaded{DrvPath: drvA, BuildID: 1, OutputName: "out", Path: outA, NarHash: narA, NarSize: 10},
		&events.StepFinished{DrvPath: drvA, BuildID: 1, StepNr: 3, Machine: "ssh://b2", Attempt: 2, StartTime: 1020, StopTime: 1030})
	env.Append(t, "build-1", md, &events.BuildFinished{BuildID: 1, Status: 0, StartTime: 1000, StopTime: 1030})
	env.Append(t, "build-2", md, &events.BuildFinished{BuildID: 2, Status: 1, StartTime: 1000, StopTime: 1030})
	env.Append(t, "build-3", md, queued(3, drvA, outA),
		&events.BuildCached{BuildID: 3, Outputs: []events.Output{{Name: "out", Path: outA}}},
		&events.BuildFinished{BuildID: 3, Status: 0, IsCachedBuild: true, StartTime: 1040, StopTime: 1040})
	env.Append(t, "build-4", md, queued(4, drvA, outA),
		&events.BuildFinished{BuildID: 4, Status: 0, IsCachedBuild: true, StartTime: 1040, StopTime: 1040},
		&events.BuildRestarted{BuildID: 4})
}

func statements(t *testing.T, pool *pgxpool.Pool) map[int64][]byte {
	rows, err := pool.Query(context.Background(), `select build_id, payload from provenance_statements`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int64][]byte{}
	for rows.Next() {
		var id int64
		var p []byte
		require.NoError(t, rows.Scan(&id, &p))
		out[id] = p
	}
	require.NoError(t, rows.Err())
	return out
}

func TestStatements(t *testing.T) {
	env := projtest.New(t)
	history(t, env)
	env.CatchUp(t, provenance.Projection{})
	got := statements(t, env.Pool)
	require.Len(t, got, 2, "builds 1 and 3 have statements; 2 failed, 4 was restarted")

	var st struct {
		Subject []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate struct {
			BuildDefinition struct {
				ExternalParameters struct {
					Project, Jobset, Job string
					Evaluation           int64
					Inputs               []struct{ Name, Type, Revision string }
				} `json:"externalParameters"`
				ResolvedDependencies []struct {
					Name        string            `json:"name"`
					Digest      map[string]string `json:"digest"`
					Annotations struct{ Kind string }
				} `json:"resolvedDependencies"`
			} `json:"buildDefinition"`
			RunDetails struct {
				Builder  struct{ ID string }
				Metadata struct {
					InvocationID string `json:"invocationId"`
				}
				Byproducts []struct {
					Annotations struct{ Positions []uint64 }
				}
			} `json:"runDetails"`
		} `json:"predicate"`
	}
	require.NoError(t, json.Unmarshal(got[1], &st))
	require.Len(t, st.Subject, 1)
	require.Equal(t, outA, st.Subject[0].Name)
	require.Equal(t, hexNarA, st.Subject[0].Digest["sha256"])
	ext := st.Predicate.BuildDefinition.ExternalParameters
	require.Equal(t, "p", ext.Project)
	require.Equal(t, int64(1), ext.Evaluation)
	require.Len(t, ext.Inputs, 2)
	require.Equal(t, "nixpkgs", ext.Inputs[0].Name)
	require.Equal(t, "0123abcd", ext.Inputs[1].Revision)
	kinds := map[string]string{}
	for _, d := range st.Predicate.BuildDefinition.ResolvedDependencies {
		kinds[d.Name] = d.Annotations.Kind
		if d.Name == outB {
			narBHex, err := dprov.SHA256Hex(narB)
			require.NoError(t, err)
			require.Equal(t, narBHex, d.Digest["sha256"], "an input derivation's output has its NAR hash")
		}
	}
	require.Equal(t, map[string]string{drvA: "derivation", outA: "output", srcA: "source", outB: "output"}, kinds)
	require.Equal(t, "ssh://b2", st.Predicate.RunDetails.Builder.ID, "the attempt that succeeded")
	require.Equal(t, "build/1/step/3/attempt/2", st.Predicate.RunDetails.Metadata.InvocationID)
	// BuildQueued, two inputs, StepStarted, OutputUploaded, StepFinished, BuildFinished.
	require.Len(t, st.Predicate.RunDetails.Byproducts[0].Annotations.Positions, 7)

	require.NoError(t, json.Unmarshal(got[3], &st))
	require.Equal(t, "build/1/step/3/attempt/2", st.Predicate.RunDetails.Metadata.InvocationID, "a cached build names the run that built its outputs")
	// Only build 1 built its outputs: the cache gets its statement.
	rows, err := env.Pool.Query(context.Background(), `select build_id from provenance_statements where build_id = run_build_id`)
	require.NoError(t, err)
	built, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	require.Equal(t, []int64{1}, built)
}

// TestReplayGivesTheSameBytes rebuilds the read models from the log, in
// batches of every size from 1, and compares the statements byte for byte.
func TestReplayGivesTheSameBytes(t *testing.T) {
	env := projtest.New(t)
	history(t, env)
	env.CatchUp(t, provenance.Projection{})
	requireReplaysEqual(t, env, statements(t, env.Pool))
}

// laterRows appends, after history, rows that come after a build
// finished and that its statement must not see, though a batch holds
// them: build 5 of D, cached, finishes before any run of D uploads D's
// output, which build 6 then builds; build 7 builds A again after build
// 3 named attempt 2; build 8 of E finishes before E's input derivation F
// is queued.
func laterRows(t *testing.T, env *projtest.Env) {
	const (
		drvD = "/nix/store/0iiiiiiiiiiiiiiiiiiiiiiiiiiiiiii-d.drv"
		outD = "/nix/store/0jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj-d"
		drvE = "/nix/store/0kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk-e.drv"
		outE = "/nix/store/0lllllllllllllllllllllllllllllll-e"
		drvF = "/nix/store/0mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm-f.drv"
		outF = "/nix/store/0nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn-f"
	)
	md := events.Metadata{Actor: "component:test"}
	queued := func(id int64, drv, out string) events.Payload {
		return &events.BuildQueued{BuildID: id, EvalID: 1, Project: "p", Jobset: "j", Job: "late" + drv[len(drv)-5:], DrvPath: drv,
			System: "x86_64-linux", Outputs: []events.Output{{Name: "out", Path: out}}}
	}
	run := func(drv, out string, build int64, attempt int) []events.Payload {
		return []events.Payload{
			&events.StepStarted{DrvPath: drv, BuildID: build, StepNr: 1, Machine: "localhost", Attempt: attempt, StartTime: 2000},
			&events.OutputUploaded{DrvPath: drv, BuildID: build, OutputName: "out", Path: out, NarHash: narB, NarSize: 10},
			&events.StepFinished{DrvPath: drv, BuildID: build, StepNr: 1, Machine: "localhost", Attempt: attempt, StartTime: 2000, StopTime: 2010},
		}
	}
	finished := func(id int64) events.Payload {
		return &events.BuildFinished{BuildID: id, Status: 0, StartTime: 2000, StopTime: 2010}
	}
	env.Append(t, "step-d", md, &events.StepQueued{DrvPath: drvD, System: "x86_64-linux", Outputs: []events.Output{{Name: "out", Path: outD}}, BuildID: 5, EvalID: 1})
	env.Append(t, "build-5", md, queued(5, drvD, outD), finished(5))
	env.Append(t, "build-6", md, queued(6, drvD, outD))
	env.Append(t, "step-d", md, run(drvD, outD, 6, 1)...)
	env.Append(t, "build-6", md, finished(6))
	env.Append(t, "build-7", md, queued(7, drvA, outA))
	env.Append(t, "step-a", md, run(drvA, outA, 7, 3)...)
	env.Append(t, "build-7", md, finished(7))
	env.Append(t, "step-e", md, &events.StepQueued{DrvPath: drvE, System: "x86_64-linux", Outputs: []events.Output{{Name: "out", Path: outE}},
		InputDrvs: []string{drvF}, BuildID: 8, EvalID: 1})
	env.Append(t, "build-8", md, queued(8, drvE, outE))
	env.Append(t, "step-e", md, run(drvE, outE, 8, 1)...)
	env.Append(t, "build-8", md, finished(8))
	env.Append(t, "step-f", md, &events.StepQueued{DrvPath: drvF, System: "x86_64-linux", Outputs: []events.Output{{Name: "out", Path: outF}}, BuildID: 9, EvalID: 1})
}

// TestStatementsReadTheLogAsItWas: a statement is made of the rows
// recorded before its build finished, though the projection writes the
// statements of a batch after the batch's other rows. One batch of the
// whole log (the live catch-up) and batches of one event give the same
// bytes.
func TestStatementsReadTheLogAsItWas(t *testing.T) {
	env := projtest.New(t)
	history(t, env)
	laterRows(t, env)
	env.CatchUp(t, provenance.Projection{})
	got := statements(t, env.Pool)
	_, five := got[5]
	require.False(t, five, "D's output had no NAR hash, and D no run, when build 5 finished")
	_, six := got[6]
	require.True(t, six, "build 6 built D")
	var st struct {
		Predicate struct {
			BuildDefinition struct {
				ResolvedDependencies []struct{ Name string } `json:"resolvedDependencies"`
			} `json:"buildDefinition"`
			RunDetails struct {
				Metadata struct {
					InvocationID string `json:"invocationId"`
				}
			} `json:"runDetails"`
		} `json:"predicate"`
	}
	require.NoError(t, json.Unmarshal(got[3], &st))
	require.Equal(t, "build/1/step/3/attempt/2", st.Predicate.RunDetails.Metadata.InvocationID, "attempt 3 came after build 3 finished")
	require.NoError(t, json.Unmarshal(got[7], &st))
	require.Equal(t, "build/7/step/1/attempt/3", st.Predicate.RunDetails.Metadata.InvocationID)
	require.NoError(t, json.Unmarshal(got[8], &st))
	require.Len(t, st.Predicate.BuildDefinition.ResolvedDependencies, 2, "E and its output; F was queued after build 8 finished")
	requireReplaysEqual(t, env, got)
}

// requireReplaysEqual replays env's log in batches of 1, 3 and 1000
// events and requires the statements to be live's, byte for byte.
func requireReplaysEqual(t *testing.T, env *projtest.Env, live map[int64][]byte) {
	t.Helper()
	ctx := context.Background()
	require.NotEmpty(t, live)
	for _, size := range []int{1, 3, 1000} {
		res, err := projections.Replay(ctx, env.Store, env.Codec, postgres.NewSchemas(env.Pool), []projections.Projection{provenance.Projection{}},
			projections.ReplayOptions{Target: "replay_prov", BatchSize: size})
		require.NoError(t, err)
		require.True(t, res.Swapped)
		fresh, err := pgxpool.NewWithConfig(ctx, env.Pool.Config())
		require.NoError(t, err)
		replayed := statements(t, fresh)
		fresh.Close()
		require.Equal(t, live, replayed, "batch size %d", size)
		_, err = env.Pool.Exec(ctx, "drop schema "+res.Backup+" cascade")
		require.NoError(t, err)
	}
}
