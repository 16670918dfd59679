package plc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/simonvetter/modbus"

	"github.com/pruefplatz/pruefplatz/inspector"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func nokVerdict(ctx context.Context) (*inspector.Verdict, error) {
	return &inspector.Verdict{ID: 1, Decision: inspector.Decision{Outcome: inspector.OutcomeNOK, Label: "scratch",
		TopK: []inspector.Prediction{{Label: "scratch", Index: 2, Score: 0.9}}}}, nil
}

func startPLC(t testing.TB, cfg Config) *PLC {
	t.Helper()
	cfg.Logger = quiet()
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 20 * time.Millisecond
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// plcClient is the PLC's side in server mode: the library's own client.
func plcClient(t testing.TB, addr string) *modbus.ModbusClient {
	t.Helper()
	c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: "tcp://" + addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitValid polls result_valid like a PLC and returns result and class.
func waitValid(t testing.TB, c *modbus.ModbusClient, base uint16, want uint16) (uint16, uint16) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		regs, err := c.ReadRegisters(base, NumRegisters, modbus.HOLDING_REGISTER)
		if err != nil {
			t.Fatal(err)
		}
		if regs[RegValid] == want {
			return regs[RegResult], regs[RegClass]
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("result_valid did not become %d", want)
	return 0, 0
}

// cycle runs one handshake as the PLC and returns result, class and the
// time from writing part_ready to seeing result_valid.
func cycle(t testing.TB, c *modbus.ModbusClient, base uint16) (uint16, uint16, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := c.WriteRegister(base+RegPartReady, 1); err != nil {
		t.Fatal(err)
	}
	r, cl := waitValid(t, c, base, 1)
	rt := time.Since(start)
	if err := c.WriteRegister(base+RegPartReady, 0); err != nil {
		t.Fatal(err)
	}
	waitValid(t, c, base, 0)
	return r, cl, rt
}

func TestServerHandshake(t *testing.T) {
	addr := freeAddr(t)
	p := startPLC(t, Config{Mode: ModeServer, Address: addr, Base: 100, Trigger: nokVerdict})
	c := plcClient(t, addr)
	for i := range 3 {
		r, cl, _ := cycle(t, c, 100)
		if r != ResultNOK || cl != 2 {
			t.Fatalf("cycle %d: result %d class %d, want 2 (NOK) and 2", i, r, cl)
		}
	}
	regs, err := c.ReadRegisters(100, NumRegisters, modbus.HOLDING_REGISTER)
	if err != nil {
		t.Fatal(err)
	}
	if regs[RegCycles] != 3 || regs[RegValid] != 0 || regs[RegResult] != ResultNone {
		t.Fatalf("after three cycles: %v", regs)
	}
	hb := regs[RegHeartbeat]
	time.Sleep(100 * time.Millisecond)
	if v, _ := c.ReadRegister(100+RegHeartbeat, modbus.HOLDING_REGISTER); v == hb {
		t.Fatal("heartbeat does not count")
	}
	// The PLC may write part_ready only; the rest is the station's, and
	// addresses outside the map do not exist.
	if err := c.WriteRegister(100+RegResult, 1); !errors.Is(err, modbus.ErrIllegalDataAddress) {
		t.Errorf("PLC wrote the result register: %v", err)
	}
	if _, err := c.ReadRegisters(99, 2, modbus.HOLDING_REGISTER); !errors.Is(err, modbus.ErrIllegalDataAddress) {
		t.Errorf("read below the map: %v", err)
	}
	if s := p.Snapshot(); len(s.Registers) != NumRegisters || s.Registers[RegCycles].Value != 3 || s.Registers[0].Address != 100 {
		t.Errorf("snapshot %+v", s)
	}
}

// TestTimeoutAnswersUncertainNeverStale: after an OK cycle, a cycle whose
// verdict does not come in time answers uncertain; while it waits, the PLC
// sees no valid result (not the previous OK).
func TestTimeoutAnswersUncertainNeverStale(t *testing.T) {
	addr := freeAddr(t)
	var mu sync.Mutex
	hang := false
	release := make(chan struct{})
	trigger := func(ctx context.Context) (*inspector.Verdict, error) {
		mu.Lock()
		h := hang
		mu.Unlock()
		if h {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-release:
				return &inspector.Verdict{Decision: inspector.Decision{Outcome: inspector.OutcomeOK, TopK: []inspector.Prediction{{Index: 0}}}}, nil
			}
		}
		return &inspector.Verdict{Decision: inspector.Decision{Outcome: inspector.OutcomeOK, TopK: []inspector.Prediction{{Index: 0}}}}, nil
	}
	startPLC(t, Config{Mode: ModeServer, Address: addr, Timeout: 200 * time.Millisecond, Trigger: trigger})
	c := plcClient(t, addr)
	if r, cl, _ := cycle(t, c, 0); r != ResultOK || cl != 0 {
		t.Fatalf("first cycle: %d %d", r, cl)
	}
	mu.Lock()
	hang = true
	mu.Unlock()
	if err := c.WriteRegister(RegPartReady, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // inside the cycle, before the timeout
	regs, _ := c.ReadRegisters(0, NumRegisters, modbus.HOLDING_REGISTER)
	if regs[RegValid] != 0 || regs[RegResult] != ResultNone {
		t.Fatalf("during the cycle the PLC sees %v: a stale result", regs)
	}
	r, cl := waitValid(t, c, 0, 1)
	close(release) // a verdict that comes too late changes nothing
	if r != ResultUncertain || cl != NoClass {
		t.Fatalf("timeout: result %d class %d, want 3 and 65535", r, cl)
	}
	time.Sleep(20 * time.Millisecond)
	if v, _ := c.ReadRegister(RegResult, modbus.HOLDING_REGISTER); v != ResultUncertain {
		t.Fatalf("a late verdict overwrote the answer: %d", v)
	}
}

// TestPLCDropsConnection: the PLC's connection drops mid-cycle; after it
// reconnects it reads the result of its part, and the next cycle works.
func TestPLCDropsConnection(t *testing.T) {
	addr := freeAddr(t)
	startPLC(t, Config{Mode: ModeServer, Address: addr, Trigger: nokVerdict})
	c := plcClient(t, addr)
	if err := c.WriteRegister(RegPartReady, 1); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c2 := plcClient(t, addr)
	if r, _ := waitValid(t, c2, 0, 1); r != ResultNOK {
		t.Fatalf("after reconnect: result %d", r)
	}
	if err := c2.WriteRegister(RegPartReady, 0); err != nil {
		t.Fatal(err)
	}
	waitValid(t, c2, 0, 0)
	if r, _, _ := cycle(t, c2, 0); r != ResultNOK {
		t.Fatalf("next cycle: %d", r)
	}
}

// plcServer is the PLC's side in client mode: the library's own server
// holding the registers in memory.
type plcServer struct {
	mu   sync.Mutex
	regs [NumRegisters]uint16
}

func (s *plcServer) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	if int(req.Addr)+int(req.Quantity) > NumRegisters {
		return nil, modbus.ErrIllegalDataAddress
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.IsWrite {
		copy(s.regs[req.Addr:], req.Args)
		return nil, nil
	}
	return append([]uint16(nil), s.regs[req.Addr:int(req.Addr)+int(req.Quantity)]...), nil
}
func (s *plcServer) HandleCoils(*modbus.CoilsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}
func (s *plcServer) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}
func (s *plcServer) HandleInputRegisters(*modbus.InputRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}

func (s *plcServer) set(i int, v uint16) {
	s.mu.Lock()
	s.regs[i] = v
	s.mu.Unlock()
}

func (s *plcServer) get(i int) uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.regs[i]
}

