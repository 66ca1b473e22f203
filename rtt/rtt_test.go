package rtt

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPresetsWellFormed(t *testing.T) {
	for _, name := range PresetNames() {
		t.Run(name, func(t *testing.T) {
			m, err := Preset(name)
			require.NoError(t, err)
			require.NoError(t, m.Validate())
			assert.True(t, m.Symmetric(), "%s is not symmetric", name)
			for i := 0; i < m.N(); i++ {
				assert.Zero(t, m.MS[i][i])
				for j := 0; j < m.N(); j++ {
					if i != j {
						assert.Positive(t, m.MS[i][j], "%s %s-%s", name, m.Name(i), m.Name(j))
					}
				}
			}
		})
	}
	assert.Equal(t, []string{"aws2020", "epaxos2013", "epaxos2013-3", "gcp2020", "lan", "tempo2021"}, PresetNames())
}

// TestPresetValues spot-checks cells against the papers cited in
// presets.go, by site name so that a transposed or reordered table is
// caught.
func TestPresetValues(t *testing.T) {
	for _, tt := range []struct {
		preset, a, b string
		ms           float64
	}{
		{"epaxos2013", "CA", "VA", 85}, {"epaxos2013", "VA", "EU", 90}, {"epaxos2013", "CA", "EU", 156},
		{"epaxos2013", "CA", "OR", 21}, {"epaxos2013", "OR", "JP", 127}, {"epaxos2013", "CA", "JP", 118},
		{"epaxos2013", "JP", "EU", 278}, {"epaxos2013", "VA", "OR", 80}, {"epaxos2013", "OR", "EU", 150},
		{"epaxos2013", "VA", "JP", 160},
		{"epaxos2013-3", "CA", "VA", 85}, {"epaxos2013-3", "VA", "EU", 90}, {"epaxos2013-3", "EU", "CA", 156},
		{"aws2020", "VA", "CA", 59.9}, {"aws2020", "OR", "EU", 127.3}, {"aws2020", "EU", "JP", 204.4},
		{"aws2020", "VA", "JP", 152.4}, {"aws2020", "CA", "OR", 21.1},
		{"gcp2020", "CA", "VA", 60.2}, {"gcp2020", "EU", "JP", 214.7}, {"gcp2020", "OR", "JP", 88.3},
		{"gcp2020", "CA", "OR", 25.0}, {"gcp2020", "VA", "EU", 75.5},
		{"tempo2021", "EU", "US", 135.9}, {"tempo2021", "AP", "SA", 321.1}, {"tempo2021", "CA", "SA", 124.3},
		{"tempo2021", "US", "AP", 173.0}, {"tempo2021", "EU", "CA", 72.2},
	} {
		m, err := Preset(tt.preset)
		require.NoError(t, err)
		i, ok := m.Index(tt.a)
		require.True(t, ok, "%s has no site %s", tt.preset, tt.a)
		j, ok := m.Index(tt.b)
		require.True(t, ok, "%s has no site %s", tt.preset, tt.b)
		assert.Equal(t, tt.ms, m.RTT(i, j), "%s %s-%s", tt.preset, tt.a, tt.b)
		assert.Equal(t, tt.ms, m.RTT(j, i), "%s %s-%s", tt.preset, tt.b, tt.a)
	}
	m, _ := Preset("epaxos2013")
	assert.Equal(t, []string{"VA", "CA", "OR", "JP", "EU"}, m.Sites)
	m3, _ := Preset("epaxos2013-3")
	assert.Equal(t, []string{"CA", "VA", "EU"}, m3.Sites)
}

func TestPresetIsACopy(t *testing.T) {
	m, _ := Preset("aws2020")
	m.MS[0][1] = 999
	m.Sites[0] = "XX"
	m2, _ := Preset("aws2020")
	assert.Equal(t, 59.9, m2.MS[0][1])
	assert.Equal(t, "VA", m2.Sites[0])
}

func TestPresetLAN(t *testing.T) {
	m, err := Preset("lan")
	require.NoError(t, err)
	assert.Equal(t, LANSites, m.N())
	assert.Equal(t, LANms, m.RTT(0, 4))
	assert.Equal(t, 100*time.Microsecond, m.OneWay(1, 2))
	assert.Equal(t, "3", m.Name(3))
	m7, err := Preset("lan:7")
	require.NoError(t, err)
	assert.Equal(t, 7, m7.N())
	for _, bad := range []string{"lan:0", "lan:x", "lan:"} {
		_, err := Preset(bad)
		assert.ErrorIs(t, err, ErrInvalid, bad)
	}
}

