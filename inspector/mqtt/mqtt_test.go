package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/mqtt/mosquittotest"
	"github.com/pruefplatz/pruefplatz/inspector/outbox"
)

func queue(t *testing.T) *outbox.Queue {
	t.Helper()
	d, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	q, err := d.Queue("mqtt", 0)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newClient(t *testing.T, cfg Config, q *outbox.Queue) *Client {
	t.Helper()
	if cfg.Station == "" {
		cfg.Station = "test"
	}
	cfg.Backoff, cfg.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	cfg.Logger = quiet()
	c, err := New(cfg, q)
	if err != nil {
		t.Fatal(err)
	}
	c.Start(context.Background())
	t.Cleanup(func() { c.Close() })
	return c
}

// receiver is an MES stand-in: a persistent session (so QoS 1 messages
// wait for it across a broker restart) that records what arrives.
type receiver struct {
	mu   sync.Mutex
	msgs []paho.Message
	cli  paho.Client
	got  chan struct{}
}

func newReceiver(t *testing.T, brokerURL, filter string, clean bool) *receiver {
	t.Helper()
	r := &receiver{got: make(chan struct{}, 1)}
	handler := func(_ paho.Client, m paho.Message) {
		r.mu.Lock()
		r.msgs = append(r.msgs, m)
		r.mu.Unlock()
		select {
		case r.got <- struct{}{}:
		default:
		}
	}
	o := paho.NewClientOptions().AddBroker(brokerURL).SetClientID(fmt.Sprintf("receiver-%d", time.Now().UnixNano())).
		SetCleanSession(clean).SetAutoReconnect(true).SetMaxReconnectInterval(300 * time.Millisecond).
		SetOrderMatters(true).SetDefaultPublishHandler(handler).
		SetOnConnectHandler(func(c paho.Client) { c.Subscribe(filter, 1, handler) })
	r.cli = paho.NewClient(o)
	if tok := r.cli.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("receiver connect: %v", tok.Error())
	}
	// The subscription is made in the connect handler; wait until it holds.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		tok := r.cli.Subscribe(filter, 1, handler)
		if tok.WaitTimeout(time.Second) && tok.Error() == nil {
			break
		}
	}
	t.Cleanup(func() { r.cli.Disconnect(100) })
	return r
}

// wait returns the messages once cond holds for them, failing after d.
func (r *receiver) wait(t *testing.T, d time.Duration, cond func([]paho.Message) bool) []paho.Message {
	t.Helper()
	deadline := time.After(d)
	for {
		r.mu.Lock()
		msgs := append([]paho.Message(nil), r.msgs...)
		r.mu.Unlock()
		if cond(msgs) {
			return msgs
		}
		select {
		case <-r.got:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("receiver: condition not met within %v; %d messages", d, len(msgs))
		}
	}
}

func verdict(id uint64) *inspector.Verdict {
	return &inspector.Verdict{
		ID: id, Time: time.Date(2026, 12, 3, 10, 0, 0, int(id), time.UTC), Source: "cam0", Trigger: "continuous",
		Model:      inspector.ModelRef{Name: "demo-defects", Version: "v1", SHA256: "abc123"},
		Thresholds: inspector.Thresholds{Accept: 0.8, Reject: 0.3},
		Decision:   inspector.Decision{Outcome: inspector.OutcomeNOK, Label: "scratch", TopK: []inspector.Prediction{{Label: "scratch", Index: 1, Score: 0.9}}},
	}
}

func byTopic(msgs []paho.Message, topic string) []paho.Message {
	var out []paho.Message
	for _, m := range msgs {
		if m.Topic() == topic {
			out = append(out, m)
		}
	}
	return out
}

