package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/mqtt"
	"github.com/pruefplatz/pruefplatz/inspector/outbox"
	"github.com/pruefplatz/pruefplatz/inspector/plc"
	"github.com/pruefplatz/pruefplatz/inspector/webhook"
)

// mqttPasswordEnv names the environment variable serve reads the MQTT
// password from when no password_file is configured.
const mqttPasswordEnv = "PRUEFPLATZ_MQTT_PASSWORD"

// mqttConfig is the config file's mqtt section (docs/integration.md).
type mqttConfig struct {
	Broker   string `yaml:"broker"` // tcp://host:1883 or ssl://host:8883; empty: MQTT off
	ClientID string `yaml:"client_id"`
	Username string `yaml:"username"`
	// PasswordFile holds the password (first line); without it the
	// password comes from $PRUEFPLATZ_MQTT_PASSWORD. Never logged.
	PasswordFile string `yaml:"password_file"`
	Prefix       string `yaml:"topic_prefix"` // default pruefplatz/<station>
	CAFile       string `yaml:"ca_file"`      // PEM roots for ssl:// (default: the system's)
	CertFile     string `yaml:"cert_file"`    // client certificate, with key_file
	KeyFile      string `yaml:"key_file"`
}

// webhookConfig is one entry of the config file's webhooks list.
type webhookConfig struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// SecretFile holds the HMAC key (first line); else the environment
	// variable SecretEnv. Never logged.
	SecretFile  string              `yaml:"secret_file"`
	SecretEnv   string              `yaml:"secret_env"`
	Outcomes    []inspector.Outcome `yaml:"outcomes"`     // default: every verdict
	MaxFailures int                 `yaml:"max_failures"` // default 10
	Timeout     time.Duration       `yaml:"timeout"`      // default 5s
}

// plcConfig is the config file's plc section (docs/integration.md).
type plcConfig struct {
	Mode      string        `yaml:"mode"`    // server or client; empty: no PLC
	Address   string        `yaml:"address"` // listen (server) or PLC (client) host:port
	Base      uint16        `yaml:"base"`    // address of part_ready (default 0)
	UnitID    uint8         `yaml:"unit_id"` // client mode (default 1)
	Timeout   time.Duration `yaml:"timeout"` // no verdict by then: uncertain (default 2s)
	Heartbeat time.Duration `yaml:"heartbeat"`
	Poll      time.Duration `yaml:"poll"` // client mode (default 20ms)
}

// openPLC builds the handshake when one is configured (nil otherwise).
func openPLC(c plcConfig, trigger func(context.Context) (*inspector.Verdict, error), log *slog.Logger) (*plc.PLC, error) {
	if c.Mode == "" && c.Address == "" {
		return nil, nil
	}
	if c.Mode == "" {
		c.Mode = string(plc.ModeServer)
	}
	return plc.New(plc.Config{Mode: plc.Mode(c.Mode), Address: c.Address, Base: c.Base, UnitID: c.UnitID,
		Timeout: c.Timeout, Heartbeat: c.Heartbeat, Poll: c.Poll, Trigger: trigger, Logger: log.With("component", "plc")})
}

// integrations are the outbound connections serve runs beside the UI.
type integrations struct {
	box        *outbox.DB
	mqtt       *mqtt.Client
	webhooks   []*webhook.Webhook
	sinks      []sink
	collectors []prometheus.Collector
	log        *slog.Logger
}

// sink is one integration's encoder and queue.
type sink struct {
	encode func(inspector.Event) ([]byte, bool)
	q      *outbox.Queue
}

// Notify fans an event out to every integration's durable queue in one
// disk write, and does no network I/O, so it is safe on the camera loop.
func (in *integrations) Notify(e inspector.Event) {
	var items []outbox.Item
	for _, s := range in.sinks {
		if b, ok := s.encode(e); ok {
			items = append(items, outbox.Item{Queue: s.q, Data: b})
		}
	}
	if len(items) == 0 {
		return
	}
	if err := in.box.Put(items...); err != nil {
		in.log.Error("integration messages not queued", "kind", e.Kind, "err", err)
	}
}

func (in *integrations) start(ctx context.Context) {
	if in.mqtt != nil {
		in.mqtt.Start(ctx)
	}
	for _, w := range in.webhooks {
		w.Start(ctx)
	}
}

func (in *integrations) Close() error {
	var errs []error
	for _, w := range in.webhooks {
		errs = append(errs, w.Close())
	}
	if in.mqtt != nil {
		errs = append(errs, in.mqtt.Close())
	}
	if in.box != nil {
		errs = append(errs, in.box.Close())
	}
	return errors.Join(errs...)
}

