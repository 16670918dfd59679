// Package plc is the station's handshake with a PLC over Modbus/TCP
// (github.com/simonvetter/modbus). The station is either the Modbus server
// (the PLC is the client and reads and writes the station's holding
// registers) or a client of the PLC's own server (the station polls and
// writes the same registers there). Both use one register map, relative to
// Config.Base:
//
//	offset  name          written by  meaning
//	0       part_ready    PLC         1: a part is in place, record a verdict; 0: part gone
//	1       result        station     0 none, 1 OK, 2 NOK, 3 uncertain
//	2       class_index   station     the label's index in the model, 65535 for none
//	3       result_valid  station     1 when result and class_index belong to the current part
//	4       heartbeat     station     +1 every Config.Heartbeat (wraps), so the PLC sees the station alive
//	5       cycles        station     handshakes completed (wraps)
//
// A cycle: the PLC sets part_ready to 1. On that rising edge the station
// clears result_valid, result and class_index (never a stale result),
// records a verdict (Config.Trigger) and writes result and class_index, then
// result_valid = 1. When no verdict comes within Config.Timeout it writes
// result = 3 (uncertain) instead. The PLC reads the result, moves the part
// and sets part_ready to 0; the station then clears result_valid.
package plc

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simonvetter/modbus"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// Register offsets from Config.Base.
const (
	RegPartReady = iota
	RegResult
	RegClass
	RegValid
	RegHeartbeat
	RegCycles
	NumRegisters
)

// Result codes in RegResult.
const (
	ResultNone      = 0
	ResultOK        = 1
	ResultNOK       = 2
	ResultUncertain = 3
	// NoClass is RegClass when there is no label.
	NoClass = 0xFFFF
)

// Register describes one register of the map, for /api/plc.
type Register struct {
	Address   uint16 `json:"address"` // absolute holding-register address (0-based)
	Name      string `json:"name"`
	WrittenBy string `json:"written_by"`
	Meaning   string `json:"meaning"`
	Value     uint16 `json:"value"`
}

var registerDocs = [NumRegisters]struct{ name, by, meaning string }{
	{"part_ready", "plc", "1: a part is in place, record a verdict; 0: the part is gone"},
	{"result", "station", "0 none, 1 OK, 2 NOK, 3 uncertain"},
	{"class_index", "station", "index of the label in the model, 65535 for none"},
	{"result_valid", "station", "1 when result and class_index belong to the current part"},
	{"heartbeat", "station", "incremented every heartbeat interval (wraps at 65535)"},
	{"cycles", "station", "handshakes completed (wraps at 65535)"},
}

// Mode says which side is the Modbus server.
type Mode string

const (
	// ModeServer: the station listens; the PLC connects as client.
	ModeServer Mode = "server"
	// ModeClient: the station connects to the PLC's server and polls it.
	ModeClient Mode = "client"
)

// Config configures the handshake.
type Config struct {
	Mode Mode
	// Address is host:port: where the station listens (server mode,
	// default port 502) or the PLC's server (client mode).
	Address string
	// Base is the holding-register address of part_ready (default 0).
	Base uint16
	// UnitID is the unit (slave) id the station uses as a client (default 1).
	UnitID uint8
	// Timeout is how long a cycle waits for a verdict before it answers
	// uncertain (default 2s).
	Timeout time.Duration
	// Heartbeat is the heartbeat interval (default 1s).
	Heartbeat time.Duration
	// Poll is how often the client reads part_ready (default 20ms).
	Poll time.Duration
	// Trigger records a verdict on the part in front of the camera.
	Trigger func(ctx context.Context) (*inspector.Verdict, error)
	Logger  *slog.Logger
}

// PLC runs the handshake. Create it with New, then Start; Close stops it.
type PLC struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	regs [NumRegisters]uint16
	// outGen changes whenever a station-written register changes, so the
	// client writes only when there is something new.
	outGen uint64

	wake      chan struct{}
	connected atomic.Bool
	lastErr   atomic.Pointer[string]
	server    *modbus.ModbusServer

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New checks cfg. It returns an error for an unknown mode, a missing
// address or trigger.
func New(cfg Config) (*PLC, error) {
	switch cfg.Mode {
	case ModeServer, ModeClient:
	default:
		return nil, fmt.Errorf("plc: mode %q: want server or client", cfg.Mode)
	}
	if cfg.Address == "" {
		return nil, errors.New("plc: address required (host:port)")
	}
	if cfg.Trigger == nil {
		return nil, errors.New("plc: trigger required")
	}
	if int(cfg.Base)+NumRegisters > 0x10000 {
		return nil, fmt.Errorf("plc: base %d leaves no room for %d registers", cfg.Base, NumRegisters)
	}
	if cfg.UnitID == 0 {
		cfg.UnitID = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 20 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &PLC{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1)}
	p.regs[RegClass] = NoClass
	return p, nil
}

