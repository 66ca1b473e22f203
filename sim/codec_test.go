package sim_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/sim"
)

// With Codec on, a message whose body the codec cannot carry (echo's ping
// is not registered) is reported and dropped, as the live transport would;
// with Codec off the simulator passes it by reference.
func TestCodecRoundTripCatchesUnregisteredBodies(t *testing.T) {
	for _, codec := range []bool{false, true} {
		s := newSim(t, sim.Config{New: newEcho, N: 2, RTT: sim.Uniform(2, 10), Record: true, Codec: codec})
		require.NoError(t, s.Propose(0, paxos.Command{Client: 1, Seq: 1, Op: paxos.OpPut, Key: "k", Value: "v"}))
		s.Run(time.Second)
		if !codec {
			assert.Empty(t, s.CodecErrors())
			continue
		}
		errs := s.CodecErrors()
		require.NotEmpty(t, errs)
		assert.Contains(t, errs[0], "replica 0 message sim_test.ping")
	}
}
