// Package mqtt publishes the station's verdicts, reviews and status to an
// MQTT broker and takes triggers from it, with Eclipse Paho.
//
// Topics, under Config.Prefix (default "pruefplatz/<station>"):
//
//	<prefix>/verdict  every recorded verdict (inspector.Notice), QoS 1
//	<prefix>/review   every stored review (inspector.Notice), QoS 1
//	<prefix>/status   station status, QoS 1, retained; the broker publishes
//	                  {"online":false} there when the station dies (will)
//	<prefix>/alarm    alarms (e.g. a webhook disabled itself), QoS 1
//	<prefix>/trigger  subscribed: any message records a verdict now
//
// Notify writes each message to a durable outbox queue and returns; one
// goroutine sends the queue in order and removes a message only after the
// broker acknowledged it (PUBACK), so messages put while the broker is down
// arrive after it returns, in order. Delivery is at least once: a receiver
// dedupes by the notice's kind and id.
package mqtt

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/outbox"
)

// State is the broker connection's state.
type State string

const (
	StateConnecting   State = "connecting"
	StateConnected    State = "connected"
	StateDisconnected State = "disconnected"
	// StateUnauthorized: the broker refused the username or password; the
	// client keeps retrying (an operator may fix the broker's side).
	StateUnauthorized State = "unauthorized"
	StateClosed       State = "closed"
)

// Status is a snapshot of the connection.
type Status struct {
	State State     `json:"state"`
	Error string    `json:"error,omitempty"`
	Since time.Time `json:"since"`
	// Queued is the number of messages waiting for the broker.
	Queued int `json:"queued"`
}

// Config configures the client. Broker and Station are required.
type Config struct {
	// Broker is the server URL: tcp://host:1883, ssl://host:8883 (TLS), ws:// or wss://.
	Broker   string
	ClientID string // default "pruefplatz-<station>"
	Username string
	// Password is never logged; cmd reads it from a file or the environment.
	Password string
	TLS      *tls.Config // for ssl:// and wss:// (nil: system roots)
	Station  string
	Prefix   string // topic prefix, default "pruefplatz/<station>"
	// BaseURL is the station's web address, for the image link in notices.
	BaseURL string
	// Trigger, if set, is called for each message on <prefix>/trigger.
	Trigger func(ctx context.Context) error
	// ConnectTimeout bounds one connection attempt (default 5s);
	// PublishTimeout one batch's acknowledgements (default 10s).
	ConnectTimeout time.Duration
	PublishTimeout time.Duration
	// Backoff is the first wait after a failed connection or delivery
	// (default 250ms), doubling up to MaxBackoff (default 10s).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Batch is how many messages are in flight at once (default 64).
	Batch int
	// Dial, if set, opens the network connection (tests cut it to kill the
	// station without a DISCONNECT).
	Dial   func(uri *url.URL, opts paho.ClientOptions) (net.Conn, error)
	Logger *slog.Logger
	Now    func() time.Time
}

// Client publishes to and subscribes at one broker. Create it with New,
// then Start; Close stops it.
type Client struct {
	cfg Config
	q   *outbox.Queue
	cli paho.Client
	log *slog.Logger

	// gen changes on every connect and connection loss: a batch waiting
	// for acknowledgements across either is sent again from the outbox.
	gen atomic.Uint64

	mu         sync.Mutex
	st         Status
	lastStatus *inspector.StationStatus

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// envelope is what the outbox holds for MQTT: the topic's last part, the
// retain flag and the payload as sent.
type envelope struct {
	Topic   string          `json:"t"`
	Retain  bool            `json:"r,omitempty"`
	Payload json.RawMessage `json:"p"`
}

// statusMessage is the retained status payload.
type statusMessage struct {
	Online  bool                     `json:"online"`
	Station string                   `json:"station"`
	Time    time.Time                `json:"time"`
	Status  *inspector.StationStatus `json:"status,omitempty"`
}

// alarmMessage is the alarm topic's payload.
type alarmMessage struct {
	Station string    `json:"station"`
	Time    time.Time `json:"time"`
	inspector.Alarm
}

// New checks cfg and makes a client sending through q; nothing connects
// until Start. It returns an error for a missing or malformed broker URL.
func New(cfg Config, q *outbox.Queue) (*Client, error) {
	if cfg.Station == "" {
		return nil, errors.New("mqtt: station name required")
	}
	u, err := url.Parse(cfg.Broker)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("mqtt: broker %q: want tcp://host:port, ssl://host:port, ws:// or wss://", cfg.Broker)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return nil, fmt.Errorf("mqtt: broker %q: unknown scheme %q", cfg.Broker, u.Scheme)
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "pruefplatz-" + cfg.Station
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "pruefplatz/" + cfg.Station
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 10 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Client{cfg: cfg, q: q, log: cfg.Logger, st: Status{State: StateConnecting, Since: cfg.Now()}}
	will, _ := json.Marshal(statusMessage{Online: false, Station: cfg.Station})
	o := paho.NewClientOptions().AddBroker(cfg.Broker).SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).SetPassword(cfg.Password).SetTLSConfig(cfg.TLS).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(false).
		SetConnectTimeout(cfg.ConnectTimeout).SetMaxReconnectInterval(cfg.MaxBackoff).
		SetKeepAlive(30*time.Second).SetWill(c.topic("status"), string(will), 1, true).
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			c.gen.Add(1)
			c.setState(StateDisconnected, err)
		}).
		// The outbox is the only place a message is sent again from: Paho's
		// own store would resend after a reconnect, ahead of older messages
		// the outbox retries, and break the order.
		SetStore(noStore{}).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) { c.setState(StateConnecting, nil) })
	if cfg.Dial != nil {
		o.SetCustomOpenConnectionFn(func(uri *url.URL, opts paho.ClientOptions) (net.Conn, error) { return cfg.Dial(uri, opts) })
	}
	c.cli = paho.NewClient(o)
	return c, nil
}