func TestPresetUnknown(t *testing.T) {
	_, err := Preset("azure1999")
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), `unknown preset "azure1999"`)
	for _, n := range PresetNames() {
		assert.Contains(t, err.Error(), n)
	}
}

func TestMatrixMethods(t *testing.T) {
	m, _ := Preset("epaxos2013") // VA CA OR JP EU
	assert.Equal(t, 5, m.N())
	assert.Equal(t, 42500*time.Microsecond, m.OneWay(0, 1))
	assert.Equal(t, 10500*time.Microsecond, m.OneWay(1, 2))
	// VA: OR 80, CA 85, EU 90, JP 160.
	assert.Equal(t, []int{2, 1, 4, 3}, m.Nearest(0))
	// CA: OR 21, VA 85, JP 118, EU 156.
	assert.Equal(t, []int{2, 0, 3, 4}, m.Nearest(1))
	assert.Nil(t, m.Nearest(5))
	assert.Nil(t, m.Nearest(-1))
	k, err := m.KthNearest(1, 2) // EPaxos fast quorum 3 at CA: 2nd nearest
	require.NoError(t, err)
	assert.Equal(t, 85.0, k)
	k, err = m.KthNearest(1, 0)
	require.NoError(t, err)
	assert.Zero(t, k)
	_, err = m.KthNearest(1, 5)
	assert.Error(t, err)
	_, err = m.KthNearest(9, 1)
	assert.Error(t, err)
	assert.Equal(t, []float64{85, 0, 21, 118, 156}, m.Distances(1))
	assert.Nil(t, m.Distances(7))
	assert.Zero(t, m.RTT(0, 9))
	assert.Zero(t, m.OneWay(-1, 0))

	// Ties are broken by index.
	u, err := Uniform(4, 10)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 3}, u.Nearest(2))
	assert.Nil(t, u.Sites)
	require.NoError(t, u.Validate())
	_, err = Uniform(0, 1)
	assert.Error(t, err)
	_, err = Uniform(3, -1)
	assert.Error(t, err)
}

func TestSub(t *testing.T) {
	m, _ := Preset("epaxos2013") // VA CA OR JP EU
	s, err := m.Sub(1, 0, 4)
	require.NoError(t, err)
	want, _ := Preset("epaxos2013-3")
	assert.Equal(t, want, s, "CA, VA, EU of the 5-site matrix is the 3-site matrix")
	s.MS[0][1] = 1
	assert.Equal(t, 85.0, m.MS[1][0], "Sub copies")
	_, err = m.Sub(0, 5)
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = m.Sub(0, 0)
	assert.ErrorIs(t, err, ErrInvalid)
	u, _ := Uniform(3, 1)
	su, err := u.Sub(2)
	require.NoError(t, err)
	assert.Nil(t, su.Sites)
	assert.Equal(t, [][]float64{{0}}, su.MS)
}

func TestValidate(t *testing.T) {
	ok := Matrix{Sites: []string{"a", "b"}, MS: [][]float64{{0, 1}, {1, 0}}}
	require.NoError(t, ok.Validate())
	asym := Matrix{MS: [][]float64{{0, 1}, {2, 0}}}
	require.NoError(t, asym.Validate(), "asymmetric matrices are allowed")
	assert.False(t, asym.Symmetric())
	for name, tt := range map[string]struct {
		m    Matrix
		want string
	}{
		"empty":      {Matrix{}, "no sites"},
		"names":      {Matrix{Sites: []string{"a"}, MS: ok.MS}, "1 site names for 2 rows"},
		"dup":        {Matrix{Sites: []string{"a", "a"}, MS: ok.MS}, `"a" used by sites 0 and 1`},
		"empty name": {Matrix{Sites: []string{"a", ""}, MS: ok.MS}, "empty name"},
		"ragged":     {Matrix{MS: [][]float64{{0, 1}, {1}}}, "not square"},
		"negative":   {Matrix{MS: [][]float64{{0, -1}, {1, 0}}}, "negative"},
		"diagonal":   {Matrix{MS: [][]float64{{0, 1}, {1, 3}}}, "diagonal"},
		"nan":        {Matrix{MS: [][]float64{{0, 1}, {nan(), 0}}}, "finite"},
	} {
		err := tt.m.Validate()
		require.Error(t, err, name)
		assert.ErrorIs(t, err, ErrInvalid, name)
		assert.Contains(t, err.Error(), tt.want, name)
	}
}

func nan() float64 { var z float64; return z / z }

