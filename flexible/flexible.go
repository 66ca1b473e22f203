// Package flexible implements Flexible Paxos (Howard, Malkhi, Spiegelman,
// 2016): the Multi-Paxos engine of package multi, unchanged, run over a
// quorum system whose phase-1 quorums need only intersect its phase-2
// quorums, with thrifty phase 2.
//
// Quorums come from Config.Quorums: counting sizes (quorum.NewCounting with
// Q1 + Q2 > N) or a grid (quorum.NewGrid: rows for phase 1, columns for phase
// 2). New checks, for every system it is given, that no phase-1 quorum can
// miss a phase-2 quorum and refuses the configuration otherwise with an error
// naming the system's sizes. A nil Config.Quorums means the majority system,
// which makes this Multi-Paxos with thrifty phase 2.
//
// Phase 2 is always thrifty: the leader sends each Accept only to the
// phase-2 quorum chosen by quorum.System.ChoosePhase2 with itself first and
// then the other replicas nearest first (Config.Distances, else by id), so it
// waits for Q2-1 replies; replicas it has not heard from for ElectionTicks
// (probably down) move to the end of that order. When an Accept is not
// acknowledged after RetryTicks it is sent to every replica that has not
// acknowledged it and has answered a heartbeat sent after it (the live
// ones), so set RetryTicks above the largest round trip in ticks.
// Commits still go to every replica.
//
// The trade-off of a small Q2, with counting quorums Q1 = N-Q2+1:
//
//   - replication tolerates N-Q2 failures: a leader keeps committing with only
//     Q2 replicas (itself included) alive, and each commit costs it Q2-1
//     messages instead of N-1;
//   - electing a leader needs Q1 live replicas: with fewer, a leader change
//     stalls (it never risks safety) until enough replicas return;
//   - a chosen value survives only while at least one of the Q2 acceptors
//     that accepted it does: lose all of them and the value is lost, even if
//     N-Q2 other replicas are alive.
//
// Config.Rebuild (a replica that lost its disk) works as in package multi:
// the rebuilding replica waits for answers from peers that meet every
// phase-1 and phase-2 quorum without it (N - min(Q1,Q2) + 1 of the others
// with counting quorums), and finishes only while the replicas up and not
// rebuilding hold both kinds of quorum, so with Q2 = 2 one lost disk at a
// time. A system where one replica alone is a quorum (Q2 = 1) cannot be
// rebuilt, and Rebuild is refused for it.
package flexible

import (
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/multi"
	"github.com/paxos-lab/paxos/quorum"
)

func init() {
	paxos.RegisterProtocolInfo("flexible", paxos.ProtocolInfo{New: New, Quorums: true, Leader: true, Rank: 3})
}

// New builds a Flexible Paxos replica over cfg.Quorums (majority when nil).
// It refuses a quorum system in which a phase-1 quorum and a phase-2 quorum
// can be disjoint, with an error wrapping paxos.ErrConfig and
// quorum.ErrUnsafe.
func New(cfg paxos.Config) (paxos.Replica, error) {
	return newEngine(cfg)
}

func newEngine(cfg paxos.Config) (*multi.Replica, error) {
	q := cfg.Quorums
	if q == nil {
		m, err := quorum.NewMajority(cfg.N)
		if err != nil {
			return nil, fmt.Errorf("flexible: %w: %w", paxos.ErrConfig, err)
		}
		q = m
	}
	r, err := multi.NewEngine(cfg, multi.Options{Quorums: q, Thrifty: true})
	if err != nil {
		return nil, fmt.Errorf("flexible: %w", err)
	}
	return r, nil
}