// Start listens (server mode; an address in use is returned as an error)
// or starts polling the PLC (client mode, reconnecting in the background),
// and runs the handshake until Close.
func (p *PLC) Start(ctx context.Context) error {
	ctx, p.cancel = context.WithCancel(ctx)
	if p.cfg.Mode == ModeServer {
		srv, err := modbus.NewServer(&modbus.ServerConfiguration{
			URL: "tcp://" + p.cfg.Address, Timeout: 5 * time.Minute, MaxClients: 8,
			Logger: log.New(slogWriter{p.log}, "", 0),
		}, handler{p})
		if err != nil {
			p.cancel()
			return fmt.Errorf("plc server: %w", err)
		}
		if err := srv.Start(); err != nil {
			p.cancel()
			return fmt.Errorf("plc server on %s: %w", p.cfg.Address, err)
		}
		p.server = srv
		p.connected.Store(true) // listening; a PLC may connect any time
	} else {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.poll(ctx)
		}()
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.handshake(ctx)
	}()
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(p.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				p.mu.Lock()
				p.regs[RegHeartbeat]++
				p.outGen++
				p.mu.Unlock()
			}
		}
	}()
	return nil
}

// Close stops the handshake and the server or client.
func (p *PLC) Close() error {
	if p.cancel != nil {
		p.cancel()
	}
	var err error
	if p.server != nil {
		err = p.server.Stop()
	}
	p.wg.Wait()
	return err
}

// Snapshot is the handshake's state with the register map, for /api/plc.
type Snapshot struct {
	Mode      Mode       `json:"mode"`
	Address   string     `json:"address"`
	Connected bool       `json:"connected"`
	Error     string     `json:"error,omitempty"`
	Registers []Register `json:"registers"`
}

// Snapshot returns the current registers and connection state.
func (p *PLC) Snapshot() Snapshot {
	p.mu.Lock()
	regs := p.regs
	p.mu.Unlock()
	s := Snapshot{Mode: p.cfg.Mode, Address: p.cfg.Address, Connected: p.connected.Load()}
	if e := p.lastErr.Load(); e != nil {
		s.Error = *e
	}
	for i, d := range registerDocs {
		s.Registers = append(s.Registers, Register{Address: p.cfg.Base + uint16(i), Name: d.name, WrittenBy: d.by, Meaning: d.meaning, Value: regs[i]})
	}
	return s
}

// RegisterMap is the register map at base, without values.
func RegisterMap(base uint16) []Register {
	var out []Register
	for i, d := range registerDocs {
		out = append(out, Register{Address: base + uint16(i), Name: d.name, WrittenBy: d.by, Meaning: d.meaning})
	}
	return out
}

// setPartReady records the PLC's part_ready and wakes the handshake.
func (p *PLC) setPartReady(v uint16) {
	p.mu.Lock()
	p.regs[RegPartReady] = v
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *PLC) partReady() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.regs[RegPartReady] != 0
}

// setOutputs writes result and class, then valid, under one lock, so a
// PLC never reads a valid flag with another cycle's result.
func (p *PLC) setOutputs(result, class, valid uint16, cycleDone bool) {
	p.mu.Lock()
	p.regs[RegResult], p.regs[RegClass], p.regs[RegValid] = result, class, valid
	if cycleDone {
		p.regs[RegCycles]++
	}
	p.outGen++
	p.mu.Unlock()
}

// ResultCode maps a verdict's effective outcome to the result register.
func ResultCode(v *inspector.Verdict) (result, class uint16) {
	if v == nil {
		return ResultUncertain, NoClass
	}
	o, _ := v.Effective()
	class = NoClass
	if len(v.TopK) > 0 && o != inspector.OutcomeUncertain {
		class = uint16(v.TopK[0].Index)
	}
	switch o {
	case inspector.OutcomeOK, inspector.OutcomeClass:
		return ResultOK, class
	case inspector.OutcomeNOK:
		return ResultNOK, class
	}
	return ResultUncertain, NoClass
}

