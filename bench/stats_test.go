package bench

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos/internal/longtest"
)

func TestDescribe(t *testing.T) {
	x := make([]float64, 1000)
	for i := range x {
		x[i] = float64(1000 - i) // 1..1000, unsorted
	}
	s := Describe(x)
	assert.Equal(t, 1000, s.N)
	assert.InDelta(t, 500.5, s.Mean, 1e-9)
	assert.Equal(t, 500.0, s.P50) // smallest x with >= 50% of samples <= x
	assert.Equal(t, 900.0, s.P90)
	assert.Equal(t, 990.0, s.P99)
	assert.Equal(t, 999.0, s.P999)
	assert.Equal(t, 1.0, s.Min)
	assert.Equal(t, 1000.0, s.Max)
	assert.InDelta(t, math.Sqrt(1000*1001/12.0), s.StdDev, 0.01)
	e := Describe(nil)
	assert.Equal(t, 0, e.N)
	assert.True(t, math.IsNaN(e.P50))
}

// TestBootstrapMeanMatchesTheory: for n normal samples the 95% CI of the
// mean is about mean ± 1.96σ/√n.
func TestBootstrapMeanMatchesTheory(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 2000
	x := make([]float64, n)
	for i := range x {
		x[i] = 100 + 10*rng.NormFloat64()
	}
	m := Median(x)
	_ = m
	ci, err := BootstrapMean(x, 0.95, 2000, rng)
	require.NoError(t, err)
	var mean float64
	for _, v := range x {
		mean += v
	}
	mean /= n
	half := 1.96 * 10 / math.Sqrt(n)
	assert.InDelta(t, mean-half, ci.Low, 0.15*half)
	assert.InDelta(t, mean+half, ci.High, 0.15*half)
}

// TestBootstrapQuantileMatchesTheory: the median of n normal samples has
// standard error about σ·sqrt(π/(2n)).
func TestBootstrapQuantileMatchesTheory(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 4000
	x := make([]float64, n)
	for i := range x {
		x[i] = 50 + 5*rng.NormFloat64()
	}
	ci, err := BootstrapQuantile(x, 0.5, 0.95, 4000, rng)
	require.NoError(t, err)
	med := Quantile(x, 0.5)
	half := 1.96 * 5 * math.Sqrt(math.Pi/(2*n))
	assert.InDelta(t, med-half, ci.Low, 0.25*half)
	assert.InDelta(t, med+half, ci.High, 0.25*half)
}

// TestBootstrapCoverage draws many normal samples and checks that the 95%
// intervals of the mean and of the median cover the true value (0) about
// 95% of the time.
func TestBootstrapCoverage(t *testing.T) {
	trials := 400
	if !longtest.Enabled() {
		trials = 150
	}
	rng := rand.New(rand.NewPCG(9, 10))
	coverMean, coverMed := 0, 0
	for tr := 0; tr < trials; tr++ {
		x := make([]float64, 200)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		ci, err := BootstrapMean(x, 0.95, 500, rng)
		require.NoError(t, err)
		if ci.Low <= 0 && 0 <= ci.High {
			coverMean++
		}
		ci, err = BootstrapQuantile(x, 0.5, 0.95, 500, rng)
		require.NoError(t, err)
		if ci.Low <= 0 && 0 <= ci.High {
			coverMed++
		}
	}
	// Binomial(trials, 0.95) has sd ~ sqrt(trials*.95*.05); the percentile
	// bootstrap is slightly liberal at n = 200, so allow 0.88..0.99.
	assert.InDelta(t, 0.935, float64(coverMean)/float64(trials), 0.055)
	assert.InDelta(t, 0.935, float64(coverMed)/float64(trials), 0.055)
}

// TestBootstrapQuantileEqualsResampling compares the binomial shortcut with
// literal resampling on a small sample with ties (at a level whose
// endpoints are not on a knife edge of the exact distribution).
func TestBootstrapQuantileEqualsResampling(t *testing.T) {
	x := []float64{1, 2, 2, 3, 5, 8, 8, 8, 13, 21, 34}
	rng := rand.New(rand.NewPCG(1, 1))
	a, err := BootstrapQuantile(append([]float64(nil), x...), 0.5, 0.8, 20000, rng)
	require.NoError(t, err)
	b, err := BootstrapStat(x, Median, 0.8, 20000, rng)
	require.NoError(t, err)
	assert.Equal(t, b, a)
}

func TestBootstrapErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	_, err := BootstrapMean(nil, 0.95, 10, rng)
	assert.Error(t, err)
	_, err = BootstrapMean([]float64{1}, 1.5, 10, rng)
	assert.Error(t, err)
	_, err = BootstrapQuantile([]float64{1}, 0, 0.95, 10, rng)
	assert.Error(t, err)
	_, err = BootstrapStat([]float64{1}, Median, 0.95, 0, rng)
	assert.Error(t, err)
}
