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
	if _, err := pool.Exec(ctx, `create schema if not exists `+Schema); err != nil {
		return nil, fmt.Errorf("create schema %s: %w", Schema, err)
	}
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
	pub, err := wsql.NewPublisher(db, wsql.PublisherConfig{SchemaAdapter: schema, AutoInitializeSchema: true}, wlog)
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
		SchemaAdapter: schema, OffsetsAdapter: offsets, InitializeSchema: true}, wlog)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("bus subscriber: %w", err), pub.Close())
	}
	if err := sub.SubscribeInitialize(opts.Topic); err != nil {
		return nil, errors.Join(fmt.Errorf("bus tables for %s: %w", opts.Topic, err), pub.Close(), sub.Close())
	}
	channel := notifyChannel(opts.Topic)
	if err := installNotify(ctx, pool, schema.MessagesTable(opts.Topic), channel); err != nil {
		return nil, errors.Join(err, pub.Close(), sub.Close())
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

// installNotify makes every insert into the messages table notify
// channel, so that an idle subscriber queries at once instead of at its
// next poll (the watermill-sql subscriber only polls). Processes starting
// together install it under an advisory lock.
func installNotify(ctx context.Context, pool *pgxpool.Pool, table, channel string) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("bus notify trigger: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	stmts := []string{
		`select pg_advisory_xact_lock(hashtext('buildledger bus notify'))`,
		`create or replace function ` + Schema + `.notify_new_message() returns trigger language plpgsql as $$
		begin
			perform pg_notify(tg_argv[0], '');
			return null;
		end $$`,
		`create or replace trigger notify_new_message after insert on ` + table +
			` for each statement execute function ` + Schema + `.notify_new_message(` + quoteLiteral(channel) + `)`,
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("bus notify trigger: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("bus notify trigger: %w", err)
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
