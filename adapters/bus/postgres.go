package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5/pgxpool"
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
	sub, err := wsql.NewSubscriber(db, wsql.SubscriberConfig{ConsumerGroup: ConsumerGroup, AckDeadline: &deadline,
		PollInterval: 200 * time.Millisecond, ResendInterval: time.Second, RetryInterval: time.Second,
		SchemaAdapter: schema, OffsetsAdapter: offsets, InitializeSchema: true}, wlog)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("bus subscriber: %w", err), pub.Close())
	}
	if err := sub.SubscribeInitialize(opts.Topic); err != nil {
		return nil, errors.Join(fmt.Errorf("bus tables for %s: %w", opts.Topic, err), pub.Close(), sub.Close())
	}
	return &Bus{pub: pub, sub: sub, topic: opts.Topic, log: opts.Logger, wlog: wlog,
		close: func() error { return errors.Join(pub.Close(), sub.Close()) }, ready: make(chan struct{})}, nil
}
