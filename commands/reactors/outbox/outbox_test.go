package outbox_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/commands/reactors/outbox"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/notifications"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is a log and an outbox on a fresh database, with a clock the test
// moves.
type env struct {
	pool  *pgxpool.Pool
	store *pglog.Store
	rt    *commands.Runtime
	box   *postgres.Outbox
	mu    sync.Mutex
	now   time.Time
}

func newEnv(t *testing.T) *env {
	e := &env{pool: pgtest.NewPool(t), now: time.Unix(1_700_000_000, 0)}
	e.store = pglog.New(e.pool, pglog.Options{})
	e.rt = commands.NewRuntime(e.store, events.NewCodec(), commands.Options{Host: "test",
		Clock: commands.ClockFunc(func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now })})
	e.box = postgres.NewOutbox(e.pool)
	return e
}

func (e *env) advance(d time.Duration) { e.mu.Lock(); e.now = e.now.Add(d); e.mu.Unlock() }

// script is a Sender that answers from a list of results, then succeeds,
// and counts what it was sent.
type script struct {
	mu      sync.Mutex
	results []error
	sent    []string
}

func (s *script) Send(_ context.Context, key string, payload []byte) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, key+" "+string(payload))
	if len(s.results) > 0 {
		err := s.results[0]
		s.results = s.results[1:]
		return "", err
	}
	return "201 Created", nil
}

func (s *script) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.sent) }

func queued(cause string) events.NotificationQueued {
	return events.NotificationQueued{Plugin: "test", Channel: "build_finished", Target: "double", Cause: cause, BuildID: 7, Project: "p", Jobset: "j"}
}

func (e *env) streamTypes(t *testing.T, key string) []string {
	recs, err := e.store.ReadStream(context.Background(), streams.Notification(key), 0, 100)
	require.NoError(t, err)
	var out []string
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

func md() events.Metadata { return events.Metadata{Actor: commands.ComponentActor("test")} }

// TestDeliveryRetriesWithHydrasBackoff: a receiver that fails twice gets
// the notification three times, 2 and 4 seconds apart as Hydra's
// TaskRetries would, each attempt is an event, Hydra's TaskRetries row
// exists while a retry is due, and nothing is sent once delivered.
func TestDeliveryRetriesWithHydrasBackoff(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	snd := &script{results: []error{errors.New("500 Internal Server Error"), context.DeadlineExceeded}}
	w := outbox.NewWorker(e.rt, e.box, map[string]outbox.Sender{"test": snd}, outbox.WorkerOptions{})
	q := queued("ev-1")
	require.NoError(t, outbox.New(e.rt, e.box, nil).Queue(ctx, md(), q, []byte(`{"state":"success"}`)))

	n, err := w.DeliverDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	runner, err := projections.NewRunner(e.store, e.rt.Codec(), postgres.NewReadModelDB(e.pool), []projections.Projection{notifications.Projection{}}, projections.RunnerOptions{})
	require.NoError(t, err)
	_, err = runner.CatchUp(ctx)
	require.NoError(t, err)
	var attempts, retryAt int64
	var channel, plugin string
	require.NoError(t, e.pool.QueryRow(ctx, `select channel, pluginname, attempts, retry_at from TaskRetries`).Scan(&channel, &plugin, &attempts, &retryAt))
	require.Equal(t, []any{"build_finished", "test", int64(1), e.now.Unix() + 2}, []any{channel, plugin, attempts, retryAt})

	e.advance(time.Second)
	n, err = w.DeliverDue(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "not due before Hydra's backoff of 2 s")
	e.advance(time.Second)
	n, err = w.DeliverDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	e.advance(3 * time.Second)
	n, err = w.DeliverDue(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "the second failure waits 4 s")
	e.advance(time.Second)
	n, err = w.DeliverDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	require.Equal(t, 3, snd.count())
	key := snd.sent[0][:32]
	require.Equal(t, []string{"NotificationQueued", "NotificationFailed", "NotificationFailed", "NotificationDelivered"}, e.streamTypes(t, key))
	_, err = runner.CatchUp(ctx)
	require.NoError(t, err)
	var retries, rows int
	require.NoError(t, e.pool.QueryRow(ctx, `select count(*) from TaskRetries`).Scan(&retries))
	require.Zero(t, retries, "a delivered notification leaves TaskRetries")
	var state string
	require.NoError(t, e.pool.QueryRow(ctx, `select state, (select count(*) from notification_attempts a where a.key = n.key) from notifications n`).Scan(&state, &rows))
	require.Equal(t, "delivered", state)
	require.Equal(t, 3, rows)

	e.advance(time.Hour)
	n, err = w.DeliverDue(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, 3, snd.count(), "nothing delivered is sent again")
}

// TestQueueIsIdempotent: a reactor reading its cause again queues
// nothing new.
func TestQueueIsIdempotent(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	box := outbox.New(e.rt, e.box, nil)
	require.NoError(t, box.Queue(ctx, md(), queued("ev-1"), []byte("a")))
	require.NoError(t, box.Queue(ctx, md(), queued("ev-1"), []byte("a")))
	snd := &script{}
	_, err := outbox.NewWorker(e.rt, e.box, map[string]outbox.Sender{"test": snd}, outbox.WorkerOptions{}).DeliverDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, snd.count())
}

