package protocols_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
	"github.com/paxos-lab/paxos/internal/fuzzin"
	"github.com/paxos-lab/paxos/quorum"
)

// maxPool bounds the messages in flight in fuzzHonest.
const maxPool = 4096

// fuzzHonest runs a cluster of honest replicas of protocol under a schedule
// the fuzz input chooses: which message in flight is delivered next (in any
// order), duplicated or lost, which replica ticks, and which proposes a
// command (a new one, or a client's retry of its latest at another
// replica). It checks every Ready is well formed, that no honest message is
// ever refused (the input bounds must not refuse what a correct peer
// sends), and at the end the agreement invariants: one value per
// instance, EPaxos dependencies between interfering commits, and the same
// execution order of interfering commands everywhere. It returns the
// decisions learned.
func fuzzHonest(t *testing.T, protocol string, data []byte) int {
	in := fuzzin.New(data)
	n := 3
	if in.Intn(4) == 0 {
		n = 5
	}
	cfg := paxos.Config{N: n, Window: 4, Batch: 1 + in.Intn(2), RetryTicks: 2, ElectionTicks: 4,
		SnapshotEvery: -1, Thrifty: in.Bool(), InitialLeader: paxos.NodeID(in.Intn(n+1) - 1), Seed: uint64(in.Byte())}
	if protocol == "flexible" && n == 5 {
		q, err := quorum.NewCounting(5, 4, 2)
		require.NoError(t, err)
		cfg.Quorums = q
	}
	reps := make([]paxos.Replica, n)
	for i := range reps {
		c := cfg
		c.ID = paxos.NodeID(i)
		r, err := paxos.New(protocol, c)
		require.NoError(t, err)
		reps[i] = r
	}
	var pool []paxos.Message
	var learned []check.Learned
	var applied []check.Applied
	collect := func(id paxos.NodeID) {
		rd := reps[id].Ready()
		require.NoError(t, fuzzin.CheckReady(rd, id, n, cfg.Batch))
		pool = append(pool, rd.Messages...)
		if len(pool) > maxPool {
			pool = pool[len(pool)-maxPool:] // the oldest are lost
		}
		for _, d := range rd.Decided {
			learned = append(learned, check.Learned{Replica: id, Decision: d})
		}
		for _, e := range rd.Executed {
			applied = append(applied, check.Applied{Replica: id, Exec: e})
		}
	}
	for i := range reps {
		collect(paxos.NodeID(i))
	}
	last := map[uint64]paxos.Command{} // each client's latest command
	proposed := 0
	for step := 0; step < 600 && !in.Done(); step++ {
		switch c := in.Intn(10); {
		case c < 6 && len(pool) > 0: // deliver one, perhaps a duplicate
			k := in.Intn(len(pool))
			m := pool[k]
			if c > 0 {
				pool = append(pool[:k], pool[k+1:]...)
			}
			err := reps[m.To].Step(m)
			require.NoError(t, err, "step %d: an honest %T from %d refused by %d", step, m.Body, m.From, m.To)
			collect(m.To)
		case c == 6 && len(pool) > 0: // lose one
			k := in.Intn(len(pool))
			pool = append(pool[:k], pool[k+1:]...)
		case c == 7:
			id := paxos.NodeID(in.Intn(n))
			reps[id].Tick()
			collect(id)
		case c == 8:
			for i := range reps {
				reps[i].Tick()
				collect(paxos.NodeID(i))
			}
		default:
			id := paxos.NodeID(in.Intn(n))
			client := uint64(1 + in.Intn(3))
			cmd, retry := last[client]
			if !retry || in.Intn(4) != 0 {
				proposed++
				cmd = paxos.Command{Client: client, Seq: cmd.Seq + 1, Op: paxos.OpPut, Key: fmt.Sprint("k", in.Intn(2)), Value: fmt.Sprint("v", proposed)}
				if in.Intn(3) == 0 {
					cmd.Op, cmd.Value = paxos.OpGet, ""
				}
				last[client] = cmd
			}
			reps[id].Propose(cmd)
			collect(id)
		}
	}
	require.Empty(t, check.Invariants(learned, applied))
	return len(learned)
}

// The honest schedules the fuzz targets explore do decide: a long random
// input makes every protocol learn decisions, so the invariants checked are
// not vacuous.
func TestFuzzHonestDecides(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 3000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, p := range []string{"basic", "multi", "flexible", "epaxos", "fastpaxos"} {
		d := fuzzHonest(t, p, data)
		assert.Positive(t, d, p)
		t.Logf("%s: %d decisions learned", p, d)
	}
}

// FuzzHonestBasic runs fuzzHonest over Basic Paxos.
func FuzzHonestBasic(f *testing.F) { fuzzHonestTarget(f, "basic") }

// FuzzHonestMulti runs fuzzHonest over Multi-Paxos.
func FuzzHonestMulti(f *testing.F) { fuzzHonestTarget(f, "multi") }

// FuzzHonestFlexible runs fuzzHonest over Flexible Paxos (Q1=4, Q2=2 at
// N=5, majorities at N=3).
func FuzzHonestFlexible(f *testing.F) { fuzzHonestTarget(f, "flexible") }

// FuzzHonestEPaxos runs fuzzHonest over EPaxos.
func FuzzHonestEPaxos(f *testing.F) { fuzzHonestTarget(f, "epaxos") }

// FuzzHonestFastPaxos runs fuzzHonest over Fast Paxos.
func FuzzHonestFastPaxos(f *testing.F) { fuzzHonestTarget(f, "fastpaxos") }

func fuzzHonestTarget(f *testing.F, protocol string) {
	for _, s := range [][]byte{
		{},
		{0, 0, 0, 0, 9, 1, 9, 2, 0, 0, 0, 0, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0},
		{1, 1, 1, 5, 9, 0, 9, 1, 9, 2, 1, 2, 3, 4, 5, 7, 0, 8, 8, 8, 0, 1, 0, 2, 0, 3},
		{2, 0, 0, 9, 9, 9, 9, 8, 6, 6, 0, 5, 4, 3, 2, 1, 0, 8, 8, 1, 1, 1, 1, 2, 2, 2, 2},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { _ = fuzzHonest(t, protocol, data) })
}
