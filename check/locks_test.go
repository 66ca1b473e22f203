package check

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/lockservice"
)

func lockOpts(proto string, seed uint64) Options {
	return Options{Protocol: proto, Replicas: 5, Seed: seed, Ops: 150, Faults: AllFaults,
		App: AppLockService, Replica: paxos.Config{LeaseTicks: 6}}
}

// TestCheckLockService: the lock service passes its checker under every
// fault, on every protocol.
func TestCheckLockService(t *testing.T) {
	for _, proto := range paxos.Protocols() {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("%s/%d", proto, seed), func(t *testing.T) {
				res, err := Run(lockOpts(proto, seed))
				require.NoError(t, err)
				assert.Empty(t, res.Failures)
				assert.Equal(t, res.Ops, res.Completed)
			})
		}
	}
}

// TestCheckLockServiceBroken: every broken lock service is caught within
// ten seeds.
func TestCheckLockServiceBroken(t *testing.T) {
	for _, v := range lockservice.Broken() {
		t.Run(v.Name, func(t *testing.T) {
			for seed := uint64(1); seed <= 10; seed++ {
				o := lockOpts("multi", seed)
				o.Broken = v.Name
				res, err := Run(o)
				require.NoError(t, err)
				if !res.OK() {
					t.Logf("caught at seed %d: %s", seed, res.Failures[0])
					return
				}
			}
			t.Fatalf("broken variant %s not caught in 10 seeds", v.Name)
		})
	}
}

// TestLockLinearizabilityPorcupine: porcupine alone (without the witness
// of the service's order) accepts a correct run and refuses a broken one.
func TestLockLinearizabilityPorcupine(t *testing.T) {
	verdict := func(broken string) Verdict {
		o := lockOpts("multi", 1)
		o.Broken = broken
		_, s, err := run(o)
		require.NoError(t, err)
		stamped := map[paxos.CommandID][]byte{}
		for _, a := range appliedFromSim(s) {
			if _, ok := stamped[a.Exec.Command.ID()]; !ok && !a.Exec.Duplicate {
				stamped[a.Exec.Command.ID()] = a.Exec.Command.Payload
			}
		}
		return CheckLockLinearizable(s.History(), stamped, 30*time.Second)
	}
	assert.Equal(t, Linearizable, verdict(""))
	assert.Equal(t, NotLinearizable, verdict("token-reuse"))
}
