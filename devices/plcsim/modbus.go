package plcsim

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"time"

	sv "github.com/simonvetter/modbus"

	"github.com/serialine/serialine/devices"
)

type modbusServer struct {
	s    *Sim
	addr string
	mu   sync.Mutex
	srv  *sv.ModbusServer
}

// freeAddr resolves "host:0" to a free port (simonvetter's server has no
// bound-address accessor): listen, note the port, close.
func freeAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if port != "0" && port != "" {
		return addr, nil
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	a := ln.Addr().String()
	ln.Close()
	return a, nil
}

// StartModbus serves Modbus TCP on addr ("127.0.0.1:0" picks a free port)
// and returns the bound address. Stop with Close.
func (s *Sim) StartModbus(addr string) (string, error) {
	a, err := freeAddr(addr)
	if err != nil {
		return "", fmt.Errorf("plcsim: modbus listen %s: %w", addr, err)
	}
	m := &modbusServer{s: s, addr: a}
	if err := m.start(); err != nil {
		return "", err
	}
	s.mu.Lock()
	s.mbSrv = m
	s.mu.Unlock()
	s.log.Info("plcsim modbus listening", "addr", a)
	return a, nil
}

func (m *modbusServer) start() error {
	srv, err := sv.NewServer(&sv.ServerConfiguration{
		URL: "tcp://" + m.addr, Timeout: 10 * time.Minute, MaxClients: 64,
		Logger: log.New(io.Discard, "", 0),
	}, &handler{s: m.s})
	if err != nil {
		return fmt.Errorf("plcsim: modbus server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("plcsim: modbus listen %s: %w", m.addr, err)
	}
	m.mu.Lock()
	m.srv = srv
	m.mu.Unlock()
	return nil
}

func (m *modbusServer) stop() error {
	m.mu.Lock()
	srv := m.srv
	m.srv = nil
	m.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Stop()
}

// DropConnections drops every Modbus TCP client connection and every OPC UA
// session (connection loss); the servers keep accepting new ones.
func (s *Sim) DropConnections() error {
	return s.SetOffline(true, false)
}

// SetOffline takes the servers down (offline=true: listeners closed,
// connections dropped) and, unless stayDown, brings them straight back on
// the same addresses. SetOffline(false, false) brings them back after a
// stay-down.
func (s *Sim) SetOffline(offline, stayDown bool) error {
	s.mu.Lock()
	mb, u := s.mbSrv, s.uaSrv
	if offline && s.faults.ModbusDrop {
		close(s.dropGen) // release held handlers of the dying connections
		s.dropGen = make(chan struct{})
	}
	s.mu.Unlock()
	var errs []error
	if offline {
		if mb != nil {
			errs = append(errs, mb.stop())
		}
		if u != nil {
			errs = append(errs, u.restart(true))
		}
		if stayDown {
			return errors.Join(errs...)
		}
	}
	if mb != nil {
		mb.mu.Lock()
		up := mb.srv != nil
		mb.mu.Unlock()
		if !up {
			errs = append(errs, mb.start())
		}
	}
	if u != nil {
		errs = append(errs, u.restart(false))
	}
	return errors.Join(errs...)
}

// handler implements simonvetter's RequestHandler over the sim's register
// bank. It runs one goroutine per client: everything goes through s.mu.
type handler struct{ s *Sim }

var exceptionErrors = map[byte]error{
	1: sv.ErrIllegalFunction, 2: sv.ErrIllegalDataAddress, 3: sv.ErrIllegalDataValue,
	4: sv.ErrServerDeviceFailure, 5: sv.ErrAcknowledge, 6: sv.ErrServerDeviceBusy,
	8: sv.ErrMemoryParityError, 10: sv.ErrGWPathUnavailable, 11: sv.ErrGWTargetFailedToRespond,
}

// fault applies injected faults before a request is served; verdicts
// reports a write touching the decision table.
func (h *handler) fault(verdicts bool) error {
	s := h.s
	s.mu.Lock()
	s.st.ModbusRequests++
	f := &s.faults
	var exc error
	applies := f.ModbusException != 0 && (verdicts || !f.ExceptionOnVerdicts)
	if applies && f.ExceptionAfter > 0 {
		f.ExceptionAfter--
		applies = false
	}
	if applies {
		exc = exceptionErrors[f.ModbusException]
		if exc == nil {
			exc = sv.ErrServerDeviceFailure
		}
		if f.ExceptionCount > 0 {
			f.ExceptionCount--
			if f.ExceptionCount == 0 {
				f.ModbusException = 0
			}
		}
	}
	delay := f.ModbusDelay
	if delay > 0 && f.DelayCount > 0 {
		f.DelayCount--
		if f.DelayCount == 0 {
			f.ModbusDelay = 0
		}
	}
	drop := f.ModbusDrop
	gen := s.dropGen
	s.mu.Unlock()
	if drop {
		<-gen
	}
	if delay > 0 {
		time.Sleep(delay) // the injected slowness itself
	}
	return exc
}

func (h *handler) HandleCoils(*sv.CoilsRequest) ([]bool, error) {
	if err := h.fault(false); err != nil {
		return nil, err
	}
	return nil, sv.ErrIllegalFunction
}

func (h *handler) HandleDiscreteInputs(*sv.DiscreteInputsRequest) ([]bool, error) {
	if err := h.fault(false); err != nil {
		return nil, err
	}
	return nil, sv.ErrIllegalFunction
}

func (h *handler) HandleInputRegisters(*sv.InputRegistersRequest) ([]uint16, error) {
	if err := h.fault(false); err != nil {
		return nil, err
	}
	return nil, sv.ErrIllegalFunction
}

// writable reports which map entry a PDU address belongs to, for writes.
func (s *Sim) writableLocked(a uint16) string {
	m := s.regs
	in := func(start uint16, n int) bool {
		p := m.PDU(start)
		return int(a) >= int(p) && int(a) < int(p)+n
	}
	switch {
	case in(m.Decisions, 3*m.Slots):
		return "decisions"
	case in(m.ControllerHeartbeat, 1):
		return "controller_heartbeat"
	case in(m.LineStop, 1):
		return "line_stop"
	case in(m.Light, 1):
		return "light"
	case in(m.Horn, 1):
		return "horn"
	}
	return ""
}

func (h *handler) HandleHoldingRegisters(req *sv.HoldingRegistersRequest) ([]uint16, error) {
	s := h.s
	verdicts := false
	if req.IsWrite {
		s.mu.Lock()
		for i := range req.Args {
			if s.writableLocked(req.Addr+uint16(i)) == "decisions" {
				verdicts = true
				break
			}
		}
		s.mu.Unlock()
	}
	if err := h.fault(verdicts); err != nil {
		return nil, err
	}
	if int(req.Addr)+int(req.Quantity) > 65536 {
		return nil, sv.ErrIllegalDataAddress
	}
	if !req.IsWrite {
		s.mu.Lock()
		out := append([]uint16(nil), s.bank[req.Addr:int(req.Addr)+int(req.Quantity)]...)
		s.mu.Unlock()
		return out, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range req.Args {
		if s.writableLocked(req.Addr+uint16(i)) == "" {
			return nil, sv.ErrIllegalDataAddress
		}
	}
	m := s.regs
	// A request answered with an exception is not executed: check every
	// value before any lands.
	for i, v := range req.Args {
		a := req.Addr + uint16(i)
		switch s.writableLocked(a) {
		case "light":
			if !devices.StackLight(v).Valid() {
				return nil, sv.ErrIllegalDataValue
			}
		case "line_stop", "horn":
			if v > 1 {
				return nil, sv.ErrIllegalDataValue
			}
		case "decisions":
			if (a-m.PDU(m.Decisions))%3 == 2 && v > devices.VerdictReject {
				return nil, sv.ErrIllegalDataValue
			}
		}
	}
	for i, v := range req.Args {
		s.bank[req.Addr+uint16(i)] = v
	}
	// side effects, after the whole write landed
	var outputs bool
	for i := range req.Args {
		a := req.Addr + uint16(i)
		switch s.writableLocked(a) {
		case "controller_heartbeat":
			s.controllerBeatLocked(s.bank[a])
		case "line_stop", "light", "horn":
			outputs = true
		case "decisions":
			base := m.PDU(m.Decisions)
			if (a-base)%3 == 2 { // the verdict register completes a slot
				seq, code := modbusSlot(s.bank[a-2:a+1], m.WordOrder)
				if code != 0 {
					if err := s.setVerdictLocked(s.mbVerdicts, uint64((a-base)/3), uint64(seq), int(code)); err != nil {
						return nil, sv.ErrIllegalDataValue
					}
				}
			}
		}
	}
	if outputs {
		s.st.Outputs = devices.Outputs{
			LineStop: s.bank[m.PDU(m.LineStop)] == 1,
			Light:    devices.StackLight(s.bank[m.PDU(m.Light)]),
			Horn:     s.bank[m.PDU(m.Horn)] == 1,
		}
	}
	return nil, nil
}
