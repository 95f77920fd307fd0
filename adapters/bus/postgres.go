package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/adapters/postgres"
)

// Schema is the Postgres schema of the bus tables. It is never "public",
// which replay swaps.
const Schema = "bus"

// ConsumerGroup is the watermill-sql consumer group of builder workers.
const ConsumerGroup = "builders"

// NewPostgres returns a bus on watermill-sql over pool with the default
// (non-queue) schema adapter, one message at a time, its tables
// (bus.watermill_<topic>, bus.watermill_offsets_<topic>) created if
// missing.
func NewPostgres(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Bus, error) {
	opts = opts.withDefaults()
	db := wsql.BeginnerFromPgx(pool)
	schema := wsql.DefaultPostgreSQLSchema{
		GenerateMessagesTableName: func(topic string) string { return fmt.Sprintf(`%s."watermill_%s"`, Schema, topic) },
		SubscribeBatchSize:        1,
	}
	offsets := wsql.DefaultPostgreSQLOffsetsAdapter{
		GenerateMessagesOffsetsTableName: func(topic string) string {
			return fmt.Sprintf(`%s."watermill_offsets_%s"`, Schema, topic)
		},
	}
	wlog := watermill.NewSlogLogger(opts.Logger)
	channel := notifyChannel(opts.Topic)
	if err := install(ctx, pool, schema, offsets, opts.Topic, channel); err != nil {
		return nil, err
	}
	pub, err := wsql.NewPublisher(db, wsql.PublisherConfig{SchemaAdapter: schema}, wlog)
	if err != nil {
		return nil, fmt.Errorf("bus publisher: %w", err)
	}
	deadline := opts.AckDeadline
	wake := make(chan struct{}, 1)
	closing := make(chan struct{})
	backoff := wakeBackoff{BackoffManager: wsql.NewDefaultBackoffManager(pollInterval, time.Second),
		wake: wake, poll: pollInterval, closing: closing}
	sub, err := wsql.NewSubscriber(db, wsql.SubscriberConfig{ConsumerGroup: ConsumerGroup, AckDeadline: &deadline,
		PollInterval: pollInterval, ResendInterval: time.Second, RetryInterval: time.Second, BackoffManager: backoff,
		SchemaAdapter: schema, OffsetsAdapter: offsets}, wlog)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("bus subscriber: %w", err), pub.Close())
	}
	lctx, stopListen := context.WithCancel(context.WithoutCancel(ctx))
	listened := make(chan struct{})
	go func() {
		defer close(listened)
		err := postgres.Listen(lctx, pool, channel, wake, postgres.Retry{Log: opts.Logger})
		if err != nil && lctx.Err() == nil {
			opts.Logger.Warn("bus: no wake-ups from new commands, polling", "err", err)
		}
	}()
	closeBus := func() error {
		close(closing)
		stopListen()
		<-listened
		return errors.Join(pub.Close(), sub.Close())
	}
	return &Bus{pub: pub, sub: sub, topic: opts.Topic, log: opts.Logger, wlog: wlog,
		close: sync.OnceValue(closeBus), ready: make(chan struct{})}, nil
}

// pollInterval is how long an idle subscriber waits for a new command
// when no NOTIFY says one came: for notifications sent while no
// connection listened, and for a message that the subscriber does not
// see yet when notified because an older transaction is still open
// (watermill-sql reads only below the oldest running transaction id).
const pollInterval = 200 * time.Millisecond

// notifyChannel is the NOTIFY channel of topic's new messages.
func notifyChannel(topic string) string { return "bus_" + topic }

// install creates the bus schema, watermill-sql's tables for topic and
// a trigger that makes every insert into the messages table notify
// channel, so that an idle subscriber queries at once instead of at its
// next poll (the watermill-sql subscriber only polls). Processes starting
// together (the queue runner and its workers) do it one at a time under
// an advisory lock: Postgres's "if not exists" is not safe against a
// concurrent create of the same schema or table.
func install(ctx context.Context, pool *pgxpool.Pool, schema wsql.DefaultPostgreSQLSchema,
	offsets wsql.DefaultPostgreSQLOffsetsAdapter, topic, channel string) error {
	tables, err := schema.SchemaInitializingQueries(wsql.SchemaInitializingQueriesParams{Topic: topic})
	if err != nil {
		return fmt.Errorf("bus tables for %s: %w", topic, err)
	}
	offsetTables, err := offsets.SchemaInitializingQueries(wsql.OffsetsSchemaInitializingQueriesParams{Topic: topic})
	if err != nil {
		return fmt.Errorf("bus offset tables for %s: %w", topic, err)
	}
	queries := []wsql.Query{
		{Query: `select pg_advisory_xact_lock(hashtext('buildledger bus install'))`},
		{Query: `create schema if not exists ` + Schema},
	}
	queries = append(append(queries, tables...), offsetTables...)
	queries = append(queries,
		wsql.Query{Query: `create or replace function ` + Schema + `.notify_new_message() returns trigger language plpgsql as $$
		begin
			perform pg_notify(tg_argv[0], '');
			return null;
		end $$`},
		wsql.Query{Query: `create or replace trigger notify_new_message after insert on ` + schema.MessagesTable(topic) +
			` for each statement execute function ` + Schema + `.notify_new_message(` + quoteLiteral(channel) + `)`})
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("bus install: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	for _, q := range queries {
		if _, err := tx.Exec(ctx, q.Query, q.Args...); err != nil {
			return fmt.Errorf("bus install: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("bus install: %w", err)
	}
	return nil
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// wakeBackoff is watermill-sql's default backoff, except that a
// subscriber that found no message waits for a wake-up (a NOTIFY of a
// new one) or the poll interval, whichever comes first, rather than the
// whole interval: an idle worker gets a dispatched step in milliseconds.
type wakeBackoff struct {
	wsql.BackoffManager
	wake    <-chan struct{}
	poll    time.Duration
	closing <-chan struct{}
}

// HandleError implements wsql.BackoffManager. The subscriber calls it
// between its queries and then waits the returned time.
func (b wakeBackoff) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if err != nil || !noMsg {
		return b.BackoffManager.HandleError(logger, noMsg, err)
	}
	t := time.NewTimer(b.poll)
	defer t.Stop()
	select {
	case <-b.wake:
		return 0
	case <-t.C:
		return 0
	case <-b.closing:
		// Leave the subscriber waiting, so that it sees it is closing.
		return b.poll
	}
}
