// Package mosquittotest starts a real mosquitto broker for tests, on a free
// loopback port with a config of its own in a temp folder: the Debian
// service is neither needed nor touched. Like httptest, for MQTT.
package mosquittotest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Broker is a real mosquitto on a loopback port, with a config of its own
// in a temp folder: the Debian service is neither needed nor touched.
type Broker struct {
	t    testing.TB
	dir  string
	port int // stays the same across Restart
	conf string
	cmd  *exec.Cmd
	done chan struct{}
}

// Need skips when mosquitto is missing, except under CI=true,
// where a missing broker must fail the run rather than hide the tests.
func Need(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("mosquitto")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mosquitto not installed (make setup-test installs it); CI must run the broker tests")
		}
		t.Skip("mosquitto not installed: run make setup-test (apt-get install mosquitto) to run the broker tests")
	}
	return p
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start starts mosquitto with persistence (so a receiver's session
// and its queued QoS 1 messages survive a restart) plus extra config lines.
func Start(t testing.TB, extra ...string) *Broker {
	t.Helper()
	Need(t)
	b := &Broker{t: t, dir: t.TempDir(), port: freePort(t)}
	lines := append([]string{
		fmt.Sprintf("listener %d 127.0.0.1", b.port),
		"user root", // as root, mosquitto would otherwise switch to a user that cannot write the temp folder
		"persistence true",
		"persistence_location " + b.dir + "/",
		"max_queued_messages 0",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
	}, extra...)
	if !strings.Contains(strings.Join(extra, "\n"), "allow_anonymous") {
		lines = append(lines, "allow_anonymous true")
	}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(b.conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	t.Cleanup(b.Stop)
	return b
}

// URL is the broker's tcp:// address.
func (b *Broker) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", b.port) }

// Restart starts the broker again on its port, after Stop (Start calls it first).
func (b *Broker) Restart() {
	b.t.Helper()
	b.cmd = exec.Command("mosquitto", "-c", b.conf)
	b.cmd.Stderr = &prefixWriter{t: b.t}
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(b.cmd, b.done)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-b.done:
			b.t.Fatalf("mosquitto exited at start: %v", b.cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
	}
	b.t.Fatal("mosquitto did not listen within 10s")
}

// Stop ends mosquitto gracefully (SIGTERM: it writes its persistence file).
func (b *Broker) Stop() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
	b.cmd = nil
}

type prefixWriter struct{ t testing.TB }

func (w *prefixWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "should not be run as root") {
		return len(p), nil // the temp config runs it as root on purpose
	}
	w.t.Logf("mosquitto: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}
