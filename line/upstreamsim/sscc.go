package upstreamsim

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/serialine/serialine/line/upstream"
	"github.com/serialine/serialine/printer/gs1"
)

// ssccState is what the site server issued of SSCCs (guarded by s.mu).
type ssccState struct {
	next     uint64
	issued   []string
	out      map[string]bool // issued and not returned
	requests map[string]upstream.SSCCPool
	returns  map[string]upstream.ReturnReply
	returned []string
}

// SSCCCompanyPrefix is the GS1 company prefix of the SSCCs the simulated
// site server issues (extension digit 0); serial references count up from
// a random start.
const SSCCCompanyPrefix = "9501101"

// IssuedSSCCs returns the SSCCs issued, in order.
func (s *Server) IssuedSSCCs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sscc.issued...)
}

// ReturnedSSCCs returns the SSCCs given back, in order.
func (s *Server) ReturnedSSCCs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sscc.returned...)
}

func (s *Server) handleSSCCRequest(w http.ResponseWriter, r *http.Request) {
	var req upstream.SSCCRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if requestID(w, r, req.RequestID) == "" {
		return
	}
	if req.Count <= 0 || req.Count > s.o.MaxPerRequest {
		writeErr(w, http.StatusBadRequest, "bad_count", fmt.Sprintf("count %d: want 1..%d", req.Count, s.o.MaxPerRequest))
		return
	}
	s.mu.Lock()
	st := &s.sscc
	if st.requests == nil {
		st.requests, st.returns, st.out = map[string]upstream.SSCCPool{}, map[string]upstream.ReturnReply{}, map[string]bool{}
		// A server restarted with a fresh state (a test's) must still not
		// issue what it issued before: start the serial references at a
		// random point of the 9-digit space.
		var b [8]byte
		_, _ = crand.Read(b[:])
		st.next = binary.BigEndian.Uint64(b[:]) % 800_000_000
	}
	p, ok := st.requests[req.RequestID]
	if !ok {
		p = upstream.SSCCPool{ID: fmt.Sprintf("SSCC-%06d", len(st.requests)+1), RequestID: req.RequestID}
		width := 16 - len(SSCCCompanyPrefix)
		for range req.Count {
			st.next++
			ref := strconv.FormatUint(st.next, 10)
			body := "0" + SSCCCompanyPrefix + strings.Repeat("0", width-len(ref)) + ref
			cd, _ := gs1.CheckDigit(body)
			sscc := body + string(cd)
			p.SSCCs = append(p.SSCCs, sscc)
			st.out[sscc] = true
		}
		st.requests[req.RequestID] = p
		st.issued = append(st.issued, p.SSCCs...)
	}
	s.replyLocked(w, http.StatusOK, p)
}

func (s *Server) handleSSCCReturn(w http.ResponseWriter, r *http.Request) {
	var req upstream.SSCCReturnRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if requestID(w, r, req.RequestID) == "" {
		return
	}
	s.mu.Lock()
	st := &s.sscc
	rep, ok := st.returns[req.RequestID]
	if !ok {
		for _, v := range req.SSCCs {
			if !st.out[v] {
				s.mu.Unlock()
				writeErr(w, http.StatusUnprocessableEntity, "unknown_serial", fmt.Sprintf("SSCC %s was not issued, or was returned already", v))
				return
			}
		}
		for _, v := range req.SSCCs {
			st.out[v] = false
		}
		rep = upstream.ReturnReply{RequestID: req.RequestID, Accepted: len(req.SSCCs)}
		if st.returns == nil {
			st.returns = map[string]upstream.ReturnReply{}
		}
		st.returns[req.RequestID] = rep
		st.returned = append(st.returned, req.SSCCs...)
	}
	s.replyLocked(w, http.StatusOK, rep)
}
