package bench

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/paxos-lab/paxos"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConflictWorkloadShare(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	w, err := NewConflict(25, 10, 16, "c1/")
	require.NoError(t, err)
	const n = 40000
	hot, reads := 0, 0
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		c := w.Next(rng)
		if c.Key == HotKey {
			hot++
		} else {
			require.False(t, seen[c.Key], "unique key %q repeated", c.Key)
			seen[c.Key] = true
		}
		if c.Op == paxos.OpGet {
			reads++
			assert.Empty(t, c.Value)
		} else {
			require.Equal(t, paxos.OpPut, c.Op)
			require.Len(t, c.Value, 16)
		}
	}
	// 25% hot ± 4 standard deviations.
	sd := math.Sqrt(n * 0.25 * 0.75)
	assert.InDelta(t, 0.25*n, float64(hot), 4*sd)
	sd = math.Sqrt(n * 0.1 * 0.9)
	assert.InDelta(t, 0.1*n, float64(reads), 4*sd)
}

func TestConflictWorkloadExtremes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	w0, err := NewConflict(0, 0, 0, "a")
	require.NoError(t, err)
	w100, err := NewConflict(100, 0, 0, "b")
	require.NoError(t, err)
	for i := 0; i < 1000; i++ {
		assert.NotEqual(t, HotKey, w0.Next(rng).Key)
		assert.Equal(t, HotKey, w100.Next(rng).Key)
	}
	_, err = NewConflict(101, 0, 0, "")
	assert.Error(t, err)
	_, err = NewConflict(1, -1, 0, "")
	assert.Error(t, err)
	_, err = NewConflict(1, 0, -5, "")
	assert.Error(t, err)
}

// TestZipfFrequencies compares observed rank frequencies with the exact
// zipf probabilities by a chi-square statistic, for exponents below and
// above 1 (where math/rand's Zipf cannot go and where it can).
func TestZipfFrequencies(t *testing.T) {
	for _, theta := range []float64{0.7, 0.9, 0.99, 1.0, 1.5} {
		const k, n = 50, 200000
		g, err := NewZipfGen(theta, k)
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(uint64(theta*1000), 7))
		counts := make([]float64, k)
		for i := 0; i < n; i++ {
			r := g.Next(rng)
			require.True(t, r >= 0 && r < k)
			counts[r]++
		}
		var chi2, sum float64
		for r := 0; r < k; r++ {
			p := g.Prob(r)
			sum += p
			e := p * n
			chi2 += (counts[r] - e) * (counts[r] - e) / e
		}
		assert.InDelta(t, 1, sum, 1e-9)
		// 49 degrees of freedom: the 99.9th percentile of chi2(49) is 85.4.
		assert.Less(t, chi2, 85.4, "theta %v: chi-square %v", theta, chi2)
	}
}

func TestZipfLargeKeySpaceHead(t *testing.T) {
	const k, n = 1_000_000, 200000
	g, err := NewZipfGen(0.99, k)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(11, 12))
	counts := map[int]float64{}
	for i := 0; i < n; i++ {
		counts[g.Next(rng)]++
	}
	// Exact head probabilities from the harmonic number H(k, 0.99).
	var z float64
	for i := k; i >= 1; i-- {
		z += math.Pow(float64(i), -0.99)
	}
	for r := 0; r < 5; r++ {
		p := math.Pow(float64(r+1), -0.99) / z
		assert.InDelta(t, p*n, counts[r], 5*math.Sqrt(n*p*(1-p)), "rank %d", r)
	}
}

func TestZipfErrorsAndParse(t *testing.T) {
	_, err := NewZipfGen(0, 10)
	assert.Error(t, err)
	_, err = NewZipfGen(0.9, 0)
	assert.Error(t, err)
	ks, err := ParseKeySpec("zipf:0.9")
	require.NoError(t, err)
	assert.Equal(t, KeySpec{Kind: "zipf", Theta: 0.9, Keys: DefaultZipfKeys}, ks)
	ks, err = ParseKeySpec("zipf:0.7:100")
	require.NoError(t, err)
	assert.Equal(t, 100, ks.Keys)
	for _, bad := range []string{"zipf", "zipf:x", "zipf:-1", "zipf:1:0", "uniform", "conflict:3"} {
		_, err := ParseKeySpec(bad)
		assert.Error(t, err, bad)
	}
	w, err := NewZipf(0.9, 10, 50, 8)
	require.NoError(t, err)
	c := w.Next(rand.New(rand.NewPCG(1, 1)))
	assert.Regexp(t, `^k[0-9]$`, c.Key)
}
