// Package serialrig drives a stepper turntable over a serial line with a
// plain-text protocol (docs/capture.md). It implements capture.Rig.
//
// Protocol: ASCII lines ending in "\n" (a "\r" before it is ignored), one
// answer line per command, 115200 baud 8N1 by default.
//
//	PING       → OK                 the controller is there and homed
//	ROT <deg>  → OK                 start turning to <deg> (0 ≤ deg < 360, decimals allowed)
//	POS?       → POS <deg>          standing still at <deg>
//	           → BUSY <deg>         still turning; <deg> is where it is now
//	any        → ERR <message>      the command failed (for example "ERR stalled")
//
// No answer within the timeout is a fault (capture.ErrRigTimeout); an ERR
// answer is capture.ErrRig with the controller's message.
package serialrig

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector/capture"
	"go.bug.st/serial"
)

// Options tune the rig. Zero values take the defaults.
type Options struct {
	Baud int // default 115200
	// Timeout is how long one command may wait for its answer (default 2 s).
	Timeout time.Duration
	// SettleTimeout is how long a turn may take until POS? reports the
	// target (default 20 s).
	SettleTimeout time.Duration
	// Poll is the interval between POS? queries while turning (default 50 ms).
	Poll time.Duration
	// Settle is an extra wait after the turntable stops, for the part to
	// stop wobbling (default 0).
	Settle time.Duration
}

// Rig is a serial-line turntable.
type Rig struct {
	path   string
	opt    Options
	mu     sync.Mutex
	port   serial.Port
	target float64
}

var _ capture.Rig = (*Rig)(nil)

// Open opens the serial device at path. It returns the device's error
// (missing device, no permission).
func Open(path string, opt Options) (*Rig, error) {
	if opt.Baud <= 0 {
		opt.Baud = 115200
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 2 * time.Second
	}
	if opt.SettleTimeout <= 0 {
		opt.SettleTimeout = 20 * time.Second
	}
	if opt.Poll <= 0 {
		opt.Poll = 50 * time.Millisecond
	}
	p, err := serial.Open(path, &serial.Mode{BaudRate: opt.Baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("turntable %s: %w", path, err)
	}
	// Reads return after at most this long, so a command's deadline and
	// ctx are checked while the controller is silent.
	if err := p.SetReadTimeout(50 * time.Millisecond); err != nil {
		p.Close()
		return nil, fmt.Errorf("turntable %s: %w", path, err)
	}
	return &Rig{path: path, opt: opt, port: p}, nil
}

// Name is "serial:" and the device path.
func (r *Rig) Name() string { return "serial:" + r.path }

// Close closes the serial device.
func (r *Rig) Close() error { return r.port.Close() }

// command sends line and returns the answer line.
func (r *Rig) command(ctx context.Context, line string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// A late answer to an earlier, timed-out command must not be taken
	// for this one's.
	r.port.ResetInputBuffer()
	if _, err := r.port.Write([]byte(line + "\n")); err != nil {
		return "", fmt.Errorf("%w: write %q: %w", capture.ErrRig, line, err)
	}
	deadline := time.Now().Add(r.opt.Timeout)
	var buf []byte
	one := make([]byte, 64)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%w: no answer to %q within %s (is the turntable powered and connected to %s?)", capture.ErrRigTimeout, line, r.opt.Timeout, r.path)
		}
		n, err := r.port.Read(one)
		if err != nil {
			return "", fmt.Errorf("%w: read: %w", capture.ErrRig, err)
		}
		buf = append(buf, one[:n]...)
		if i := strings.IndexByte(string(buf), '\n'); i >= 0 {
			ans := strings.TrimRight(string(buf[:i]), "\r")
			if strings.HasPrefix(ans, "ERR") {
				return "", fmt.Errorf("%w: %q answered %q", capture.ErrRig, line, ans)
			}
			return ans, nil
		}
	}
}

// Ready sends PING and expects OK.
func (r *Rig) Ready(ctx context.Context) error {
	ans, err := r.command(ctx, "PING")
	if err != nil {
		return err
	}
	if ans != "OK" {
		return fmt.Errorf("%w: PING answered %q, want OK", capture.ErrRig, ans)
	}
	return nil
}

// MoveTo sends ROT and expects OK.
func (r *Rig) MoveTo(ctx context.Context, angle float64) error {
	if angle < 0 || angle >= 360 || math.IsNaN(angle) {
		return fmt.Errorf("%w: angle %g outside 0–360", capture.ErrRig, angle)
	}
	cmd := "ROT " + strconv.FormatFloat(angle, 'f', -1, 64)
	ans, err := r.command(ctx, cmd)
	if err != nil {
		return err
	}
	if ans != "OK" {
		return fmt.Errorf("%w: %q answered %q, want OK", capture.ErrRig, cmd, ans)
	}
	r.target = angle
	return nil
}

// Position asks POS? and returns the angle and whether the turntable is
// still turning.
func (r *Rig) Position(ctx context.Context) (angle float64, moving bool, err error) {
	ans, err := r.command(ctx, "POS?")
	if err != nil {
		return 0, false, err
	}
	f := strings.Fields(ans)
	if len(f) != 2 || (f[0] != "POS" && f[0] != "BUSY") {
		return 0, false, fmt.Errorf("%w: POS? answered %q, want POS <deg> or BUSY <deg>", capture.ErrRig, ans)
	}
	a, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		return 0, false, fmt.Errorf("%w: POS? answered %q: %w", capture.ErrRig, ans, err)
	}
	return a, f[0] == "BUSY", nil
}

// ErrWrongPosition is returned by Settle when the turntable stopped
// somewhere other than the angle asked.
var ErrWrongPosition = errors.New("turntable stopped at the wrong angle")

// Settle polls POS? until the turntable stands still at the angle of the
// last MoveTo, then waits Options.Settle.
func (r *Rig) Settle(ctx context.Context) error {
	deadline := time.Now().Add(r.opt.SettleTimeout)
	for {
		a, moving, err := r.Position(ctx)
		if err != nil {
			return err
		}
		if !moving {
			if math.Abs(math.Remainder(a-r.target, 360)) > 0.5 {
				return fmt.Errorf("%w: %w: at %g°, asked %g°", capture.ErrRig, ErrWrongPosition, a, r.target)
			}
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: still turning after %s (at %g°, asked %g°)", capture.ErrRigTimeout, r.opt.SettleTimeout, a, r.target)
		}
		if err := sleep(ctx, r.opt.Poll); err != nil {
			return err
		}
	}
	return sleep(ctx, r.opt.Settle)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
