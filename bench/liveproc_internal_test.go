package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An RTT matrix with another number of sites than replicas is refused
// before any replica starts, with what to do, instead of after waiting
// for replicas that refuse it (and without the nil dereference that
// refusal once caused).
func TestProcClusterRefusesMatrixOfOtherSize(t *testing.T) {
	s := &Spec{Replicas: 3, RTTName: "epaxos2013", Tick: 10 * time.Millisecond, Batch: 1,
		Serve: []string{"/nonexistent/paxos", "serve"}}
	pc, err := startProcCluster(context.Background(), s, "multi", 1)
	require.Error(t, err)
	assert.Nil(t, pc)
	assert.Contains(t, err.Error(), "5 sites for 3 replicas")
	assert.Contains(t, err.Error(), "--rtt lan")
}