// TestRestartDeliversOnce: what one process queued and did not send is
// sent by the next; a payload still kept for a notification the log says
// is delivered (a crash after the record, before the payload was
// forgotten) is not sent again.
func TestRestartDeliversOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	payload := []byte(`{"state":"pending"}`)
	require.NoError(t, outbox.New(e.rt, e.box, nil).Queue(ctx, md(), queued("ev-1"), payload))
	// The first process dies here. The next one starts with new objects.
	snd := &script{}
	w := outbox.NewWorker(e.rt, postgres.NewOutbox(e.pool), map[string]outbox.Sender{"test": snd}, outbox.WorkerOptions{})
	_, err := w.DeliverDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, snd.count())

	key := snd.sent[0][:32]
	require.NoError(t, e.box.Put(ctx, key, "test double", payload, e.now))
	_, err = w.DeliverDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, snd.count())
	require.Equal(t, []string{"NotificationQueued", "NotificationDelivered"}, e.streamTypes(t, key))
}

// TestAlteredPayloadIsRefused: a payload that is not the one queued
// (changed in the outbox table) is not sent; the attempt fails.
func TestAlteredPayloadIsRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	require.NoError(t, outbox.New(e.rt, e.box, nil).Queue(ctx, md(), queued("ev-1"), []byte("good")))
	_, err := e.pool.Exec(ctx, `update commandstate.outbox set payload = 'evil'`)
	require.NoError(t, err)
	snd := &script{}
	n, err := outbox.NewWorker(e.rt, e.box, map[string]outbox.Sender{"test": snd}, outbox.WorkerOptions{}).DeliverDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Zero(t, snd.count())
}

// counter is a Reactor that queues one notification per BuildFinished.
type counter struct{ box *outbox.Outbox }

func (counter) Name() string { return "counter" }
func (counter) Filter() events.Filter {
	return events.Filter{Types: []string{"BuildFinished"}}
}
func (c counter) React(ctx context.Context, r events.Recorded, _ events.Payload) error {
	q := queued(r.ID)
	return c.box.Queue(ctx, md(), q, []byte(r.ID))
}

// TestFollowerResumesFromItsCheckpoint: a notifier first started on an
// old log does not announce its history; restarted, it handles what came
// while it was down, once.
func TestFollowerResumesFromItsCheckpoint(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	finish := func(id int64) {
		ev, err := e.rt.Codec().Encode(&events.BuildFinished{BuildID: id}, md(), e.now)
		require.NoError(t, err)
		_, err = e.store.Append(ctx, streams.Build(id), events.Any, ev)
		require.NoError(t, err)
	}
	finish(1)
	box := outbox.New(e.rt, e.box, nil)
	require.NoError(t, outbox.NewFollower(e.rt, e.box, counter{box}, nil).CatchUp(ctx))
	finish(2)
	finish(3)
	require.NoError(t, outbox.NewFollower(e.rt, e.box, counter{box}, nil).CatchUp(ctx))
	require.NoError(t, outbox.NewFollower(e.rt, e.box, counter{box}, nil).CatchUp(ctx))
	snd := &script{}
	_, err := outbox.NewWorker(e.rt, e.box, map[string]outbox.Sender{"test": snd}, outbox.WorkerOptions{}).DeliverDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, snd.count(), "builds 2 and 3, once each; build 1 was history")
}
