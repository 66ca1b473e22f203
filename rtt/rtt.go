// Package rtt holds round-trip-time matrices between sites: the published
// wide-area setups the benchmarks reproduce (see Preset), uniform LAN
// matrices, and a CSV file format for custom ones.
//
// A Matrix gives the round trip between two sites in milliseconds; a
// message's one-way delay is half of it (OneWay). Index i of a matrix is the
// site of replica i.
package rtt

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
)

// ErrInvalid is wrapped by every error about a malformed matrix or file.
var ErrInvalid = errors.New("invalid RTT matrix")

// Matrix is a square matrix of round-trip times between sites.
//
// MS[i][j] is the round trip from site i to site j in milliseconds: finite,
// non-negative, and 0 on the diagonal (a replica talks to itself locally).
// The matrix may be asymmetric; the one-way delay from i to j is then
// MS[i][j]/2. Sites holds the site names, or is nil when they have none
// (Name then gives the index).
type Matrix struct {
	Sites []string
	MS    [][]float64
}

// N returns the number of sites.
func (m Matrix) N() int { return len(m.MS) }

// Name returns site i's name, or its index in decimal when the matrix has no
// names.
func (m Matrix) Name(i int) string {
	if i >= 0 && i < len(m.Sites) {
		return m.Sites[i]
	}
	return strconv.Itoa(i)
}

// Index returns the index of the named site.
func (m Matrix) Index(name string) (int, bool) {
	for i, s := range m.Sites {
		if s == name {
			return i, true
		}
	}
	return 0, false
}

// RTT returns the round trip from i to j in milliseconds (0 for an index
// outside the matrix).
func (m Matrix) RTT(i, j int) float64 {
	if i < 0 || j < 0 || i >= len(m.MS) || j >= len(m.MS[i]) {
		return 0
	}
	return m.MS[i][j]
}

// OneWay returns the one-way delay from i to j: half the round trip.
func (m Matrix) OneWay(i, j int) time.Duration {
	return time.Duration(math.Round(m.RTT(i, j) / 2 * float64(time.Millisecond)))
}

// Symmetric reports whether MS[i][j] == MS[j][i] for all i, j.
func (m Matrix) Symmetric() bool {
	for i := range m.MS {
		for j := range m.MS[i] {
			if j >= len(m.MS) || i >= len(m.MS[j]) || m.MS[i][j] != m.MS[j][i] {
				return false
			}
		}
	}
	return true
}

// Validate checks that the matrix is non-empty and square, that Sites is nil
// or names every site once with a non-empty name, and that every value is
// finite and non-negative with 0 on the diagonal. Errors wrap ErrInvalid.
func (m Matrix) Validate() error {
	n := len(m.MS)
	if n == 0 {
		return fmt.Errorf("rtt: %w: the matrix has no sites", ErrInvalid)
	}
	if m.Sites != nil {
		if len(m.Sites) != n {
			return fmt.Errorf("rtt: %w: %d site names for %d rows", ErrInvalid, len(m.Sites), n)
		}
		seen := make(map[string]int, n)
		for i, s := range m.Sites {
			if s == "" {
				return fmt.Errorf("rtt: %w: site %d has an empty name", ErrInvalid, i)
			}
			if j, dup := seen[s]; dup {
				return fmt.Errorf("rtt: %w: site name %q used by sites %d and %d", ErrInvalid, s, j, i)
			}
			seen[s] = i
		}
	}
	for i, row := range m.MS {
		if len(row) != n {
			return fmt.Errorf("rtt: %w: row %d (%s) has %d values for %d sites (not square)", ErrInvalid, i, m.Name(i), len(row), n)
		}
		for j, v := range row {
			if err := checkValue(v, i == j); err != nil {
				return fmt.Errorf("rtt: %w: %s to %s: %v", ErrInvalid, m.Name(i), m.Name(j), err)
			}
		}
	}
	return nil
}