func (s *plcServer) waitFor(t *testing.T, i int, v uint16) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.get(i) != v {
		if time.Now().After(deadline) {
			t.Fatalf("register %d stayed %d, want %d", i, s.get(i), v)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestClientModeSurvivesPLCRestart(t *testing.T) {
	addr := freeAddr(t)
	regs := &plcServer{}
	start := func() *modbus.ModbusServer {
		srv, err := modbus.NewServer(&modbus.ServerConfiguration{URL: "tcp://" + addr, Timeout: time.Minute, MaxClients: 4}, regs)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := start()
	p := startPLC(t, Config{Mode: ModeClient, Address: addr, Poll: 5 * time.Millisecond, Trigger: nokVerdict})

	regs.set(RegPartReady, 1)
	regs.waitFor(t, RegValid, 1)
	if regs.get(RegResult) != ResultNOK || regs.get(RegClass) != 2 {
		t.Fatalf("PLC got result %d class %d", regs.get(RegResult), regs.get(RegClass))
	}
	regs.set(RegPartReady, 0)
	regs.waitFor(t, RegValid, 0)

	srv.Stop() // the PLC goes away
	deadline := time.Now().Add(5 * time.Second)
	for p.Snapshot().Connected && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := p.Snapshot(); s.Connected || s.Error == "" {
		t.Fatalf("with the PLC gone: %+v", s)
	}
	srv = start()
	defer srv.Stop()
	regs.set(RegPartReady, 1)
	regs.waitFor(t, RegValid, 1)
	if regs.get(RegCycles) != 2 {
		t.Fatalf("cycles %d, want 2", regs.get(RegCycles))
	}
	hb := regs.get(RegHeartbeat)
	deadline = time.Now().Add(5 * time.Second)
	for regs.get(RegHeartbeat) == hb && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if regs.get(RegHeartbeat) == hb {
		t.Fatal("heartbeat not written to the PLC")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, c := range map[string]Config{
		"mode":    {Mode: "master", Address: "x:1", Trigger: nokVerdict},
		"address": {Mode: ModeServer, Trigger: nokVerdict},
		"trigger": {Mode: ModeServer, Address: "x:1"},
		"base":    {Mode: ModeServer, Address: "x:1", Trigger: nokVerdict, Base: 65533},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// BenchmarkRoundTrip is the PLC's view of one cycle on loopback, part_ready
// written to result_valid seen, with a trigger that answers at once (the
// classification's share is measured end to end by cmd/pruefplatz's
// TestServePLCHandshake). It reports p50 and p99.
func BenchmarkRoundTrip(b *testing.B) {
	addr := freeAddr(b)
	startPLC(b, Config{Mode: ModeServer, Address: addr, Trigger: nokVerdict})
	c := plcClient(b, addr)
	var rts []time.Duration
	for b.Loop() {
		_, _, rt := cycle(b, c, 0)
		rts = append(rts, rt)
	}
	sort.Slice(rts, func(i, j int) bool { return rts[i] < rts[j] })
	b.ReportMetric(float64(rts[len(rts)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(rts[len(rts)*99/100].Microseconds())/1000, "p99-ms")
}
