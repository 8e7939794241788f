package packtags

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/packml"
)

// tagPaths are the variables whose values Refresh computes.
var tagPaths = []string{
	"Status.CurMachSpeed", "Status.MachSpeed", "Status.EquipmentBlocked", "Status.EquipmentStarved",
	"Status.UnitModeCurrent", "Status.StateChangeInProcess",
	"Admin.ProdProcessedCount", "Admin.ProdDefectiveCount", "Admin.ProdConsumedCount",
	"Admin.Alarm", "Admin.AlarmExtent", "Admin.Warning", "Admin.WarningExtent",
	"BaseStateMachine.CurrentState", "BaseStateMachine.CurrentState.Id",
	"BaseStateMachine.AvailableStates", "BaseStateMachine.AvailableTransitions",
	"BaseStateMachine.MachineState.CurrentState", "BaseStateMachine.MachineState.CurrentState.Id",
	"BaseStateMachine.MachineState.AvailableStates", "BaseStateMachine.MachineState.AvailableTransitions",
	"BaseStateMachine.MachineState.ExecuteState.CurrentState", "BaseStateMachine.MachineState.ExecuteState.CurrentState.Id",
	"BaseStateMachine.MachineState.ExecuteState.AvailableStates", "BaseStateMachine.MachineState.ExecuteState.AvailableTransitions",
	"Serialine.StateCurrent", "Serialine.StateCurrentName", "Serialine.UnitModeCurrentName", "Serialine.BatchID",
	"Serialine.BatchTarget", "Serialine.ProdGoodCount", "Serialine.PrinterQueue", "Serialine.PoolAvailable",
	"Serialine.DevicesDown", "Serialine.AlarmCount",
}

// countValue is OPC 30050's PackMLCountDataType, encoded field by field by
// gopcua's binary encoder (ID, Name, Unit, Count, AccCount).
type countValue struct {
	ID       int32
	Name     string
	Unit     *ua.EUInformation
	Count    int32
	AccCount int32
}

// alarmValue is OPC 30050's PackMLAlarmDataType.
type alarmValue struct {
	ID          int32
	Value       int32
	Message     string
	Category    int32
	DateTime    time.Time
	AckDateTime time.Time
	Trigger     bool
}

// piece is the engineering unit of the counts: UNECE Rec 20 "H87" (piece),
// as OPC UA Part 8 encodes it.
var piece = &ua.EUInformation{NamespaceURI: "http://www.opcfoundation.org/UA/units/un/cefact",
	UnitID: 'H'<<16 | '8'<<8 | '7', DisplayName: lt("pce"), Description: lt("piece")}

// speedRange is the EURange of the speeds (units per minute): 0 to the
// design speed.
var speedRange = func(high float32) *ua.ExtensionObject {
	return ua.NewExtensionObject(&ua.Range{Low: 0, High: float64(high)})
}

// accCounts keeps the counts of the batches before the current one, so
// AccCount does not reset at a new batch.
type accCounts struct {
	batch                        string // batch whose counts are not in the sums
	processed, defective, drawn  int
	known                        bool
	curProc, curDefect, curDrawn int
}

// bindValues gives every variable of the instance its value function:
// static ones once, the others from s.vals.
func (s *Server) bindValues() {
	static := map[string]any{
		"TagID":                       s.o.Name,
		"Status.CurMachSpeed.EURange": speedRange(s.o.DesignSpeed),
		"Status.MachSpeed.EURange":    speedRange(s.o.DesignSpeed),
		"Status.UnitSupportedModes":   s.m.pkNum(pkModeEnum),
		"Admin.MachDesignSpeed":       s.o.DesignSpeed,
	}
	for p, v := range static {
		if e := s.m.paths[p]; e != nil {
			dv := server.DataValueFromValue(v)
			e.value = func() *ua.DataValue { return dv }
		}
	}
	for _, p := range tagPaths {
		e := s.m.paths[p]
		if e == nil {
			panic("packtags: tag " + p + " is not in the address space") // a programming error, caught by every test
		}
		e.value = func() *ua.DataValue {
			s.mu.Lock()
			v, at := s.vals[p], s.stamp[p]
			s.mu.Unlock()
			dv := server.DataValueFromValue(v)
			dv.SourceTimestamp = at
			dv.EncodingMask |= ua.DataValueSourceTimestamp
			return dv
		}
	}
}