func TestPublishesVerdictReviewAndRetainedStatus(t *testing.T) {
	b := mosquittotest.Start(t)
	r := newReceiver(t, b.URL(), "pruefplatz/test/#", true)
	c := newClient(t, Config{Broker: b.URL(), BaseURL: "https://station.local:8080/"}, queue(t))

	v := verdict(7)
	c.Notify(inspector.Event{Kind: inspector.EventLive, Live: &v.Decision}) // ignored
	c.Notify(inspector.Event{Kind: inspector.EventVerdict, Time: v.Time, Verdict: v})
	rv := *v
	rv.AddReview(inspector.Review{Label: "ok", Outcome: inspector.OutcomeOK, By: "anna", Confirmed: false})
	c.Notify(inspector.Event{Kind: inspector.EventReview, Verdict: &rv})
	c.Notify(inspector.Event{Kind: inspector.EventStatus, Time: v.Time, Status: &inspector.StationStatus{Source: "cam0", SourceState: inspector.SourceDisconnected}})
	c.Notify(inspector.Event{Kind: inspector.EventAlarm, Time: v.Time, Alarm: &inspector.Alarm{Source: "webhook/mes", Message: "disabled"}})

	msgs := r.wait(t, 10*time.Second, func(m []paho.Message) bool {
		return len(byTopic(m, "pruefplatz/test/verdict")) == 1 && len(byTopic(m, "pruefplatz/test/review")) == 1 &&
			len(byTopic(m, "pruefplatz/test/status")) >= 2 && len(byTopic(m, "pruefplatz/test/alarm")) == 1
	})
	var am alarmMessage
	if err := json.Unmarshal(byTopic(msgs, "pruefplatz/test/alarm")[0].Payload(), &am); err != nil || am.Source != "webhook/mes" || am.Station != "test" {
		t.Fatalf("alarm %+v %v", am, err)
	}
	var n inspector.Notice
	if err := json.Unmarshal(byTopic(msgs, "pruefplatz/test/verdict")[0].Payload(), &n); err != nil {
		t.Fatal(err)
	}
	if n.ID != 7 || n.Station != "test" || n.Model.SHA256 != "abc123" || n.Outcome != inspector.OutcomeNOK ||
		n.Label != "scratch" || len(n.Scores) != 1 || n.Thresholds.Accept != 0.8 ||
		n.Image != "https://station.local:8080/api/verdicts/7/image" || n.Kind != inspector.EventVerdict {
		t.Fatalf("verdict notice = %+v", n)
	}
	var rn inspector.Notice
	if err := json.Unmarshal(byTopic(msgs, "pruefplatz/test/review")[0].Payload(), &rn); err != nil {
		t.Fatal(err)
	}
	if rn.Effective.Outcome != inspector.OutcomeOK || !rn.Effective.Reviewed || rn.Review == nil || rn.Review.By != "anna" {
		t.Fatalf("review notice = %+v", rn)
	}
	for _, m := range msgs {
		if m.Qos() != 1 {
			t.Fatalf("%s sent with QoS %d, want 1", m.Topic(), m.Qos())
		}
	}

	// A dashboard that connects later gets the last status at once.
	late := newReceiver(t, b.URL(), "pruefplatz/test/status", true)
	got := late.wait(t, 5*time.Second, func(m []paho.Message) bool { return len(m) >= 1 })
	var sm statusMessage
	if err := json.Unmarshal(got[0].Payload(), &sm); err != nil {
		t.Fatal(err)
	}
	if !got[0].Retained() || !sm.Online || sm.Status == nil || sm.Status.SourceState != inspector.SourceDisconnected {
		t.Fatalf("retained status = retained %v %+v", got[0].Retained(), sm)
	}
}

// cuttable dials through connections the test can cut, so the broker
// sees the station vanish without a DISCONNECT, as when it dies.
type cuttable struct {
	mu    sync.Mutex
	conns []*cutConn
}

// cutConn reports a cut as a network failure, not as a close the client
// asked for (which Paho would take as intended).
type cutConn struct {
	net.Conn
	cut atomic.Bool
}

var errCut = errors.New("test cut the connection")

func (c *cutConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.cut.Load() {
		return 0, errCut
	}
	return n, err
}

func (c *cuttable) dial(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
	conn, err := net.Dial("tcp", uri.Host)
	if err != nil {
		return nil, err
	}
	cc := &cutConn{Conn: conn}
	c.mu.Lock()
	c.conns = append(c.conns, cc)
	c.mu.Unlock()
	return cc, nil
}

func (c *cuttable) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.cut.Store(true)
		conn.Conn.Close()
	}
	c.conns = nil
}

func TestWillAnnouncesDeadStation(t *testing.T) {
	b := mosquittotest.Start(t)
	r := newReceiver(t, b.URL(), "pruefplatz/test/status", true)
	var cut cuttable
	c := newClient(t, Config{Broker: b.URL(), Dial: cut.dial}, queue(t))
	online := func(m paho.Message) bool {
		var sm statusMessage
		return json.Unmarshal(m.Payload(), &sm) == nil && sm.Online
	}
	r.wait(t, 10*time.Second, func(m []paho.Message) bool { return len(m) >= 1 && online(m[len(m)-1]) })
	cut.cut()
	r.wait(t, 10*time.Second, func(m []paho.Message) bool {
		for _, x := range m {
			if !online(x) {
				return true
			}
		}
		return false
	})
	// Paho reconnects by itself and announces the station online again.
	r.wait(t, 10*time.Second, func(m []paho.Message) bool { return online(m[len(m)-1]) && len(m) >= 3 })
	if s := c.Status(); s.State != StateConnected {
		t.Fatalf("state after reconnect = %+v", s)
	}
}

