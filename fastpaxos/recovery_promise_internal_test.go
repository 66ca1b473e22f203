package fastpaxos

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// Why mutant fastpaxos/accept-ignores-recovery-promise changes nothing a
// run can show: a slot's recovery promise (Recover at (term, sub)) binds
// the acceptor above its term promise only against classic Accepts of the
// same term at a lower Sub, and a leader never sends one after a Recover
// of that slot: once it sent a slot's classic Accept it only resends that
// Accept, at the same ballot with the same value, for the rest of its
// term. Here the leader's classic round of a collided slot gets no vote
// for many retry intervals, with and without the planted bug: it sends no
// Recover for the slot and no other Accept, and when its Accepts finally
// arrive the slot is decided once.
func TestStalledClassicRoundIsOnlyResent(t *testing.T) {
	a, b := put(1, "A"), put(2, "B")
	for _, tc := range []struct {
		name string
		bug  bugs
	}{{"correct", bugs{}}, {"planted bug", bugs{acceptTermPromise: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			c := collided(t, tc.bug, a, b)
			ld := c.reps[4]
			stalled := func(m paxos.Message) bool {
				return m.From == 4 && (typ[Accept](m) || typ[Recover](m))
			}
			var sent []paxos.Message
			keep := func() {
				for _, m := range c.inflight {
					if stalled(m) && m.To != 4 {
						sent = append(sent, m)
					}
				}
				c.drop(func(m paxos.Message) bool { return stalled(m) && m.To != 4 })
			}
			keep()
			// 32 retry periods: the Accept goes at 0 and is resent at 1,
			// 3, 7, 15 and 31 (resends back off, see resendAfter).
			for range 32 * ld.retry() {
				ld.Tick()
				c.collect(4)
				c.deliver(func(m paxos.Message) bool { return m.To == 4 })
				keep()
			}
			require.NotEmpty(t, sent)
			first := sent[0].Body.(Accept)
			require.Equal(t, uint64(1), first.Slot)
			resent := 0
			for _, m := range sent {
				switch body := m.Body.(type) {
				case Recover:
					assert.NotEqual(t, first.Slot, body.Slot, "the leader recovers the slot again")
				case Accept:
					if body.Slot == first.Slot {
						resent++
						assert.Equal(t, first.Ballot, body.Ballot)
						assert.Equal(t, first.Value, body.Value)
					}
				}
			}
			assert.Greater(t, resent, 4*len(c.reps), "the leader resent its Accept")
			c.inflight = append(c.inflight, sent...)
			c.settle(30)
			assert.Len(t, c.valuesOf(1), 1)
		})
	}
}
