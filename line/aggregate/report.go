package aggregate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/serialine/serialine/line/epcis"
	"github.com/serialine/serialine/line/packml"
	"github.com/serialine/serialine/store/journal"
)

// OutboxEPCIS is the outbox kind of the aggregation documents (the line's
// outbox forwarder sends it as it sends the batch's own documents).
const OutboxEPCIS = "epcis"

// maxStepsPerDoc caps the events per EPCIS document.
const maxStepsPerDoc = 500

// reportLoop reports each final batch's aggregation events upstream (the
// batch's commissioning documents went to the outbox before its final
// state), at start, every few seconds and after each step.
func (a *Aggregator) reportLoop(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if err := a.reportFinal(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("aggregation report", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.kick:
		}
	}
}

// reportFinal reports the pending events of every batch in a final state.
func (a *Aggregator) reportFinal(ctx context.Context) error {
	bs, err := a.j.Batches()
	if err != nil {
		return err
	}
	for _, b := range bs {
		final := false
		for _, h := range b.History {
			if s, err := packml.ParseState(h.State); err == nil && s.Final() {
				final = true
			}
		}
		if !final {
			continue
		}
		if _, err := a.Report(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// Report puts the batch's aggregation events not yet reported into the
// outbox as EPCIS documents (one transaction) and returns how many.
func (a *Aggregator) Report(ctx context.Context, b journal.Batch) (int, error) {
	reporting, pending, err := a.j.AggReporting(b.ID)
	if err != nil || (reporting && pending == 0) {
		return 0, err
	}
	return a.j.ReportAgg(ctx, b.ID, func(evs []journal.AggEvent) ([]journal.OutboxEntry, error) {
		return a.documents(b, evs)
	})
}

// documents builds the EPCIS documents of events (in order).
func (a *Aggregator) documents(b journal.Batch, evs []journal.AggEvent) ([]journal.OutboxEntry, error) {
	loc := time.UTC
	if tz := a.o.Identity.Timezone; tz != "" {
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	}
	o := epcis.Options{Prefixes: a.prefixes, EPCs: a.o.Identity.EPCFormat, DLBase: a.o.Identity.DLBase,
		ReadPoint: a.o.Identity.ReadPoint, BizLocation: a.o.Identity.BizLocation}
	var out []journal.OutboxEntry
	for start := 0; start < len(evs); start += maxStepsPerDoc {
		var steps []epcis.Step
		for _, ev := range evs[start:min(start+maxStepsPerDoc, len(evs))] {
			s, err := a.step(b, ev, o)
			if err != nil {
				return nil, fmt.Errorf("event %d: %w", ev.Seq, err)
			}
			s.At = ev.At.In(loc)
			steps = append(steps, s)
		}
		doc, err := epcis.BuildSteps(b.ID, steps, o)
		if err != nil {
			return nil, err
		}
		out = append(out, journal.OutboxEntry{Kind: OutboxEPCIS, Payload: doc})
	}
	return out, nil
}

func (a *Aggregator) step(b journal.Batch, ev journal.AggEvent, o epcis.Options) (epcis.Step, error) {
	parent, err := a.epcOf(b, ev.Parent, o)
	if err != nil {
		return epcis.Step{}, err
	}
	s := epcis.Step{Parent: parent, Seq: ev.Seq}
	switch ev.Op {
	case journal.AggCommission:
		s.Kind = epcis.ParentCommissioning
		if k, _, _, _ := journal.SplitCode(ev.Parent); k == journal.IDSGTIN {
			exp, err := epcis.ExpiryDate(b.Expiry)
			if err != nil {
				return s, err
			}
			s.ILMD = map[string]any{"cbvmda:lotNumber": b.Lot, "cbvmda:itemExpirationDate": exp}
		}
		return s, nil
	case journal.AggDecommission:
		s.Kind = epcis.ParentDecommissioning
		return s, nil
	case journal.AggPack:
		s.Kind = epcis.Packing
	case journal.AggUnpack:
		s.Kind = epcis.Unpacking
	default:
		return s, fmt.Errorf("unknown aggregation op %s", ev.Op)
	}
	for _, c := range ev.Children {
		var e string
		if ev.Units {
			e, err = o.EPC(b.GTIN, c) // as the batch's own commissioning events carry it
		} else {
			e, err = a.epcOf(b, c, o)
		}
		if err != nil {
			return s, err
		}
		s.Children = append(s.Children, e)
	}
	return s, nil
}

// epcOf is the EPC of a parent code of batch b in the line's EPC format:
// an SGTIN parent like the units (its level GTIN's company prefix length
// from the line's lookup, the product master first), an SSCC with the
// company prefix length of ssccPrefixLen.
func (a *Aggregator) epcOf(b journal.Batch, code string, o epcis.Options) (string, error) {
	k, key, serial, err := journal.SplitCode(code)
	if err != nil {
		return "", err
	}
	if k != journal.IDSSCC {
		return o.EPC(key, serial)
	}
	n := 0
	if o.EPCs != "dl" {
		if n, err = a.ssccPrefixLen(b, key); err != nil {
			return "", err
		}
	}
	return o.SSCCEPC(key, n)
}

// ssccPrefixLen is the GS1 Company Prefix length of an SSCC: the SSCC
// range's company prefix (sscc.company_prefix) when the SSCC carries it,
// else the batch product's company prefix (from the line's lookup: the
// product master, line.company_prefixes, the GCP list) when the SSCC
// carries that one (company prefixes are prefix-free), else the line-wide
// line.company_prefix_len. None of them: an error naming the SSCC.
func (a *Aggregator) ssccPrefixLen(b journal.Batch, sscc string) (int, error) {
	if r := a.o.Config.SSCC; r.Source == "range" && r.CompanyPrefix != "" && strings.HasPrefix(sscc[1:], r.CompanyPrefix) {
		return len(r.CompanyPrefix), nil
	}
	if a.prefixes != nil {
		if n, err := a.prefixes.PrefixLength(b.GTIN); err == nil && n < len(sscc) && sscc[1:1+n] == b.GTIN[1:1+n] {
			return n, nil
		}
	}
	if n := a.o.Identity.CompanyPrefixLen; n != 0 {
		return n, nil
	}
	return 0, fmt.Errorf("SSCC %s: GS1 Company Prefix length unknown: it carries neither the SSCC range's company prefix nor the company prefix of GTIN %s, and line.company_prefix_len is not set", sscc, b.GTIN)
}
