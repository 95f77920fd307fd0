package email_test

import (
	"context"
	"io"
	"mime/quotedprintable"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/notify/smtpsend"
	"buildledger/adapters/notify/smtptest"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/commands/reactors/email"
	"buildledger/commands/reactors/outbox"
	"buildledger/domain/password"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

// TestDependentsInTheTopBuildsMail: build 10's step fails and takes
// builds 11 to 14 with it, as the scheduler records it (10's finish
// lists them and comes first). Each address gets one mail about build 10
// listing the dependents its own rules send it: dev and ops (jobset j)
// get "(and 2 others)", qa (jobset k) "(and 1 others)", and build 14,
// whose jobset has e-mail off, is in no mail. The notifier is restarted
// after build 10's finish and again after the dependents' and at the end:
// no dependent is mailed on its own, nothing twice. Build 15, a later
// cached failure naming build 10 but not listed by it, gets its own mail.
func TestDependentsInTheTopBuildsMail(t *testing.T) {
	ctx := context.Background()
	smtp := smtptest.Start(t)
	pool := pgtest.NewPool(t)
	store := pglog.New(pool, pglog.Options{})
	now := time.Unix(1_700_000_000, 0)
	rt := commands.NewRuntime(store, events.NewCodec(), commands.Options{Host: "test",
		Clock: commands.ClockFunc(func() time.Time { return now })})
	vault := postgres.NewVault(pool)
	h := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), vault)
	md := events.Metadata{Actor: "user:admin"}
	hash, err := password.Hash("a password", password.Params{Time: 1, Memory: 8 << 10, Threads: 1, KeyLen: 32, SaltLen: 16})
	require.NoError(t, err)
	_, err = h.CreateUser(ctx, md, commands.CreateUser{UserName: "alice", FullName: "Alice", EmailAddress: "alice@example.org", PasswordHash: hash, Roles: []string{"admin"}})
	require.NoError(t, err)
	_, err = h.CreateProject(ctx, md, commands.CreateProject{Name: "p", Config: events.ProjectConfig{Owner: "alice", Enabled: true, DisplayName: "p"}})
	require.NoError(t, err)
	jobsetIDs := map[string]int64{}
	for name, override := range map[string]string{"j": "dev@example.org, ops@example.org", "k": "qa@example.org", "off": "nobody@example.org"} {
		_, err = h.CreateJobset(ctx, md, commands.CreateJobset{Project: "p", Name: name, Config: events.JobsetConfig{NixExprInput: "src",
			NixExprPath: "release.nix", Inputs: []events.JobsetInput{{Name: "src", Type: "path", Value: "/src"}}, Enabled: 1, EnableEmail: name != "off", EmailOverride: override, SchedulingShares: 1}})
		require.NoError(t, err)
		js, err := commands.Load(ctx, rt, streams.Jobset("p", name), commands.JobsetAggregate)
		require.NoError(t, err)
		jobsetIDs[name] = js.State.ID
	}
	put := func(stream string, ps ...events.Payload) {
		for _, p := range ps {
			ev, err := rt.Codec().Encode(p, events.Metadata{Actor: "component:test"}, now)
			require.NoError(t, err)
			_, err = store.Append(ctx, stream, events.Any, ev)
			require.NoError(t, err)
		}
	}
	queue := func(id int64, jobset, job string) {
		put(streams.Eval(id), &events.EvaluationStarted{EvalID: id, Project: "p", Jobset: jobset, JobsetID: jobsetIDs[jobset]})
		put(streams.Build(id), &events.BuildQueued{BuildID: id, EvalID: id, JobsetID: jobsetIDs[jobset], Project: "p", Jobset: jobset, Job: job,
			NixName: job, DrvPath: "/nix/store/aaa-" + job + ".drv", System: "x86_64-linux"})
		put(streams.Eval(id), &events.JobEvaluated{EvalID: id, Job: job, BuildID: id, IsNew: true},
			&events.EvaluationFinished{EvalID: id, Project: "p", Jobset: jobset, JobsetID: jobsetIDs[jobset], NrBuilds: 1, NrJobs: 1, NrNewBuilds: 1})
		put(streams.Jobset("p", jobset), &events.EvaluationClosed{EvalID: id, Project: "p", Jobset: jobset, Outcome: "finished"})
	}
	const failed = "/nix/store/aaa-lib.drv"
	dependent := func(id int64) *events.BuildFinished {
		return &events.BuildFinished{BuildID: id, Status: 2, StartTime: now.Unix(), StopTime: now.Unix(), PropagatedFrom: 10, FailedDrv: failed}
	}

	box := outbox.New(rt, postgres.NewOutbox(pool), nil)
	lookup := postgres.NewNotifyLookup(pool)
	catchUp := func() {
		runner, err := projections.NewRunner(store, rt.Codec(), postgres.NewReadModelDB(pool), []projections.Projection{hydra.Projection{Keys: vault}}, projections.RunnerOptions{})
		require.NoError(t, err)
		_, err = runner.CatchUp(ctx)
		require.NoError(t, err)
		reactor := email.New(rt, box, lookup, nil, email.Config{BaseURL: "https://hydra.example.org"}, nil)
		require.NoError(t, outbox.NewFollower(rt, postgres.NewOutbox(pool), reactor, nil).CatchUp(ctx))
	}

	catchUp() // a notifier starts at the head of the log
	queue(10, "j", "lib")
	queue(11, "j", "app")
	queue(12, "j", "tool")
	queue(13, "k", "cli")
	queue(14, "off", "doc")
	put(streams.Build(10), &events.BuildFinished{BuildID: 10, Status: 1, StartTime: now.Unix(), StopTime: now.Unix(),
		Dependents: []events.FailedDependent{{BuildID: 11, Status: 2}, {BuildID: 12, Status: 2}, {BuildID: 13, Status: 2}, {BuildID: 14, Status: 2}}})
	catchUp() // a notifier that stops before the dependents' finishes
	put(streams.Build(11), dependent(11))
	put(streams.Build(12), dependent(12))
	catchUp()
	put(streams.Build(13), dependent(13))
	put(streams.Build(14), dependent(14))
	queue(15, "j", "late")
	put(streams.Build(15), &events.BuildFinished{BuildID: 15, Status: 2, StartTime: now.Unix(), StopTime: now.Unix(),
		IsCachedBuild: true, PropagatedFrom: 10, FailedDrv: failed})
	catchUp()
	catchUp()

	worker := outbox.NewWorker(rt, postgres.NewOutbox(pool), map[string]outbox.Sender{"email": &smtpsend.Sender{Server: smtp.Addr,
		From: "hydra@example.org", Instance: "https://hydra.example.org", Now: time.Now}}, outbox.WorkerOptions{})
	_, err = worker.DeliverDue(ctx)
	require.NoError(t, err)

	type got struct{ to, subject string }
	var mails []got
	bodies := map[string]string{}
	for _, m := range smtp.Messages(t) {
		mails = append(mails, got{m.Header.Get("To"), m.Header.Get("Subject")})
		body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
		require.NoError(t, err)
		bodies[m.Header.Get("To")+" "+m.Header.Get("Subject")] = string(body)
	}
	const top = "Failed: Hydra job p:j:lib on x86_64-linux"
	require.ElementsMatch(t, []got{
		{"dev@example.org", top + " (and 2 others)"},
		{"ops@example.org", top + " (and 2 others)"},
		{"qa@example.org", top + " (and 1 others)"},
		{"dev@example.org", "Dependency failed: Hydra job p:j:late on x86_64-linux"},
		{"ops@example.org", "Dependency failed: Hydra job p:j:late on x86_64-linux"},
	}, mails)
	dev := bodies["dev@example.org "+top+" (and 2 others)"]
	require.Contains(t, dev, "https://hydra.example.org/build/10")
	require.Contains(t, dev, "build 11 of p:j:app (Dependency failed): https://hydra.example.org/build/11")
	require.Contains(t, dev, "build 12 of p:j:tool (Dependency failed): https://hydra.example.org/build/12")
	require.NotContains(t, dev, "/build/13")
	require.NotContains(t, dev, "/build/14")
	qa := bodies["qa@example.org "+top+" (and 1 others)"]
	require.Contains(t, qa, "build 13 of p:k:cli (Dependency failed): https://hydra.example.org/build/13")
	require.NotContains(t, qa, "/build/11")

	// The log names no recipient.
	recs, err := store.ReadAll(ctx, events.Position{}, 10000)
	require.NoError(t, err)
	for _, r := range recs {
		if r.Type == "NotificationQueued" {
			require.NotContains(t, string(r.Data), "example.org")
		}
	}
}