// openIntegrations opens the outbox and builds the configured clients;
// trigger is what an MQTT trigger message calls. Nothing connects until
// start. With nothing configured it returns an empty set (no outbox file).
func openIntegrations(c serveConfig, station string, trigger func(context.Context) error, log *slog.Logger) (*integrations, error) {
	in := &integrations{log: log}
	if c.MQTT.Broker == "" && len(c.Webhooks) == 0 {
		return in, nil
	}
	names := map[string]bool{}
	for _, wc := range c.Webhooks {
		if wc.Name == "" || names[wc.Name] {
			return nil, fmt.Errorf("webhooks: each needs a name of its own (%q)", wc.Name)
		}
		names[wc.Name] = true
	}
	path := c.Outbox
	if path == "" {
		path = filepath.Join(filepath.Dir(c.Store), "outbox.db")
	}
	box, err := outbox.Open(path)
	if err != nil {
		return nil, err
	}
	in.box = box
	fail := func(err error) (*integrations, error) {
		in.Close()
		return nil, err
	}
	if c.MQTT.Broker != "" {
		m := c.MQTT
		pw, err := secret(m.PasswordFile, mqttPasswordEnv)
		if err != nil {
			return fail(fmt.Errorf("mqtt password: %w", err))
		}
		tc, err := tlsClientConfig(m.CAFile, m.CertFile, m.KeyFile)
		if err != nil {
			return fail(fmt.Errorf("mqtt TLS: %w", err))
		}
		q, err := box.Queue("mqtt", 0)
		if err != nil {
			return fail(err)
		}
		cl, err := mqtt.New(mqtt.Config{
			Broker: m.Broker, ClientID: m.ClientID, Username: m.Username, Password: pw, TLS: tc,
			Station: station, Prefix: m.Prefix, BaseURL: c.BaseURL, Trigger: trigger,
			Logger: log.With("component", "mqtt"),
		}, q)
		if err != nil {
			return fail(err)
		}
		in.mqtt = cl
		in.sinks = append(in.sinks, sink{cl.Encode, q})
		in.collectors = append(in.collectors, cl.Collector())
	}
	var qs []*outbox.Queue
	if in.mqtt != nil {
		q, _ := box.Queue("mqtt", 0) // opened above: the same queue
		qs = append(qs, q)
	}
	for _, wc := range c.Webhooks {
		key := ""
		if wc.SecretFile != "" || wc.SecretEnv != "" {
			if key, err = secret(wc.SecretFile, wc.SecretEnv); err != nil {
				return fail(fmt.Errorf("webhook %s secret: %w", wc.Name, err))
			}
		}
		q, err := box.Queue("webhook/"+wc.Name, 0)
		if err != nil {
			return fail(err)
		}
		w, err := webhook.New(webhook.Config{
			Name: wc.Name, URL: wc.URL, Secret: key, Outcomes: wc.Outcomes, MaxFailures: wc.MaxFailures,
			Timeout: wc.Timeout, Station: station, BaseURL: c.BaseURL, Logger: log.With("component", "webhook"),
			// The alarm goes out through the other integrations (MQTT's alarm topic).
			OnDisabled: func(name string, err error) {
				in.Notify(inspector.Event{Kind: inspector.EventAlarm, Time: time.Now(), Alarm: &inspector.Alarm{
					Source: "webhook/" + name, Message: "disabled after repeated failures: " + err.Error()}})
			},
		}, q)
		if err != nil {
			return fail(err)
		}
		if key == "" {
			log.Warn("webhook sends unsigned requests (no secret_file or secret_env)", "webhook", wc.Name)
		}
		in.webhooks = append(in.webhooks, w)
		in.sinks = append(in.sinks, sink{w.Encode, q})
		qs = append(qs, q)
	}
	if len(in.webhooks) > 0 {
		in.collectors = append(in.collectors, webhook.Collector{Webhooks: in.webhooks})
	}
	in.collectors = append(in.collectors, outbox.Collector{Queues: qs})
	return in, nil
}

// secret reads a password from file (first line) or, without one, from
// the environment variable env ("" when neither is set).
func secret(file, env string) (string, error) {
	if file == "" {
		return os.Getenv(env), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(line, "\r"), nil
}

// tlsClientConfig builds a client TLS config from PEM files; nil when none
// is given (the library then uses the system roots for ssl:// brokers).
func tlsClientConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", caFile)
		}
		tc.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("cert_file and key_file go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
