package mqtt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/mqtt/mosquittotest"
)

// selfSigned writes a CA and a server certificate for 127.0.0.1 signed by
// it, and returns the CA pool and the PEM paths.
func selfSigned(t *testing.T) (pool *x509.CertPool, caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, srv, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pool = x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", der), write("server.key", "EC PRIVATE KEY", keyDER)
}

// TestTLSBroker publishes over ssl:// to a mosquitto TLS listener that
// trusts the test CA; a client without that CA fails to connect (and says
// so in its status) instead of sending in clear.
func TestTLSBroker(t *testing.T) {
	pool, caFile, certFile, keyFile := selfSigned(t)
	b := mosquittotest.Start(t, "cafile "+caFile, "certfile "+certFile, "keyfile "+keyFile)
	sslURL := strings.Replace(b.URL(), "tcp://", "ssl://", 1)
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	r := paho.NewClient(paho.NewClientOptions().AddBroker(sslURL).SetTLSConfig(tc).SetClientID("tls-receiver"))
	if tok := r.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("receiver over TLS: %v", tok.Error())
	}
	defer r.Disconnect(100)
	got := make(chan struct{}, 1)
	if tok := r.Subscribe("pruefplatz/test/verdict", 1, func(paho.Client, paho.Message) { got <- struct{}{} }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	c := newClient(t, Config{Broker: sslURL, TLS: tc}, queue(t))
	c.Notify(inspector.Event{Kind: inspector.EventVerdict, Verdict: verdict(1)})
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatalf("no verdict over TLS; status %+v", c.Status())
	}

	untrusting := newClient(t, Config{Broker: sslURL, ClientID: "untrusting", TLS: &tls.Config{MinVersion: tls.VersionTLS12}}, queue(t))
	deadline := time.Now().Add(10 * time.Second)
	for untrusting.Status().Error == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s := untrusting.Status(); s.State == StateConnected || !strings.Contains(s.Error, "certificate") {
		t.Fatalf("client without the CA: %+v", s)
	}
}
