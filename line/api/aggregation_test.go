package api

import "context"

// aggRouteOnly is an Aggregation whose methods are never called: the
// route tests only need the routes registered.
type aggRouteOnly struct{}

func (aggRouteOnly) AggStatus(context.Context) (AggStatus, error)         { return AggStatus{}, nil }
func (aggRouteOnly) AggLookup(context.Context, string) (AggLookup, error) { return AggLookup{}, nil }
func (aggRouteOnly) Station(context.Context, string) (StationState, error) {
	return StationState{}, nil
}
func (aggRouteOnly) Scan(context.Context, string, string, Actor) (ScanResult, error) {
	return ScanResult{}, nil
}
func (aggRouteOnly) StationCommand(context.Context, string, StationCommand, Actor, *Signature) (StationState, error) {
	return StationState{}, nil
}
func (aggRouteOnly) Rework(context.Context, ReworkRequest, Actor, Signature) (AggParent, error) {
	return AggParent{}, nil
}
func (aggRouteOnly) AggReconciliation(context.Context, string) (AggReconciliation, error) {
	return AggReconciliation{}, nil
}
func (aggRouteOnly) FinishAggregation(context.Context, string, Actor, Signature) (AggReconciliation, error) {
	return AggReconciliation{}, nil
}