func TestCSVRoundTrip(t *testing.T) {
	for _, name := range []string{"epaxos2013", "aws2020", "tempo2021", "lan"} {
		m, _ := Preset(name)
		var buf bytes.Buffer
		require.NoError(t, m.WriteCSV(&buf))
		got, err := ParseCSV(&buf)
		require.NoError(t, err, name)
		if m.Sites == nil {
			assert.Equal(t, []string{"0", "1", "2", "3", "4"}, got.Sites)
			got.Sites = nil
		}
		assert.Equal(t, m, got, name)
	}
	m, _ := Preset("epaxos2013-3")
	var buf bytes.Buffer
	require.NoError(t, m.WriteCSV(&buf))
	assert.Equal(t, "site,CA,VA,EU\nCA,0,85,156\nVA,85,0,90\nEU,156,90,0\n", buf.String())
	assert.Error(t, Matrix{}.WriteCSV(&buf))
}

func TestParseCSVSpreadsheetForms(t *testing.T) {
	// Empty corner, spaces, CRLF, a comment and a blank line.
	in := "# measured 2024\r\n,A, B\r\n\r\nA, 0, 1.5\r\nB ,1.5,0\r\n"
	m, err := ParseCSV(strings.NewReader(in))
	require.NoError(t, err)
	assert.Equal(t, Matrix{Sites: []string{"A", "B"}, MS: [][]float64{{0, 1.5}, {1.5, 0}}}, m)
}

// TestParseCSVMalformed: each malformed file is refused with an error
// naming the offending line.
func TestParseCSVMalformed(t *testing.T) {
	for name, tt := range map[string]struct {
		in   string
		want string
	}{
		"empty":         {"", "empty"},
		"no sites":      {"site\n", "line 1: the header names no sites"},
		"dup site":      {"site,A,B,A\n", `line 1: site "A" named twice`},
		"blank site":    {"site,A,,C\n", "line 1: empty site name"},
		"short row":     {"site,A,B\nA,0,1\nB,1\n", "line 3: site B has 1 values for 2 sites (not square)"},
		"long row":      {"site,A,B\nA,0,1,2\nB,1,0\n", "line 2: site A has 3 values for 2 sites"},
		"missing value": {"site,A,B\nA,0,\nB,1,0\n", "line 2: missing value from A to B"},
		"non-numeric":   {"site,A,B\nA,0,1\nB,fast,0\n", `line 3: value "fast" from B to A is not a number`},
		"negative":      {"site,A,B\nA,0,-4\nB,4,0\n", "line 2: A to B: negative round trip -4 ms"},
		"infinite":      {"site,A,B\nA,0,Inf\nB,4,0\n", "line 2: A to B: +Inf is not a finite"},
		"nan":           {"site,A,B\nA,0,NaN\nB,4,0\n", "line 2: A to B: NaN"},
		"diagonal":      {"site,A,B\nA,0,4\nB,4,1\n", "line 3: B to B: 1 ms on the diagonal"},
		"wrong order":   {"site,A,B\nB,4,0\nA,0,4\n", `line 2: row for "B" where site 1 of the header, "A", belongs`},
		"missing row":   {"site,A,B,C\nA,0,1,2\nB,1,0,3\n", "2 rows for 3 sites (not square); the row for C is missing"},
		"extra row":     {"site,A\nA,0\nB,0\n", "line 3: row 2 for a matrix of 1 sites (not square)"},
		"bad quote":     {"site,A\n\"A,0\n", "line"},
		"after comment": {"# c\n\nsite,A,B\nA,0,1\nB,x,0\n", "line 5:"},
	} {
		_, err := ParseCSV(strings.NewReader(tt.in))
		require.Error(t, err, name)
		assert.ErrorIs(t, err, ErrInvalid, name)
		assert.Contains(t, err.Error(), tt.want, name)
	}
}

func TestLoad(t *testing.T) {
	m, err := Load("gcp2020")
	require.NoError(t, err)
	assert.Equal(t, "CA", m.Sites[0])

	dir := t.TempDir()
	path := filepath.Join(dir, "m.csv")
	require.NoError(t, os.WriteFile(path, []byte("site,X,Y\nX,0,7\nY,7,0\n"), 0o644))
	m, err = Load(path)
	require.NoError(t, err)
	assert.Equal(t, 7.0, m.RTT(1, 0))

	_, err = Load(filepath.Join(dir, "nope.csv"))
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "no such file")
	assert.Contains(t, err.Error(), "epaxos2013")

	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("site,X,Y\nX,0,7\n"), 0o644))
	_, err = Load(bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), bad)
	assert.ErrorIs(t, err, ErrInvalid)
}
