package aggregate

import "github.com/serialine/serialine/line/api"

// AlarmSource is the source of the aggregation's alarms.
const AlarmSource = "aggregation"

// Support codes of the aggregation's alarms; the catalogues
// (line/i18n/catalog) give each a plain-language text with the action to
// take under alarm.<code>, filled with the alarm's params.
const (
	CodeSSCCRange         = "AGG-SSCC-RANGE"          // the SSCC range of the config could not be set up
	CodeSSCCPool          = "AGG-SSCC-POOL"           // SSCCs could not be requested from the site server
	CodeCasePool          = "AGG-CASE-POOL"           // serials of a case GTIN could not be requested (gtin)
	CodeDevLink           = "AGG-DEV-LINK"            // a station device is not connected (station, device)
	CodeLabellerFault     = "AGG-LABELLER-FAULT"      // a label printer reports a fault (station, code, text)
	CodeLabellerWarning   = "AGG-LABELLER-WARNING"    // … a warning
	CodeLabelNotSent      = "AGG-LABEL-NOT-SENT"      // a parent's label could not be sent (station, detail)
	CodeCaseMissedTrigger = "AGG-CASE-MISSED-TRIGGER" // a case passed without a trigger
	CodeCaseNoCode        = "AGG-CASE-NO-CODE"        // no code could be drawn for a case (detail)
	CodeCaseVerdict       = "AGG-CASE-VERDICT"        // a rework verdict did not reach the case line PLC (case)
	CodeCaseVerdictClosed = "AGG-CASE-VERDICT-CLOSED" // an accept verdict did not reach it: a closed case went to rework (case, code)
	CodePalletNoRead      = "AGG-PALLET-NOREAD"       // the palletiser's scanner did not read a case label
	CodePalletRefused     = "AGG-PALLET-REFUSED"      // the palletiser refused a case (detail)
)

// Codes lists the aggregation's alarm codes (the catalogues must have a
// text for each).
func Codes() []string {
	return []string{CodeSSCCRange, CodeSSCCPool, CodeCasePool, CodeDevLink, CodeLabellerFault, CodeLabellerWarning, CodeLabelNotSent,
		CodeCaseMissedTrigger, CodeCaseNoCode, CodeCaseVerdict, CodeCaseVerdictClosed, CodePalletNoRead, CodePalletRefused}
}

// condOf is the condition key of code for what (a station, GTIN, case …;
// "" = the code alone): one active alarm per condition.
func condOf(code, what string) string {
	if what == "" {
		return AlarmSource + ":" + code
	}
	return AlarmSource + ":" + code + ":" + what
}

// linkCond is the condition of a station device's link.
func linkCond(station, dev string) string { return condOf(CodeDevLink, station+"/"+dev) }

// alarm raises code for the condition (code, what) with params; detail
// is the technical text kept for support.
func (a *Aggregator) alarm(sev, code, what string, params map[string]string, detail string) {
	a.log.Warn("aggregation alarm", "code", code, "detail", detail)
	if a.o.Alarms == nil {
		return
	}
	if params == nil {
		params = map[string]string{}
	}
	if _, ok := params["detail"]; !ok {
		params["detail"] = detail
	}
	a.o.Alarms.RaiseCondition(api.Alarm{Severity: sev, Source: AlarmSource, Code: code, Condition: condOf(code, what),
		Params: params, Detail: detail, RaisedBy: "system"})
}

// linkAlarm raises the link alarm of a station's device (cleared when it
// connects again).
func (a *Aggregator) linkAlarm(station, dev, detail string) {
	a.alarm(api.SeverityFault, CodeDevLink, station+"/"+dev, map[string]string{"station": station, "device": dev}, detail)
}

// clearAlarm clears the active alarm of condition, if any: its cause is
// gone (the device connected, the request or scan succeeded).
func (a *Aggregator) clearAlarm(condition string) {
	if a.o.Alarms != nil {
		a.o.Alarms.ClearCondition(condition, "system")
	}
}

// caseDone clears the case station's event alarms once a case went
// through: closed, labelled and its accept verdict delivered (the case
// line PLC takes verdicts again: the verdict alarms of earlier cases clear
// too; the cases they name are in the alarm history).
func (a *Aggregator) caseDone() {
	a.mu.Lock()
	conds := append([]string{condOf(CodeCaseMissedTrigger, ""), condOf(CodeCaseNoCode, ""), condOf(CodeLabelNotSent, "case")}, a.verdictAlarms...)
	a.verdictAlarms = nil
	a.mu.Unlock()
	for _, c := range conds {
		a.clearAlarm(c)
	}
}
