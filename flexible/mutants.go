package flexible

import (
	"fmt"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/planted"
	"github.com/paxos-lab/paxos/multi"
	"github.com/paxos-lab/paxos/quorum"
)

// sizes returns the counting sizes of cfg.Quorums (majority when nil).
func sizes(cfg paxos.Config) (q1, q2 int, err error) {
	if cfg.Quorums == nil {
		return cfg.N/2 + 1, cfg.N/2 + 1, nil
	}
	c, ok := cfg.Quorums.(interface {
		Q1() int
		Q2() int
	})
	if !ok {
		return 0, 0, fmt.Errorf("flexible: %w: quorum system %s has no counting sizes; run this mutant with --q1/--q2", paxos.ErrConfig, cfg.Quorums)
	}
	return c.Q1(), c.Q2(), nil
}

// unsafeCounting builds thrifty Flexible Paxos over counting quorums of
// the given sizes with no intersection check.
func unsafeCounting(cfg paxos.Config, q1, q2 int) (paxos.Replica, error) {
	if cfg.N < 1 || cfg.N > quorum.MaxReplicas {
		return nil, fmt.Errorf("%w: N=%d out of range 1..%d", paxos.ErrConfig, cfg.N, quorum.MaxReplicas)
	}
	return multi.NewEngine(cfg, multi.Options{Quorums: planted.Quorums(cfg.N, q1, q2), Thrifty: true})
}

// shrunk builds Flexible Paxos with the configured phase-1 (d1) and
// phase-2 (d2) quorum sizes reduced, and no intersection check.
func shrunk(d1, d2 int) paxos.Constructor {
	return func(cfg paxos.Config) (paxos.Replica, error) {
		q1, q2, err := sizes(cfg)
		if err != nil {
			return nil, err
		}
		cfg.Quorums = nil
		r, err := unsafeCounting(cfg, q1-d1, q2-d2)
		if err != nil {
			return nil, fmt.Errorf("flexible: %w", err)
		}
		return r, nil
	}
}

// shortRows builds Flexible Paxos over the configured grid with each
// phase-1 row one member short and no intersection check.
func shortRows(cfg paxos.Config) (paxos.Replica, error) {
	g, ok := cfg.Quorums.(quorum.Grid)
	if !ok || g.Transposed() {
		return nil, fmt.Errorf("flexible: %w: quorum system %v is not a grid; run this mutant with --grid RxC", paxos.ErrConfig, cfg.Quorums)
	}
	q, err := planted.Grid(g.Rows(), g.Cols())
	if err != nil {
		return nil, fmt.Errorf("flexible: %w: %w", paxos.ErrConfig, err)
	}
	cfg.Quorums = nil
	return multi.NewEngine(cfg, multi.Options{Quorums: q, Thrifty: true})
}

func init() {
	for _, m := range []paxos.Mutant{
		{Name: "flexible/unsafe-quorums", Bug: "phase-1 and phase-2 quorums of 2 out of 5, which need not intersect",
			Sizes: []int{5}, New: func(cfg paxos.Config) (paxos.Replica, error) {
				r, err := unsafeCounting(cfg, 2, 2)
				if err != nil {
					return nil, fmt.Errorf("flexible: %w", err)
				}
				return r, nil
			}},
		{Name: "flexible/q1-minus-one", Bug: "phase 1 waits for one promise fewer than Q1, so with Q1 + Q2 = N + 1 a phase-1 quorum can miss a phase-2 quorum",
			Needs: "--q1 4 --q2 2", Sizes: []int{5}, New: shrunk(1, 0)},
		{Name: "flexible/q2-minus-one", Bug: "phase 2 commits with one acknowledgement fewer than Q2, so with Q1 + Q2 = N + 1 a phase-2 quorum can miss a phase-1 quorum",
			Needs: "--q1 2 --q2 4", Sizes: []int{5}, New: shrunk(0, 1)},
		// Fourth round.
		{Name: "flexible/grid-row-short", Bug: "the grid's phase-1 check builds each row one column short (< cols-1 for < cols), so a phase-1 quorum can miss the last column, which is a phase-2 quorum",
			Needs: "--grid 2x3", Sizes: []int{6}, New: shortRows},
	} {
		m.Protocol = "flexible"
		paxos.RegisterMutant(m)
	}
}