func TestTriggerTopicRecordsVerdict(t *testing.T) {
	b := mosquittotest.Start(t)
	var n atomic.Int32
	triggered := make(chan struct{}, 4)
	c := newClient(t, Config{Broker: b.URL(), Trigger: func(ctx context.Context) error {
		n.Add(1)
		triggered <- struct{}{}
		return nil
	}}, queue(t))
	deadline := time.Now().Add(10 * time.Second)
	for c.Status().State != StateConnected && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	plc := newReceiver(t, b.URL(), "unused/#", true)
	// The subscription is made right after connecting; retry until it lands.
	for time.Now().Before(deadline) {
		plc.cli.Publish("pruefplatz/test/trigger", 1, false, "go").WaitTimeout(time.Second)
		select {
		case <-triggered:
			if n.Load() < 1 {
				t.Fatal("trigger not counted")
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal("a message on the trigger topic did not trigger")
}

// TestBrokerRestartDeliversAllOnceInOrder puts verdicts while the broker
// runs, while it is stopped and after it is back; the receiver, deduping
// by id, gets each exactly once and in order. PRUEFPLATZ_MQTT_COUNT sets
// the count (300 by default; the figure in docs/integration.md is 10,000).
func TestBrokerRestartDeliversAllOnceInOrder(t *testing.T) {
	total := 300
	if s := os.Getenv("PRUEFPLATZ_MQTT_COUNT"); s != "" {
		var err error
		if total, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	b := mosquittotest.Start(t)
	r := newReceiver(t, b.URL(), "pruefplatz/test/verdict", false)
	q := queue(t)
	c := newClient(t, Config{Broker: b.URL()}, q)
	start := time.Now()

	put := func(from, to int) {
		for i := from; i < to; i++ {
			v := verdict(uint64(i + 1))
			c.Notify(inspector.Event{Kind: inspector.EventVerdict, Verdict: v})
		}
	}
	third := total / 3
	put(0, third)
	b.Stop()
	put(third, 2*third)
	if q.Len() == 0 {
		t.Fatal("nothing queued while the broker was down")
	}
	time.Sleep(300 * time.Millisecond) // let the client notice and retry against a dead port
	b.Restart()
	put(2*third, total)

	seen := map[uint64]bool{}
	var order []uint64
	dups := 0
	r.wait(t, 60*time.Second, func(m []paho.Message) bool {
		for _, x := range m[len(order)+dups:] {
			var n inspector.Notice
			if err := json.Unmarshal(x.Payload(), &n); err != nil {
				t.Fatal(err)
			}
			if seen[n.ID] {
				dups++
				continue
			}
			seen[n.ID] = true
			order = append(order, n.ID)
		}
		return len(order) == total
	})
	for i, id := range order {
		if id != uint64(i+1) {
			t.Fatalf("position %d has verdict %d: out of order", i, id)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for q.Len() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if q.Len() != 0 {
		t.Fatalf("queue still holds %d after delivery", q.Len())
	}
	t.Logf("%d verdicts through a broker restart in %v: none lost, %d duplicates removed by the receiver", total, time.Since(start).Round(time.Millisecond), dups)
}

func TestBadCredentialsGiveClearStatus(t *testing.T) {
	mosquittotest.Need(t)
	pw, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Fatal("mosquitto_passwd missing (it comes with the mosquitto package)")
	}
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "passwd")
	if out, err := exec.Command(pw, "-c", "-b", pwFile, "station", "right-secret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	b := mosquittotest.Start(t, "allow_anonymous false", "password_file "+pwFile)
	q := queue(t)
	c := newClient(t, Config{Broker: b.URL(), Username: "station", Password: "wrong"}, q)
	deadline := time.Now().Add(10 * time.Second)
	for c.Status().State != StateUnauthorized && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	s := c.Status()
	if s.State != StateUnauthorized || s.Error == "" {
		t.Fatalf("status with a wrong password = %+v, want unauthorized with the broker's reason", s)
	}
	// Verdicts still queue on disk; nothing is lost while the password is wrong.
	c.Notify(inspector.Event{Kind: inspector.EventVerdict, Verdict: verdict(1)})
	if q.Len() != 1 {
		t.Fatalf("queue = %d, want 1", q.Len())
	}
	good := newClient(t, Config{Broker: b.URL(), Username: "station", Password: "right-secret", ClientID: "good"}, queue(t))
	deadline = time.Now().Add(10 * time.Second)
	for good.Status().State != StateConnected && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s := good.Status(); s.State != StateConnected {
		t.Fatalf("right password: %+v", s)
	}
}

func TestNewRejectsBadBroker(t *testing.T) {
	for _, u := range []string{"", "localhost:1883", "http://x:1", "tcp://"} {
		if _, err := New(Config{Broker: u, Station: "s"}, nil); err == nil {
			t.Errorf("broker %q accepted", u)
		}
	}
	if _, err := New(Config{Broker: "tcp://x:1"}, nil); err == nil {
		t.Error("missing station accepted")
	}
}