func (c *Client) topic(last string) string { return c.cfg.Prefix + "/" + last }

// Status returns the connection's state and queue length.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st
	s.Queued = c.q.Len()
	return s
}

func (c *Client) setState(s State, err error) {
	c.mu.Lock()
	changed := c.st.State != s
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if changed || c.st.Error != msg {
		c.st = Status{State: s, Error: msg, Since: c.cfg.Now()}
	}
	c.mu.Unlock()
	if !changed {
		return
	}
	switch s {
	case StateUnauthorized:
		c.log.Error("mqtt broker refused the credentials; retrying", "broker", c.cfg.Broker, "user", c.cfg.Username, "err", err)
	case StateDisconnected:
		c.log.Warn("mqtt connection lost; verdicts are queued on disk", "broker", c.cfg.Broker, "err", err)
	case StateConnected:
		c.log.Info("mqtt connected", "broker", c.cfg.Broker, "queued", c.q.Len())
	}
}

// onConnect runs on every (re)connection: announce the station online
// (retained, replacing the will) and subscribe to triggers, since a clean
// session forgets subscriptions.
func (c *Client) onConnect(cli paho.Client) {
	c.gen.Add(1)
	c.setState(StateConnected, nil)
	c.mu.Lock()
	last := c.lastStatus
	c.mu.Unlock()
	b, _ := json.Marshal(statusMessage{Online: true, Station: c.cfg.Station, Time: c.cfg.Now().UTC(), Status: last})
	cli.Publish(c.topic("status"), 1, true, b) // not awaited: this runs on paho's goroutine
	if c.cfg.Trigger != nil {
		cli.Subscribe(c.topic("trigger"), 1, c.onTrigger)
	}
}

func (c *Client) onTrigger(_ paho.Client, _ paho.Message) {
	// Handlers run in order on paho's goroutine: never block it.
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.cfg.Trigger(ctx); err != nil {
			c.log.Warn("mqtt trigger failed", "err", err)
		}
	}()
}

// Notify queues the message for e (verdicts, reviews and status; live
// decisions are ignored). It writes to disk and returns; a failure (queue
// full, disk) is logged and counted, never passed to the station. Callers
// feeding several integrations use Encode and outbox.DB.Put instead, for one
// disk write in all.
func (c *Client) Notify(e inspector.Event) {
	b, ok := c.Encode(e)
	if !ok {
		return
	}
	if err := c.q.Put(b); err != nil {
		c.log.Error("mqtt message not queued", "kind", e.Kind, "err", err)
	}
}

// Queue is the outbox queue the client sends from.
func (c *Client) Queue() *outbox.Queue { return c.q }

// Encode returns the queue record for e, false for events MQTT does not
// carry (live decisions).
func (c *Client) Encode(e inspector.Event) ([]byte, bool) {
	var env envelope
	var payload any
	switch e.Kind {
	case inspector.EventVerdict, inspector.EventReview:
		if e.Verdict == nil {
			return nil, false
		}
		env.Topic = string(e.Kind)
		payload = inspector.NewNotice(e.Kind, e.Verdict, c.cfg.Station, c.cfg.BaseURL)
	case inspector.EventStatus:
		c.mu.Lock()
		c.lastStatus = e.Status
		c.mu.Unlock()
		env.Topic, env.Retain = "status", true
		payload = statusMessage{Online: true, Station: c.cfg.Station, Time: e.Time.UTC(), Status: e.Status}
	case inspector.EventAlarm:
		if e.Alarm == nil {
			return nil, false
		}
		env.Topic = "alarm"
		payload = alarmMessage{Station: c.cfg.Station, Time: e.Time.UTC(), Alarm: *e.Alarm}
	default:
		return nil, false
	}
	b, err := json.Marshal(payload)
	if err == nil {
		env.Payload = b
		b, err = json.Marshal(env)
	}
	if err != nil {
		c.log.Error("mqtt message not encoded", "topic", env.Topic, "err", err)
		return nil, false
	}
	return b, true
}

