package config

import (
	"fmt"
	"regexp"

	"github.com/serialine/serialine/configs"
)

// Shift is how the plant runs a shift on this line: the line clearance
// checklist confirmed (e-signed) before Start, the reason codes the
// operator picks when holding, stopping, completing or aborting a batch,
// who signs an operator's sample or damaged-pack reject, and the language
// of the line. Every list has a default, so the section is optional.
//
//	shift:
//	  language: de
//	  clearance:
//	    - {id: previous-removed, text: "Packs, labels and leaflets of the previous batch removed"}
//	    - {id: printer-purged, text: "Printer purged: no records of the previous batch"}
//	  reasons:
//	    hold:  [{code: jam, text: "Jam at the infeed"}, {code: material, text: "Material missing"}]
//	    stop:  [{code: end-of-order, text: "End of order"}]
//	  operator_unit_actions_need_supervisor: false
type Shift struct {
	// Language is the line's default language for users who chose none
	// ("en", "de"); default "en".
	Language string `yaml:"language"`
	// Clearance is the line clearance checklist; every item must be
	// confirmed (with an e-signature) before a batch may start. Default:
	// DefaultClearance. An explicit empty list turns line clearance off.
	Clearance []ChecklistItem `yaml:"clearance"`
	// Reasons are the reason codes offered per command (hold, stop,
	// complete, abort); the API refuses these commands from a person
	// without one. Default: DefaultReasons.
	Reasons map[string][]ReasonCode `yaml:"reasons"`
	// OperatorUnitActionsNeedSupervisor: an operator's sample pull or
	// damaged-pack reject needs a supervisor's e-signature as well (the
	// operator's own is always required). Default false.
	OperatorUnitActionsNeedSupervisor bool `yaml:"operator_unit_actions_need_supervisor"`
}

// ChecklistItem is one line clearance check.
type ChecklistItem struct {
	ID   string `yaml:"id" json:"id"`     // stable key, recorded with the confirmation
	Text string `yaml:"text" json:"text"` // what the operator checks, as shown
}

// ReasonCode is one reason an operator may give for a command.
type ReasonCode struct {
	Code string `yaml:"code" json:"code"` // recorded in the batch history and audit trail
	Text string `yaml:"text" json:"text"` // as shown (the catalogue's "reason.<code>" when there is one)
}

// DefaultClearance is the line clearance checklist when none is configured.
func DefaultClearance() []ChecklistItem {
	return []ChecklistItem{
		{"previous-removed", "Packs, labels and leaflets of the previous batch removed from the line"},
		{"reject-bin-empty", "Reject bin emptied and checked"},
		{"printer-purged", "Printer purged: no records of the previous batch in its queue"},
		{"printer-test", "Test print checked: content and quality of the new batch"},
		{"camera-taught", "Camera taught for this product: test pack read and graded"},
	}
}

// DefaultReasons are the reason codes per command when none are configured.
func DefaultReasons() map[string][]ReasonCode {
	return map[string][]ReasonCode{
		"hold": {{"jam", "Jam or fallen pack"}, {"material", "Material missing (cartons, leaflets, labels)"},
			{"quality-check", "In-process quality check"}, {"device-fault", "Device fault"}, {"break", "Break or shift change"}, {"other", "Other (explain in the note)"}},
		"stop": {{"end-of-order", "End of order"}, {"material", "Material missing"}, {"quality-problem", "Quality problem"},
			{"device-fault", "Device fault"}, {"other", "Other (explain in the note)"}},
		"complete": {{"target-reached", "Target quantity reached"}, {"order-short", "Order closed short (material or demand)"},
			{"other", "Other (explain in the note)"}},
		"abort": {{"emergency", "Emergency"}, {"wrong-material", "Wrong material on the line"}, {"quality-problem", "Quality problem"},
			{"other", "Other (explain in the note)"}},
	}
}

// Effective returns s with the defaults filled in.
func (s Shift) Effective() Shift {
	if s.Language == "" {
		s.Language = "en"
	}
	if s.Clearance == nil {
		s.Clearance = DefaultClearance()
	}
	if s.Reasons == nil {
		s.Reasons = DefaultReasons()
	}
	return s
}

var codeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ReasonCommands are the commands that take a reason code.
var ReasonCommands = []string{"hold", "stop", "complete", "abort"}

func (s Shift) validate(p *configs.Problems) {
	switch s.Language {
	case "", "en", "de":
	default:
		p.Add("shift.language", "want en or de, got %q", s.Language)
	}
	seen := map[string]bool{}
	for i, it := range s.Clearance {
		path := fmt.Sprintf("shift.clearance[%d]", i)
		if !codeRE.MatchString(it.ID) {
			p.Add(path+".id", "want 1-32 of a-z, 0-9 and '-', got %q", it.ID)
		} else if seen[it.ID] {
			p.Add(path+".id", "%q given twice", it.ID)
		}
		seen[it.ID] = true
		if it.Text == "" {
			p.Add(path+".text", "must be set")
		}
	}
	for cmd, list := range s.Reasons {
		known := false
		for _, c := range ReasonCommands {
			known = known || c == cmd
		}
		if !known {
			p.Add("shift.reasons."+cmd, "unknown command: want hold, stop, complete or abort")
			continue
		}
		if len(list) == 0 {
			p.Add("shift.reasons."+cmd, "must list at least one reason code")
		}
		seen := map[string]bool{}
		for i, r := range list {
			path := fmt.Sprintf("shift.reasons.%s[%d]", cmd, i)
			if !codeRE.MatchString(r.Code) {
				p.Add(path+".code", "want 1-32 of a-z, 0-9 and '-', got %q", r.Code)
			} else if seen[r.Code] {
				p.Add(path+".code", "%q given twice", r.Code)
			}
			seen[r.Code] = true
			if r.Text == "" {
				p.Add(path+".text", "must be set")
			}
		}
	}
}