// stateNames are the three state machines' states, by level.
func machineStates(st string) (base, machine, exec string) {
	s, err := packml.ParseState(st)
	if err != nil {
		return "", "", ""
	}
	switch s {
	case packml.Aborting, packml.Aborted:
		return string(s), "", ""
	case packml.Stopped, packml.Stopping, packml.Clearing:
		return "Cleared", string(s), ""
	}
	return "Cleared", "Running", string(s)
}

// stateMachine gives the values of one of the three state machines: the
// state objects and transitions are those of the type (typeID).
func (s *Server) stateMachine(v map[string]any, path, typeID, current string) {
	var states, transitions []*ua.NodeID
	var cur *ua.NodeID
	t := s.m.types[typeID]
	for _, r := range t.Refs {
		n := s.m.types[r.Target]
		if !r.Forward || n == nil {
			continue
		}
		switch typeDef(n) {
		case "i=2307", "i=2309": // StateType, InitialStateType
			states = append(states, s.m.pkID(n.ID))
			if n.Name == current {
				cur = s.m.pkID(n.ID)
			}
		case "i=2310": // TransitionType
			for _, fr := range n.Refs {
				if fr.Type == "i=51" && fr.Forward {
					if from := s.m.types[fr.Target]; from != nil && from.Name == current {
						transitions = append(transitions, s.m.pkID(n.ID))
					}
				}
			}
		}
	}
	if transitions == nil {
		transitions = []*ua.NodeID{}
	}
	if cur == nil {
		cur = ua.NewTwoByteNodeID(0) // an inactive sub-state machine has no current state
	}
	v[path+".CurrentState"] = lt(current)
	v[path+".CurrentState.Id"] = cur
	v[path+".AvailableStates"] = states
	v[path+".AvailableTransitions"] = transitions
}

// Refresh reads the status now, updates the tags and notifies
// subscribers of the ones that changed. The server calls it every
// Options.Interval; tests call it to make a change visible at once.
func (s *Server) Refresh(ctx context.Context) error {
	st, err := s.o.Source.Status(ctx)
	if err != nil {
		return fmt.Errorf("packtags: status: %w", err)
	}
	var alarms []api.Alarm
	if as, ok := s.o.Source.(alarmSource); ok {
		if alarms, err = as.Alarms(ctx, true); err != nil {
			return fmt.Errorf("packtags: alarms: %w", err)
		}
	}
	v := map[string]any{}
	base, machine, exec := machineStates(st.State)
	s.stateMachine(v, "BaseStateMachine", "ns=1;i=3", base)
	s.stateMachine(v, "BaseStateMachine.MachineState", "ns=1;i=2", machine)
	s.stateMachine(v, "BaseStateMachine.MachineState.ExecuteState", "ns=1;i=1", exec)

	mode, err := packml.ParseUnitMode(st.UnitMode)
	if err != nil {
		mode = packml.ModeProduction // a line without unit modes produces
	}
	v["Status.UnitModeCurrent"] = int32(mode)
	v["Serialine.UnitModeCurrentName"] = mode.String()
	v["Status.CurMachSpeed"] = float32(st.RatePerMin)
	v["Status.MachSpeed"] = s.o.Speed
	ps, _ := packml.ParseState(st.State)
	v["Status.StateChangeInProcess"] = ps.Acting()
	v["Serialine.StateCurrent"] = StateNumber(st.State)
	v["Serialine.StateCurrentName"] = st.State
	v["Serialine.AlarmCount"] = int32(st.ActiveAlarms)
	v["Serialine.PrinterQueue"] = int32(st.PrinterQueue)
	down, plcDown := 0, false
	for _, d := range st.Devices {
		if d.Link != api.LinkUp {
			down++
			if d.Name == "plc" {
				plcDown = true
			}
		}
	}
	v["Serialine.DevicesDown"] = int32(down)
	var c api.Counters
	batch, gtin, target := "", "", 0
	open := false
	if b := st.Batch; b != nil {
		c, batch, gtin, target = b.Counters, b.ID, b.GTIN, b.Target
		if bs, err := packml.ParseState(b.State); err == nil {
			open = !bs.Final()
		}
	}
	pool, poolKnown := 0, false
	for _, p := range st.Pools {
		if p.GTIN == gtin || (gtin == "" && len(st.Pools) == 1) {
			pool, poolKnown = p.Available, true
		}
	}
	v["Serialine.PoolAvailable"] = int32(pool)
	v["Serialine.BatchID"] = batch
	v["Serialine.BatchTarget"] = int32(target)
	v["Serialine.ProdGoodCount"] = int32(c.Commissioned)
	// Starved: the batch cannot get its material, serial numbers (none
	// left locally for its GTIN). Blocked: the line cannot hand its
	// verdicts downstream to the reject gate (PLC link down).
	v["Status.EquipmentStarved"] = open && poolKnown && pool == 0
	v["Status.EquipmentBlocked"] = open && plcDown

	processed, defective, drawn := c.Commissioned+c.Sampled+c.Rejected, c.Rejected, c.Drawn
	acc := s.accumulate(ctx, batch, processed, defective, drawn)
	name := "GTIN " + gtin
	if gtin == "" {
		name = "no batch"
	}
	v["Admin.ProdProcessedCount"] = counts(s.m, name+": units decided (commissioned, sampled, rejected)", processed, acc.processed+processed)
	v["Admin.ProdDefectiveCount"] = counts(s.m, name+": units rejected", defective, acc.defective+defective)
	v["Admin.ProdConsumedCount"] = counts(s.m, name+": serial numbers drawn", drawn, acc.drawn+drawn)
	var al, warn []*ua.ExtensionObject
	for _, a := range alarms {
		eo := alarmObject(s.m, a)
		if a.Severity == api.SeverityFault {
			al = append(al, eo)
		} else {
			warn = append(warn, eo)
		}
	}
	if al == nil {
		al = []*ua.ExtensionObject{}
	}
	if warn == nil {
		warn = []*ua.ExtensionObject{}
	}
	v["Admin.Alarm"], v["Admin.AlarmExtent"] = al, int32(len(al))
	v["Admin.Warning"], v["Admin.WarningExtent"] = warn, int32(len(warn))

	now := s.o.Now()
	var changed []string
	s.mu.Lock()
	s.batchID = batch
	for k, nv := range v {
		if old, ok := s.vals[k]; !ok || !same(old, nv) {
			s.vals[k] = nv
			s.stamp[k] = now
			changed = append(changed, k)
		}
	}
	s.mu.Unlock()
	if s.started.Load() {
		for _, k := range changed {
			s.srv.ChangeNotification(s.NodeID(k))
		}
	}
	return nil
}

