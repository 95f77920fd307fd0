// Package bus is the command bus between the scheduler and builder
// workers, on watermill: an in-process GoChannel (inside "up") or
// watermill-sql on Postgres when the queue runner and workers are separate
// processes.
//
// The bus carries BuildStep commands only, never events. The ledger stays
// the source of truth: a command the bus loses is sent again after its
// dispatch lease expires, and a duplicate is refused by the step stream's
// revision (commands.Handlers.StartStep). A handler that keeps failing is retried
// a few times in process and then dropped (logged): the lease takes over.
//
// The in-process bus keeps no message: one sent while no handler is
// subscribed is dropped, and its lease sends it again. Callers start
// sending once Ready is closed, so that this happens only when a handler
// stops, not at every start.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"buildledger/commands"
)

// DefaultTopic is the topic BuildStep commands travel on.
const DefaultTopic = "build_steps"

// Bus sends BuildStep commands and delivers them to one registered
// handler. It implements commands.BuildStepSender.
type Bus struct {
	pub   message.Publisher
	sub   message.Subscriber
	topic string
	log   *slog.Logger
	wlog  watermill.LoggerAdapter
	close func() error

	ready     chan struct{}
	readyOnce sync.Once

	mu      sync.Mutex
	handler commands.BuildStepHandler
}

// Options tune a Bus. The zero value is ready to use.
type Options struct {
	// Topic defaults to DefaultTopic.
	Topic string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// AckDeadline is how long the Postgres bus waits for the handler
	// before it gives the command up and delivers it again. Default 30 s.
	AckDeadline time.Duration
}

func (o Options) withDefaults() Options {
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.AckDeadline <= 0 {
		o.AckDeadline = 30 * time.Second
	}
	return o
}

// NewGoChannel returns an in-process bus. It holds a command only until
// the handler takes it: one sent while no handler is subscribed is lost
// and left to its lease. (watermill's persistent mode would deliver it,
// but keeps every message ever published for the life of the process.)
func NewGoChannel(opts Options) *Bus {
	opts = opts.withDefaults()
	wlog := watermill.NewSlogLogger(opts.Logger)
	ch := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1024}, wlog)
	return &Bus{pub: ch, sub: ch, topic: opts.Topic, log: opts.Logger, wlog: wlog, close: ch.Close,
		ready: make(chan struct{})}
}

// Ready is closed once Run has subscribed the handler: commands sent from
// then on reach it.
func (b *Bus) Ready() <-chan struct{} { return b.ready }

// SendBuildStep publishes c; the message id is the command's id (the
// StepDispatched event id).
func (b *Bus) SendBuildStep(ctx context.Context, c commands.BuildStep) error {
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode BuildStep %s: %w", c.DrvPath, err)
	}
	id := c.ID
	if id == "" {
		id = watermill.NewUUID()
	}
	msg := message.NewMessage(id, data)
	msg.Metadata.Set("correlation_id", c.CorrelationID)
	msg.SetContext(ctx)
	if err := b.pub.Publish(b.topic, msg); err != nil {
		return fmt.Errorf("publish BuildStep %s: %w", c.DrvPath, err)
	}
	return nil
}

// Handle registers the handler Run delivers commands to. Register it
// before Run.
func (b *Bus) Handle(h commands.BuildStepHandler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handler = h
}

// Run delivers commands to the handler until ctx ends. A handler error is
// retried three times with backoff; then the command is dropped and
// logged (its lease will requeue the step). A command that does not
// decode is dropped at once.
func (b *Bus) Run(ctx context.Context) error {
	b.mu.Lock()
	h := b.handler
	b.mu.Unlock()
	if h == nil {
		return errors.New("bus: no BuildStep handler registered")
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, b.wlog)
	if err != nil {
		return fmt.Errorf("bus router: %w", err)
	}
	retry := middleware.Retry{MaxRetries: 3, InitialInterval: 100 * time.Millisecond, MaxInterval: 2 * time.Second,
		Multiplier: 2, Logger: b.wlog}
	handler := router.AddConsumerHandler("build-step", b.topic, b.sub, func(msg *message.Message) error {
		var c commands.BuildStep
		if err := json.Unmarshal(msg.Payload, &c); err != nil {
			b.log.Error("bus: dropping undecodable BuildStep", "id", msg.UUID, "err", err)
			return nil
		}
		return h(msg.Context(), c)
	})
	handler.AddMiddleware(b.dropAfterRetries, retry.Middleware, middleware.Recoverer)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-router.Running():
			b.readyOnce.Do(func() { close(b.ready) })
		case <-stop:
		}
	}()
	if err := router.Run(ctx); err != nil {
		return fmt.Errorf("bus router: %w", err)
	}
	return nil
}

// dropAfterRetries acks a message whose handler still fails after the
// retries, so one bad command never blocks the topic.
func (b *Bus) dropAfterRetries(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := next(msg)
		if err != nil {
			b.log.Error("bus: dropping BuildStep after retries; its lease will requeue the step", "id", msg.UUID, "err", err)
			return nil, nil
		}
		return out, nil
	}
}

// Close releases the bus's publisher and subscriber.
func (b *Bus) Close() error {
	if b.close == nil {
		return nil
	}
	return b.close()
}
