package serialrig

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/pruefplatz/pruefplatz/inspector/capture"
	"github.com/pruefplatz/pruefplatz/inspector/capture/capturetest"
)

// controller is a turntable's firmware on the far end of a pseudo-terminal
// pair: it answers the protocol, takes busyPolls POS? queries to finish a
// turn, and can be told to fall silent or to fail.
type controller struct {
	mu        sync.Mutex
	angle     float64
	busy      int
	busyPolls int
	silent    bool
	fail      string // answer every ROT with ERR <fail>
	rots      int
	silentAt  int // fall silent at this ROT (0: never)
}

func (c *controller) answer(line string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := strings.Fields(line)
	if len(f) == 0 {
		return "ERR empty command", true
	}
	if f[0] == "ROT" {
		c.rots++
		if c.silentAt > 0 && c.rots == c.silentAt {
			c.silent = true
		}
	}
	if c.silent {
		return "", false
	}
	switch {
	case f[0] == "PING":
		return "OK", true
	case f[0] == "ROT" && len(f) == 2:
		if c.fail != "" {
			return "ERR " + c.fail, true
		}
		a, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return "ERR bad angle", true
		}
		c.angle, c.busy = a, c.busyPolls
		return "OK", true
	case f[0] == "POS?":
		if c.busy > 0 {
			c.busy--
			return fmt.Sprintf("BUSY %g", c.angle/2), true
		}
		return fmt.Sprintf("POS %g", c.angle), true
	}
	return "ERR unknown command " + f[0], true
}

func (c *controller) Angle() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.angle
}

// start opens a pty pair, runs c on its master side and returns the rig
// opened on the slave's device path.
func start(t *testing.T, c *controller, opt Options) *Rig {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	name := tty.Name()
	go func() {
		sc := bufio.NewScanner(ptmx)
		for sc.Scan() {
			if ans, ok := c.answer(strings.TrimSpace(sc.Text())); ok {
				fmt.Fprintf(ptmx, "%s\r\n", ans)
			}
		}
	}()
	r, err := Open(name, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		tty.Close()
		ptmx.Close()
	})
	return r
}

func TestProtocol(t *testing.T) {
	c := &controller{busyPolls: 2}
	r := start(t, c, Options{Poll: time.Millisecond})
	ctx := context.Background()
	if err := r.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.MoveTo(ctx, 37.5); err != nil {
		t.Fatal(err)
	}
	if err := r.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if a, moving, err := r.Position(ctx); err != nil || moving || a != 37.5 {
		t.Fatalf("position %g moving %v: %v", a, moving, err)
	}
	if err := r.MoveTo(ctx, 360); !errors.Is(err, capture.ErrRig) {
		t.Fatalf("360°: %v", err)
	}
	c.mu.Lock()
	c.fail = "stalled"
	c.mu.Unlock()
	if err := r.MoveTo(ctx, 90); !errors.Is(err, capture.ErrRig) || !strings.Contains(err.Error(), "ERR stalled") {
		t.Fatalf("controller error: %v", err)
	}
}

func TestMissingDevice(t *testing.T) {
	if _, err := Open("/dev/pruefplatz-no-such-tty", Options{}); err == nil || !strings.Contains(err.Error(), "/dev/pruefplatz-no-such-tty") {
		t.Fatalf("err = %v", err)
	}
}

// camera photographs the part at the controller's angle.
type camera struct{ c *controller }

func (cam camera) Grab(ctx context.Context) ([]byte, error) {
	return capturetest.Table(cam.c.Angle(), false, 0, 1, uint64(time.Now().UnixNano())), nil
}

// The turntable falls silent mid-session: the session pauses with a clear
// message and, once the turntable answers again, resumes where it stopped.
func TestSilentTurntablePausesSession(t *testing.T) {
	c := &controller{silentAt: 5}
	r := start(t, c, Options{Timeout: 300 * time.Millisecond, Poll: time.Millisecond})
	st := &capture.Store{Root: t.TempDir()}
	s, err := capture.NewSession(capture.Spec{Target: capture.Target{Class: "bracket"}, Angles: 8, Rig: r.Name()}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	run := &capture.Runner{Store: st, Rig: r, Camera: camera{c}}
	err = run.Run(context.Background(), s)
	if !errors.Is(err, capture.ErrPaused) || !errors.Is(err, capture.ErrRigTimeout) || !strings.Contains(err.Error(), "no answer to \"ROT 180\"") {
		t.Fatalf("err = %v", err)
	}
	if s.State != capture.Paused || len(s.Frames) != 4 {
		t.Fatalf("%s with %d frames", s.State, len(s.Frames))
	}
	c.mu.Lock()
	c.silent = false
	c.mu.Unlock()
	if err := run.Run(context.Background(), s); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if s.State != capture.Done || len(s.Frames) != 8 || s.Frames[4].Angle != 180 {
		t.Fatalf("resumed: %s, %d frames", s.State, len(s.Frames))
	}
	if _, err := os.Stat(st.SheetPath(s.ID)); err != nil {
		t.Fatal(err)
	}
}
