package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/simonvetter/modbus"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/mqtt/mosquittotest"
	"github.com/pruefplatz/pruefplatz/inspector/plc"
	"github.com/pruefplatz/pruefplatz/inspector/webhook"
)

func TestServeIntegrationConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "station.yaml")
	yaml := "station: line3\nbase_url: https://line3.local\nmqtt:\n  broker: tcp://broker:1883\n  username: st\n  password_file: " +
		filepath.Join(dir, "pw") + "\n  topic_prefix: plant/line3\n"
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := resolved(t, "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Station != "line3" || c.BaseURL != "https://line3.local" || c.MQTT.Broker != "tcp://broker:1883" ||
		c.MQTT.Username != "st" || c.MQTT.Prefix != "plant/line3" {
		t.Errorf("file values not taken: %+v", c)
	}
	c, _ = resolved(t, "--config", path, "--mqtt-broker", "ssl://other:8883", "--station", "line4")
	if c.MQTT.Broker != "ssl://other:8883" || c.Station != "line4" || c.MQTT.Username != "st" {
		t.Errorf("flags did not override the file: %+v", c)
	}

	os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cret\n"), 0o600)
	if pw, err := secret(filepath.Join(dir, "pw"), mqttPasswordEnv); err != nil || pw != "s3cret" {
		t.Errorf("password file: %q %v", pw, err)
	}
	t.Setenv(mqttPasswordEnv, "from-env")
	if pw, _ := secret("", mqttPasswordEnv); pw != "from-env" {
		t.Errorf("password from the environment: %q", pw)
	}
	if _, err := secret(filepath.Join(dir, "missing"), mqttPasswordEnv); err == nil {
		t.Error("a missing password file was accepted")
	}

	if tc, err := tlsClientConfig("", "", ""); tc != nil || err != nil {
		t.Errorf("no TLS files: %v %v", tc, err)
	}
	os.WriteFile(filepath.Join(dir, "not.pem"), []byte("hello"), 0o600)
	if _, err := tlsClientConfig(filepath.Join(dir, "not.pem"), "", ""); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Errorf("a CA file without certificates: %v", err)
	}
	if _, err := tlsClientConfig("", filepath.Join(dir, "pw"), ""); err == nil {
		t.Error("a client certificate without its key was accepted")
	}
}

