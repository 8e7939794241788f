// Package journal is the line's unit journal: the crash-safe legal record
// behind serialization, in one bbolt file. It guarantees that a serial number
// is never on two units and that no serial drawn from a pool is ever lost,
// across crashes and power loss.
//
// # What it holds
//
//   - Pools: serials from upstream per GTIN and pool id, in order; each serial
//     is available, drawn (a unit) or returned upstream. ImportPool checks
//     every serial and refuses a bad pool whole (*PoolError).
//   - Units: one per drawn serial, with batch, state, PLC sequence id, latest
//     grade, and the full history of steps (state, time, actor, reason).
//   - Batches: definition, PackML state history with actor and reason, and
//     counters per unit state, maintained in the same transaction as the units.
//   - Audit trail: append-only, each entry carrying the SHA-256 of the
//     previous one (21 CFR Part 11 style).
//   - Outbox: events for upstream, removed only by OutboxAck.
//
// # Unit state machine
//
//	Drawn ──► Queued ──► Printed ──► Verified ──► Commissioned
//	  │         │           │           │              │
//	  ▼         ▼           ▼           ▼              ▼
//	Returned  Returned    Rejected    Rejected       Sampled*
//	          Rejected    Uncertain   Uncertain      Rejected*
//	          Uncertain
//
//	Rejected ──► Uncertain  (gate-mismatch only: the gate let it pass)
//
//	(* only by a person; Sampled, Returned, Uncertain are final)
//
// Precisely (CanTransition):
//
//	Drawn        -> Queued, Returned
//	Queued       -> Printed, Rejected, Returned, Uncertain
//	Printed      -> Verified, Rejected, Uncertain
//	Verified     -> Commissioned, Rejected, Uncertain
//	Commissioned -> Sampled, Rejected       (only by a person, not a system actor)
//	Sampled, Returned, Uncertain: final
//	Rejected     -> Uncertain only with reason gate-mismatch, by a system
//	                actor: the gate's read-back says the product passed
//	                although its verdict was reject (GateMismatch)
//	Rejected     -> Rejected  only as the annotation reject-not-confirmed:
//	                once, by a system actor, after the original reason
//	                (IsAnnotation); state and counters do not change
//
// Rejected, Returned and Uncertain need a Reason (no-read, mismatch,
// low-grade with the failing parameter, missed-print, reject-not-confirmed,
// manual, …); ReasonManual needs a person as Actor. Anything else is an
// illegal transition: Apply returns a *TransitionError (ErrIllegalTransition)
// and writes nothing.
//
// # Durability and ordering
//
// Every write method returns only after its transaction is fsynced (unless
// Options.NoSync, for benchmarks). Writes from concurrent callers are grouped
// by one committer goroutine into one bbolt transaction and one fsync (group
// commit, no added delay by default: what arrives during a commit goes into
// the next). The line relies on this order: Apply(Queued) has returned before
// the unit's data is sent to the printer; Apply(Commissioned or Rejected) has
// returned before the decision goes to the PLC.
//
// # Recovery on Open
//
// Open (read-write) runs recovery in one transaction before returning; the
// result is Journal.Recovery():
//
//   - A unit still Drawn was never sent anywhere (Queued is durable before
//     sending): it becomes Returned (reason recovery). It is NOT re-issued:
//     a serial leaves the pool once, ever.
//   - A unit Queued, Printed or Verified was sent but has no final decision:
//     its fate is unknown (it may be printed on a product that passed), so it
//     becomes Uncertain (reason recovery): never reusable, to be
//     decommissioned upstream.
//   - Every batch's counters are recounted from its units; counters that
//     differ (which the transactional update should make impossible) are
//     rewritten and listed in RecoveryReport.CounterFixes.
//   - When anything changed, one "recovery" audit entry records it.
//
// A clean Close of a line with no units in flight makes recovery a no-op.
// If a record cannot be decoded, Open fails with ErrCorrupt instead of
// guessing; `serialine journal verify` lists every problem.
// Options.ReadOnly skips recovery (for verify and export tools).
//
// # Verify
//
// Verify checks bbolt's structure, that every record decodes (records carry a
// version byte and a CRC-32C; a corrupt record is an error), that no serial is
// in two places, that each pool's serials = available + drawn + returned
// upstream, that counters equal the recount, that every unit history is legal,
// and that the audit hash chain is intact.
package journal