func checkValue(v float64, diagonal bool) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("%v is not a finite number of milliseconds", v)
	case v < 0:
		return fmt.Errorf("negative round trip %v ms", v)
	case diagonal && v != 0:
		return fmt.Errorf("%v ms on the diagonal, want 0 (a replica reaches itself locally)", v)
	}
	return nil
}

// Sub returns the matrix restricted to the given sites, in the given order:
// Sub(2, 0) has site 2 as its index 0. Ids must be in range and distinct.
func (m Matrix) Sub(ids ...int) (Matrix, error) {
	out := Matrix{MS: make([][]float64, len(ids))}
	if m.Sites != nil {
		out.Sites = make([]string, len(ids))
	}
	seen := map[int]bool{}
	for a, i := range ids {
		if i < 0 || i >= m.N() {
			return Matrix{}, fmt.Errorf("rtt: %w: site %d outside 0..%d", ErrInvalid, i, m.N()-1)
		}
		if seen[i] {
			return Matrix{}, fmt.Errorf("rtt: %w: site %d listed twice", ErrInvalid, i)
		}
		seen[i] = true
		if m.Sites != nil {
			out.Sites[a] = m.Sites[i]
		}
		out.MS[a] = make([]float64, len(ids))
		for b, j := range ids {
			out.MS[a][b] = m.RTT(i, j)
		}
	}
	return out, nil
}

// Nearest returns the other sites ordered by round trip from i, nearest
// first, ties by index. It returns nil for i outside the matrix.
func (m Matrix) Nearest(i int) []int {
	if i < 0 || i >= m.N() {
		return nil
	}
	out := make([]int, 0, m.N()-1)
	for j := 0; j < m.N(); j++ {
		if j != i {
			out = append(out, j)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return m.RTT(i, out[a]) < m.RTT(i, out[b]) })
	return out
}

// KthNearest returns the round trip from i to its k-th nearest other site
// (k from 1), and 0 for k < 1 (a quorum of the site alone). It is the
// textbook latency bound: a leader at i waiting for Q-1 other replicas needs
// KthNearest(i, Q-1). It returns an error for k beyond the other sites.
func (m Matrix) KthNearest(i, k int) (float64, error) {
	if i < 0 || i >= m.N() {
		return 0, fmt.Errorf("rtt: site %d outside 0..%d", i, m.N()-1)
	}
	if k < 1 {
		return 0, nil
	}
	near := m.Nearest(i)
	if k > len(near) {
		return 0, fmt.Errorf("rtt: site %s has %d other sites, no %d-th nearest", m.Name(i), len(near), k)
	}
	return m.RTT(i, near[k-1]), nil
}

// Distances returns a copy of row i: site i's round trips to every site, the
// shape paxos.Config.Distances takes.
func (m Matrix) Distances(i int) []float64 {
	if i < 0 || i >= m.N() {
		return nil
	}
	return append([]float64(nil), m.MS[i]...)
}

// Clone returns a deep copy.
func (m Matrix) Clone() Matrix {
	out := Matrix{MS: make([][]float64, len(m.MS))}
	if m.Sites != nil {
		out.Sites = append([]string(nil), m.Sites...)
	}
	for i, row := range m.MS {
		out.MS[i] = append([]float64(nil), row...)
	}
	return out
}

// Uniform returns an n-site matrix with every off-diagonal round trip equal
// to ms and no site names. It returns an error for n < 1 or a negative or
// non-finite ms.
func Uniform(n int, ms float64) (Matrix, error) {
	if n < 1 {
		return Matrix{}, fmt.Errorf("rtt: %w: uniform matrix of %d sites, want at least 1", ErrInvalid, n)
	}
	if err := checkValue(ms, false); err != nil {
		return Matrix{}, fmt.Errorf("rtt: %w: uniform matrix: %v", ErrInvalid, err)
	}
	m := Matrix{MS: make([][]float64, n)}
	for i := range m.MS {
		m.MS[i] = make([]float64, n)
		for j := range m.MS[i] {
			if i != j {
				m.MS[i][j] = ms
			}
		}
	}
	return m, nil
}