// Start connects (retrying in the background) and starts sending the
// queue. Call it once.
func (c *Client) Start(ctx context.Context) {
	ctx, c.cancel = context.WithCancel(ctx)
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.connect(ctx)
	}()
	go func() {
		defer c.wg.Done()
		err := c.q.Run(ctx, c.deliver, outbox.RunOptions{Batch: c.cfg.Batch, Backoff: c.cfg.Backoff, MaxBackoff: c.cfg.MaxBackoff})
		if err != nil && !errors.Is(err, outbox.ErrClosed) {
			c.log.Error("mqtt queue stopped", "err", err)
		}
	}()
}

// connect tries until the first connection succeeds; Paho's auto-reconnect
// takes over from there.
func (c *Client) connect(ctx context.Context) {
	wait := c.cfg.Backoff
	for ctx.Err() == nil {
		c.setState(StateConnecting, nil)
		tok := c.cli.Connect()
		var err error
		if !tok.WaitTimeout(c.cfg.ConnectTimeout + time.Second) {
			err = errors.New("connect timed out")
		} else {
			err = tok.Error()
		}
		if err == nil {
			return
		}
		if errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) || errors.Is(err, packets.ErrorRefusedNotAuthorised) {
			c.setState(StateUnauthorized, err)
		} else {
			c.setState(StateDisconnected, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, c.cfg.MaxBackoff)
	}
}

var errNotConnected = errors.New("mqtt: not connected")

// deliver publishes msgs in order with QoS 1, each only after the broker
// acknowledged the one before, and counts how many it acknowledged. One at a
// time keeps the order across a lost connection: with several in flight, a
// later message could reach the broker on a new connection while an earlier
// one died with the old, and the retry would put the earlier one after it.
func (c *Client) deliver(ctx context.Context, msgs []outbox.Message) (int, error) {
	if !c.cli.IsConnectionOpen() {
		return 0, errNotConnected
	}
	gen := c.gen.Load()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i, m := range msgs {
		var env envelope
		if err := json.Unmarshal(m.Data, &env); err != nil || env.Topic == "" {
			// A record this version cannot read would block the queue forever.
			c.log.Error("mqtt: unreadable queued message dropped", "seq", m.Seq, "err", err)
			continue
		}
		t := c.cli.Publish(c.topic(env.Topic), 1, env.Retain, []byte(env.Payload))
		deadline := time.NewTimer(c.cfg.PublishTimeout)
	wait:
		for {
			select {
			case <-t.Done():
				break wait
			case <-ctx.Done():
				deadline.Stop()
				return i, ctx.Err()
			case <-deadline.C:
				return i, errors.New("mqtt: publish not acknowledged in time")
			case <-tick.C:
				if c.gen.Load() != gen {
					deadline.Stop()
					return i, errors.New("mqtt: connection lost before the broker acknowledged")
				}
			}
		}
		deadline.Stop()
		if err := t.Error(); err != nil {
			return i, fmt.Errorf("mqtt publish: %w", err)
		}
	}
	return len(msgs), nil
}

// noStore keeps nothing, so Paho never resends on its own (see New).
type noStore struct{}

func (noStore) Open()                             {}
func (noStore) Put(string, packets.ControlPacket) {}
func (noStore) Get(string) packets.ControlPacket  { return nil }
func (noStore) All() []string                     { return nil }
func (noStore) Del(string)                        {}
func (noStore) Close()                            {}
func (noStore) Reset()                            {}

// Close stops sending, announces the station offline (retained) and
// disconnects. Messages still queued stay on disk for the next start.
func (c *Client) Close() error {
	if c.cancel != nil {
		c.cancel()
	}
	if c.cli.IsConnectionOpen() {
		b, _ := json.Marshal(statusMessage{Online: false, Station: c.cfg.Station, Time: c.cfg.Now().UTC()})
		c.cli.Publish(c.topic("status"), 1, true, b).WaitTimeout(2 * time.Second)
	}
	c.cli.Disconnect(250)
	c.wg.Wait()
	c.setState(StateClosed, nil)
	return nil
}

var descState = prometheus.NewDesc("pruefplatz_mqtt_state", "1 for the MQTT connection's current state, 0 for the others.", []string{"state"}, nil)

// Collector reports the connection state on /metrics (the queue depth is
// the outbox's).
func (c *Client) Collector() prometheus.Collector { return stateCollector{c} }

type stateCollector struct{ c *Client }

func (s stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descState }
func (s stateCollector) Collect(ch chan<- prometheus.Metric) {
	cur := s.c.Status().State
	for _, st := range []State{StateConnecting, StateConnected, StateDisconnected, StateUnauthorized, StateClosed} {
		v := 0.0
		if st == cur {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, string(st))
	}
}
