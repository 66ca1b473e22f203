package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Quantile definition. Every quantile in this package is gonum's
// stat.Empirical quantile of the sorted samples: the smallest sample x such
// that at least a fraction p of the samples are <= x (the inverse of the
// empirical CDF, "type 1" in Hyndman and Fan's taxonomy). It never
// interpolates, so a quantile is always a latency some operation observed.

// Stats summarises one set of latency samples, in the samples' unit.
type Stats struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	StdDev float64 `json:"std_dev"`
	Min    float64 `json:"min"`
	P50    float64 `json:"p50"`
	P90    float64 `json:"p90"`
	P99    float64 `json:"p99"`
	P999   float64 `json:"p999"`
	Max    float64 `json:"max"`
}

// Describe computes Stats of x with gonum/stat. x is sorted in place. An
// empty x gives a zero Stats with N = 0 and NaN moments.
func Describe(x []float64) Stats {
	if len(x) == 0 {
		nan := math.NaN()
		return Stats{Mean: nan, StdDev: nan, Min: nan, P50: nan, P90: nan, P99: nan, P999: nan, Max: nan}
	}
	sort.Float64s(x)
	s := Stats{N: len(x), Min: x[0], Max: x[len(x)-1]}
	s.Mean, s.StdDev = stat.MeanStdDev(x, nil)
	if len(x) == 1 {
		s.StdDev = 0
	}
	s.P50 = Quantile(x, 0.5)
	s.P90 = Quantile(x, 0.9)
	s.P99 = Quantile(x, 0.99)
	s.P999 = Quantile(x, 0.999)
	return s
}

// Quantile returns the p-quantile of sorted x with the package's definition
// (gonum stat.Empirical). It returns NaN for an empty x.
func Quantile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return stat.Quantile(p, stat.Empirical, sorted, nil)
}

// CI is a two-sided confidence interval.
type CI struct {
	Low  float64 `json:"low"`
	High float64 `json:"high"`
}

// DefaultResamples is the number of bootstrap resamples.
const DefaultResamples = 2000

// BootstrapMean returns a percentile-bootstrap confidence interval at the
// given level (e.g. 0.95) for the mean of x, from b resamples drawn with
// rng. Each resample's mean is computed with gonum stat.Mean.
func BootstrapMean(x []float64, level float64, b int, rng *rand.Rand) (CI, error) {
	if err := checkBoot(len(x), level, b); err != nil {
		return CI{}, err
	}
	res := make([]float64, b)
	buf := make([]float64, len(x))
	for i := range res {
		for j := range buf {
			buf[j] = x[rng.IntN(len(x))]
		}
		res[i] = stat.Mean(buf, nil)
	}
	return percentileCI(res, level), nil
}

// BootstrapQuantile returns a percentile-bootstrap confidence interval at the
// given level for the p-quantile (package definition) of x, from b
// resamples drawn with rng. x is sorted in place.
//
// It does not build the resamples: the p-quantile of a resample of sorted x
// is x[i] for the smallest i such that at least ceil(p·n) resampled values
// are among x[0..i], and that count is Binomial(n, (i+1)/n). So the
// resampled quantile's index is drawn exactly by inverting that CDF (gonum
// distuv.Binomial) with a binary search, in O(log n) per resample instead of
// O(n). The distribution is identical to resampling with replacement.
func BootstrapQuantile(x []float64, p, level float64, b int, rng *rand.Rand) (CI, error) {
	if err := checkBoot(len(x), level, b); err != nil {
		return CI{}, err
	}
	if !(p > 0 && p <= 1) {
		return CI{}, fmt.Errorf("bench: quantile %v outside (0,1]", p)
	}
	sort.Float64s(x)
	n := len(x)
	need := math.Ceil(p*float64(n) - 1e-9) // resampled values needed at or below
	// cdf(i) = P(resampled quantile index <= i) = P(Bin(n,(i+1)/n) >= need).
	cdf := func(i int) float64 {
		if i >= n-1 {
			return 1
		}
		bin := distuv.Binomial{N: float64(n), P: float64(i+1) / float64(n)}
		return bin.Survival(need - 1)
	}
	res := make([]float64, b)
	for r := range res {
		u := rng.Float64()
		i := sort.Search(n, func(i int) bool { return cdf(i) >= u })
		if i >= n {
			i = n - 1
		}
		res[r] = x[i]
	}
	return percentileCI(res, level), nil
}

// BootstrapStat returns a percentile-bootstrap confidence interval for any
// statistic of x, resampling x with replacement b times. It is the general
// form used across repeated runs, where x holds one value per run.
func BootstrapStat(x []float64, statistic func([]float64) float64, level float64, b int, rng *rand.Rand) (CI, error) {
	if err := checkBoot(len(x), level, b); err != nil {
		return CI{}, err
	}
	res := make([]float64, b)
	buf := make([]float64, len(x))
	for i := range res {
		for j := range buf {
			buf[j] = x[rng.IntN(len(x))]
		}
		res[i] = statistic(buf)
	}
	return percentileCI(res, level), nil
}

// Median returns the median (package quantile definition) of x without
// modifying it.
func Median(x []float64) float64 {
	c := append([]float64(nil), x...)
	sort.Float64s(c)
	return Quantile(c, 0.5)
}

func checkBoot(n int, level float64, b int) error {
	if n == 0 {
		return fmt.Errorf("bench: bootstrap of no samples")
	}
	if !(level > 0 && level < 1) {
		return fmt.Errorf("bench: confidence level %v outside (0,1)", level)
	}
	if b < 1 {
		return fmt.Errorf("bench: %d bootstrap resamples, need at least 1", b)
	}
	return nil
}

// percentileCI returns the (1-level)/2 and (1+level)/2 empirical quantiles
// of the bootstrap replicates.
func percentileCI(res []float64, level float64) CI {
	sort.Float64s(res)
	a := (1 - level) / 2
	return CI{Low: stat.Quantile(a, stat.Empirical, res, nil), High: stat.Quantile(1-a, stat.Empirical, res, nil)}
}

func meanOf(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	return stat.Mean(x, nil)
}