// handshake follows part_ready's edges; see the package doc.
func (p *PLC) handshake(ctx context.Context) {
	last := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		ready := p.partReady()
		if ready == last {
			continue
		}
		last = ready
		if !ready {
			p.setOutputs(ResultNone, NoClass, 0, false)
			continue
		}
		p.setOutputs(ResultNone, NoClass, 0, false)
		result, class := p.cycle(ctx)
		if ctx.Err() != nil {
			return
		}
		if !p.partReady() {
			// The PLC withdrew the part while we classified: no result for a gone part.
			last = false
			p.setOutputs(ResultNone, NoClass, 0, false)
			continue
		}
		p.setOutputs(result, class, 1, true)
	}
}

func (p *PLC) cycle(ctx context.Context) (uint16, uint16) {
	cctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	type res struct {
		v   *inspector.Verdict
		err error
	}
	ch := make(chan res, 1)
	go func() {
		v, err := p.cfg.Trigger(cctx)
		ch <- res{v, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			p.log.Warn("plc cycle: no verdict, answering uncertain", "err", r.err)
			return ResultUncertain, NoClass
		}
		return ResultCode(r.v)
	case <-cctx.Done():
		p.log.Warn("plc cycle: no verdict in time, answering uncertain", "timeout", p.cfg.Timeout)
		return ResultUncertain, NoClass
	}
}

// handler serves the map in server mode: the PLC may read every register
// and write part_ready only.
type handler struct{ p *PLC }

func (h handler) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	base := h.p.cfg.Base
	if req.Addr < base || int(req.Addr)+int(req.Quantity) > int(base)+NumRegisters {
		return nil, modbus.ErrIllegalDataAddress
	}
	off := int(req.Addr - base)
	if req.IsWrite {
		if off != RegPartReady || len(req.Args) != 1 {
			return nil, modbus.ErrIllegalDataAddress // only part_ready is the PLC's
		}
		h.p.setPartReady(req.Args[0])
		return nil, nil
	}
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	return append([]uint16(nil), h.p.regs[off:off+int(req.Quantity)]...), nil
}

func (h handler) HandleCoils(*modbus.CoilsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

func (h handler) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

func (h handler) HandleInputRegisters(*modbus.InputRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}

// poll is client mode: read part_ready from the PLC, write the station's
// registers when they changed, reconnect with backoff after an error.
func (p *PLC) poll(ctx context.Context) {
	wait := 200 * time.Millisecond
	for ctx.Err() == nil {
		err := p.pollSession(ctx)
		p.connected.Store(false)
		if ctx.Err() != nil {
			return
		}
		msg := err.Error()
		if prev := p.lastErr.Swap(&msg); prev == nil || *prev != msg {
			p.log.Warn("plc connection failed; retrying", "addr", p.cfg.Address, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func (p *PLC) pollSession(ctx context.Context) error {
	c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: "tcp://" + p.cfg.Address, Timeout: time.Second,
		Logger: log.New(slogWriter{p.log}, "", 0)})
	if err != nil {
		return err
	}
	if err := c.Open(); err != nil {
		return err
	}
	defer c.Close()
	c.SetUnitId(p.cfg.UnitID)
	p.connected.Store(true)
	p.lastErr.Store(nil)
	p.log.Info("plc connected", "addr", p.cfg.Address)
	var written uint64 = ^uint64(0)
	t := time.NewTicker(p.cfg.Poll)
	defer t.Stop()
	for {
		v, err := c.ReadRegister(p.cfg.Base+RegPartReady, modbus.HOLDING_REGISTER)
		if err != nil {
			return fmt.Errorf("reading part_ready: %w", err)
		}
		p.mu.Lock()
		changed := p.regs[RegPartReady] != v
		p.mu.Unlock()
		if changed {
			p.setPartReady(v)
		}
		p.mu.Lock()
		gen, out := p.outGen, append([]uint16(nil), p.regs[RegResult:]...)
		p.mu.Unlock()
		if gen != written {
			// One write of result, class_index, result_valid, heartbeat and
			// cycles: the PLC sees them change together.
			if err := c.WriteRegisters(p.cfg.Base+RegResult, out); err != nil {
				return fmt.Errorf("writing the result: %w", err)
			}
			written = gen
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// slogWriter turns the library's log lines into debug records.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(b []byte) (int, error) {
	w.l.Debug("modbus", "msg", strings.TrimSpace(string(b)))
	return len(b), nil
}