// accumulate returns the sums of the batches before the current one: the
// first refresh starts from zero (AccCount counts since the server
// started, like a machine's counter since power-up), and a batch's final
// counts are added when the next batch becomes current.
func (s *Server) accumulate(_ context.Context, batch string, processed, defective, drawn int) accCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &s.acc
	if !a.known {
		a.known, a.batch = true, batch
	}
	if batch != a.batch {
		a.processed += a.curProc
		a.defective += a.curDefect
		a.drawn += a.curDrawn
		a.batch = batch
	}
	a.curProc, a.curDefect, a.curDrawn = processed, defective, drawn
	return *a
}

func counts(m *model, name string, count, acc int) []*ua.ExtensionObject {
	return []*ua.ExtensionObject{{EncodingMask: ua.ExtensionObjectBinary,
		TypeID: ua.NewExpandedNodeID(m.pkNum(69), "", 0), // PackMLCountDataType, Default Binary
		Value:  &countValue{ID: 1, Name: name, Unit: piece, Count: int32(count), AccCount: int32(acc)}}}
}

func alarmObject(m *model, a api.Alarm) *ua.ExtensionObject {
	n, _ := strconv.Atoi(strings.TrimLeft(a.ID, "A"))
	cat := int32(1) // warning
	if a.Severity == api.SeverityFault {
		cat = 2
	}
	return &ua.ExtensionObject{EncodingMask: ua.ExtensionObjectBinary,
		TypeID: ua.NewExpandedNodeID(m.pkNum(74), "", 0), // PackMLAlarmDataType, Default Binary
		Value: &alarmValue{ID: int32(n), Message: a.Source + ": " + a.Text, Category: cat,
			DateTime: a.Raised.UTC(), AckDateTime: a.AckedAt.UTC(), Trigger: a.Active}}
}

// same compares two tag values (slices and structures by content).
func same(a, b any) bool {
	switch a.(type) {
	case string, int32, float32, bool:
		return a == b
	}
	return fmt.Sprintf("%#v", deref(a)) == fmt.Sprintf("%#v", deref(b))
}

func deref(v any) any {
	switch x := v.(type) {
	case []*ua.ExtensionObject:
		out := make([]any, len(x))
		for i, e := range x {
			switch y := e.Value.(type) {
			case *countValue:
				out[i] = *y
			case *alarmValue:
				out[i] = *y
			}
		}
		return out
	case []*ua.NodeID:
		out := make([]string, len(x))
		for i, n := range x {
			out[i] = n.String()
		}
		return out
	case *ua.NodeID:
		return x.String()
	case *ua.LocalizedText:
		return x.Text
	}
	return v
}
