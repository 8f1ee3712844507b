package mysite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// brokerHeartbeat is the AMQP heartbeat mysite asks for. amqp091-go closes
// a connection that received nothing for 3 heartbeats, so a broker that
// vanished (killed behind a proxy that still accepts: nothing ever answers)
// is noticed within 3 s, and the publisher or worker connects again.
const brokerHeartbeat = time.Second

// brokerDialTimeout bounds a connect, AMQP handshake included: a dead
// broker behind a proxy accepts the TCP connection and never answers.
const brokerDialTimeout = 2 * time.Second

// errBrokerDown: there is no open channel to the broker right now.
var errBrokerDown = errors.New("message broker not connected")

// broker keeps one AMQP connection and channel open to the broker at url,
// with the job queue declared on it, and opens them again whenever they
// close (broker restart, cut link, missed heartbeats), with jittered
// backoff. setup runs on every new channel (confirm mode, QoS) before it is
// handed out.
type broker struct {
	url   string
	queue queueSpec
	setup func(*amqp.Channel) error
	log   *slog.Logger

	mu      sync.Mutex
	ch      *amqp.Channel
	conn    *amqp.Connection
	lastErr string
	changed chan struct{} // closed and replaced whenever ch changes
}

// queueSpec is the job queue as both producers and workers declare it: they
// must agree, or the broker refuses the second declaration.
type queueSpec struct {
	Name    string
	Durable bool
}

func newBroker(url string, q queueSpec, setup func(*amqp.Channel) error, log *slog.Logger) *broker {
	return &broker{url: url, queue: q, setup: setup, log: log, changed: make(chan struct{})}
}

// Run connects and reconnects until ctx is done, then closes the connection.
func (b *broker) Run(ctx context.Context) {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	for ctx.Err() == nil {
		conn, ch, err := b.connect()
		if err != nil {
			b.setErr(err)
			wait := backoff/2 + rand.N(backoff/2+1)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = minBackoff
		closed := conn.NotifyClose(make(chan *amqp.Error, 1))
		chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
		b.set(conn, ch)
		b.log.Info("message broker connected", "queue", b.queue.Name, "durable", b.queue.Durable)
		var why error
		select {
		case <-ctx.Done():
		case e := <-closed:
			why = amqpErr(e, "connection closed")
		case e := <-chClosed:
			why = amqpErr(e, "channel closed")
		}
		b.set(nil, nil)
		_ = conn.Close()
		if why != nil {
			b.setErr(why)
			b.log.Warn("message broker connection lost", "err", why)
		}
	}
}

func amqpErr(e *amqp.Error, what string) error {
	if e == nil {
		return errors.New(what)
	}
	return fmt.Errorf("%s: %w", what, e)
}

func (b *broker) connect() (*amqp.Connection, *amqp.Channel, error) {
	conn, err := amqp.DialConfig(b.url, amqp.Config{Heartbeat: brokerHeartbeat, Dial: amqp.DefaultDial(brokerDialTimeout)})
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the message broker: %w", err)
	}
	ch, err := conn.Channel()
	if err == nil {
		_, err = ch.QueueDeclare(b.queue.Name, b.queue.Durable, false, false, false, nil)
	}
	if err == nil && b.setup != nil {
		err = b.setup(ch)
	}
	if err != nil {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("open the job queue %q: %w", b.queue.Name, err)
	}
	return conn, ch, nil
}

func (b *broker) set(conn *amqp.Connection, ch *amqp.Channel) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.conn, b.ch = conn, ch
	if ch != nil {
		b.lastErr = ""
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *broker) setErr(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastErr = err.Error()
}

// Channel is the open channel, or errBrokerDown with the last error.
func (b *broker) Channel() (*amqp.Channel, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		if b.lastErr != "" {
			return nil, fmt.Errorf("%w: %s", errBrokerDown, b.lastErr)
		}
		return nil, errBrokerDown
	}
	return b.ch, nil
}

// next returns the open channel as soon as there is one, or ctx's error.
func (b *broker) next(ctx context.Context) (*amqp.Channel, error) {
	for {
		b.mu.Lock()
		ch, changed := b.ch, b.changed
		b.mu.Unlock()
		if ch != nil {
			return ch, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

// Depth asks the broker how many messages wait in the queue and how many
// consumers it has (a passive declare on a channel of its own, so that an
// error does not close the shared one).
func (b *broker) Depth() (messages, consumers int, err error) {
	b.mu.Lock()
	conn := b.conn
	b.mu.Unlock()
	if conn == nil {
		return 0, 0, errBrokerDown
	}
	ch, err := conn.Channel()
	if err != nil {
		return 0, 0, err
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(b.queue.Name, b.queue.Durable, false, false, false, nil)
	if err != nil {
		return 0, 0, err
	}
	return q.Messages, q.Consumers, nil
}