// TestServeTalksMQTT runs serve against a real mosquitto in manual-trigger
// mode: a message on the trigger topic records a verdict, which arrives on
// the verdict topic; the retained status says online while it runs and
// offline after it stopped.
func TestServeTalksMQTT(t *testing.T) {
	t.Parallel() // a whole station each: they mostly wait on frames, browsers and brokers
	b := mosquittotest.Start(t)
	feed := stationFeed(t)
	var mu sync.Mutex
	byTopic := map[string][]paho.Message{}
	rec := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("mes").SetOrderMatters(true))
	if tok := rec.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("receiver: %v", tok.Error())
	}
	defer rec.Disconnect(100)
	if tok := rec.Subscribe("pruefplatz/e2e/#", 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		byTopic[m.Topic()] = append(byTopic[m.Topic()], m)
		mu.Unlock()
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	last := func(topic string) paho.Message {
		mu.Lock()
		defer mu.Unlock()
		if ms := byTopic[topic]; len(ms) > 0 {
			return ms[len(ms)-1]
		}
		return nil
	}

	s := startServe(t, "--source", feed, "--fps", "30", "--trigger", "manual",
		"--station", "e2e", "--mqtt-broker", b.URL(), "--base-url", "http://station:8080")
	var verdict paho.Message
	deadline := time.Now().Add(30 * time.Second)
	for verdict == nil && time.Now().Before(deadline) {
		// Triggers before the first frame fail; keep asking, as a PLC would.
		rec.Publish("pruefplatz/e2e/trigger", 1, false, "{}").WaitTimeout(time.Second)
		time.Sleep(300 * time.Millisecond)
		verdict = last("pruefplatz/e2e/verdict")
	}
	if verdict == nil {
		t.Fatalf("no verdict on MQTT after triggering over MQTT\n%s", s.out.String())
	}
	var n inspector.Notice
	if err := json.Unmarshal(verdict.Payload(), &n); err != nil {
		t.Fatal(err)
	}
	if n.Station != "e2e" || n.Trigger != string(inspector.TriggerManual) || n.Model.Name != defaultModel || n.Model.SHA256 == "" ||
		n.Image != fmt.Sprintf("http://station:8080/api/verdicts/%d/image", n.ID) || len(n.Scores) == 0 {
		t.Errorf("verdict notice %+v", n)
	}
	online := func() (bool, bool) {
		m := last("pruefplatz/e2e/status")
		if m == nil {
			return false, false
		}
		var st struct{ Online bool }
		json.Unmarshal(m.Payload(), &st)
		return st.Online, true
	}
	if on, ok := online(); !ok || !on {
		t.Errorf("status while serving: online=%v seen=%v", on, ok)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if on, _ := online(); !on {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Error("status still online after serve stopped")
}

// TestWebhooksFromConfig reads a webhooks list from the config file, opens
// the integrations and sends a NOK verdict to a loopback receiver that
// checks the signature with the secret from the named environment variable;
// an OK verdict is filtered out.
func TestWebhooksFromConfig(t *testing.T) {
	got := make(chan inspector.Notice, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify("hook-key", r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var n inspector.Notice
		json.Unmarshal(body, &n)
		got <- n
	}))
	defer recv.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "station.yaml")
	yaml := "station: line3\nstore: " + filepath.Join(dir, "v.db") + "\nwebhooks:\n  - name: shift-lead\n    url: " + recv.URL +
		"\n    secret_env: HOOK_KEY\n    outcomes: [nok, uncertain]\n    max_failures: 5\n    timeout: 2s\n"
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := resolved(t, "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Webhooks) != 1 || c.Webhooks[0].Timeout != 2*time.Second || len(c.Webhooks[0].Outcomes) != 2 {
		t.Fatalf("webhooks %+v", c.Webhooks)
	}
	t.Setenv("HOOK_KEY", "hook-key")
	in, err := openIntegrations(c, "line3", nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.start(ctx)
	defer func() {
		cancel()
		if err := in.Close(); err != nil {
			t.Error(err)
		}
	}()
	in.Notify(inspector.Event{Kind: inspector.EventVerdict, Verdict: &inspector.Verdict{ID: 1, Decision: inspector.Decision{Outcome: inspector.OutcomeOK}}})
	in.Notify(inspector.Event{Kind: inspector.EventVerdict, Verdict: &inspector.Verdict{ID: 2, Decision: inspector.Decision{Outcome: inspector.OutcomeNOK}}})
	select {
	case n := <-got:
		if n.ID != 2 || n.Station != "line3" {
			t.Fatalf("received %+v", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook delivery")
	}
	if _, err := os.Stat(filepath.Join(dir, "outbox.db")); err != nil {
		t.Errorf("no outbox beside the store: %v", err)
	}

	c.Webhooks = append(c.Webhooks, c.Webhooks[0])
	if _, err := openIntegrations(c, "line3", nil, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "name of its own") {
		t.Errorf("two webhooks with one name: %v", err)
	}
}

// TestServePLCHandshake runs serve as a Modbus/TCP server in manual-trigger
// mode with the default model on the demo feed, and plays the PLC with the
// library's client: each cycle (part_ready → result_valid) must answer
// with a real result. It logs the round trip's p50 and p99, classification
// included; PRUEFPLATZ_PLC_CYCLES sets the number of cycles (default 20).
func TestServePLCHandshake(t *testing.T) {
	t.Parallel() // a whole station each: they mostly wait on frames, browsers and brokers
	n := 20
	if s := os.Getenv("PRUEFPLATZ_PLC_CYCLES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	feed := stationFeed(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := startServe(t, "--source", feed, "--fps", "30", "--trigger", "manual", "--plc-address", addr)
	deadline := time.Now().Add(30 * time.Second)
	for s.status(t).Live == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: "tcp://" + addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitValid := func(want uint16) []uint16 {
		end := time.Now().Add(5 * time.Second)
		for time.Now().Before(end) {
			regs, err := c.ReadRegisters(0, plc.NumRegisters, modbus.HOLDING_REGISTER)
			if err != nil {
				t.Fatal(err)
			}
			if regs[plc.RegValid] == want {
				return regs
			}
			time.Sleep(500 * time.Microsecond)
		}
		t.Fatalf("result_valid did not become %d", want)
		return nil
	}
	var rts []time.Duration
	for i := range n {
		start := time.Now()
		if err := c.WriteRegister(plc.RegPartReady, 1); err != nil {
			t.Fatal(err)
		}
		regs := waitValid(1)
		rts = append(rts, time.Since(start))
		if r := regs[plc.RegResult]; r < plc.ResultOK || r > plc.ResultUncertain {
			t.Fatalf("cycle %d: result %d", i, r)
		}
		if err := c.WriteRegister(plc.RegPartReady, 0); err != nil {
			t.Fatal(err)
		}
		waitValid(0)
	}
	regs := waitValid(0)
	if int(regs[plc.RegCycles]) != n {
		t.Errorf("cycles register %d, want %d", regs[plc.RegCycles], n)
	}
	slices.Sort(rts)
	t.Logf("PLC round trip part_ready → result_valid over %d cycles, classification included: p50 %v, p99 %v, max %v",
		n, rts[len(rts)/2].Round(10*time.Microsecond), rts[len(rts)*99/100].Round(10*time.Microsecond), rts[len(rts)-1].Round(10*time.Microsecond))
}

// TestWebhookAlarmReachesMQTT: a webhook whose receiver keeps failing
// disables itself, and the alarm goes out on the MQTT alarm topic.
func TestWebhookAlarmReachesMQTT(t *testing.T) {
	b := mosquittotest.Start(t)
	alarms := make(chan []byte, 4)
	rec := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("ops"))
	if tok := rec.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("receiver: %v", tok.Error())
	}
	defer rec.Disconnect(100)
	if tok := rec.Subscribe("pruefplatz/line3/alarm", 1, func(_ paho.Client, m paho.Message) { alarms <- m.Payload() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer down.Close()
	dir := t.TempDir()
	c := serveConfig{Store: filepath.Join(dir, "v.db"), MQTT: mqttConfig{Broker: b.URL()},
		Webhooks: []webhookConfig{{Name: "mes", URL: down.URL, MaxFailures: 1}}}
	in, err := openIntegrations(c, "line3", nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.start(ctx)
	defer func() {
		cancel()
		in.Close()
	}()
	in.Notify(inspector.Event{Kind: inspector.EventVerdict, Verdict: &inspector.Verdict{ID: 1, Decision: inspector.Decision{Outcome: inspector.OutcomeNOK}}})
	select {
	case p := <-alarms:
		var a struct{ Source, Message string }
		if err := json.Unmarshal(p, &a); err != nil || a.Source != "webhook/mes" || a.Message == "" {
			t.Fatalf("alarm %s (%v)", p, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no alarm on MQTT after the webhook disabled itself")
	}
}
