package rtt

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// ParseCSV reads a matrix as spreadsheets write it:
//
//	site,CA,VA,EU
//	CA,0,85,156
//	VA,85,0,90
//	EU,156,90,0
//
// The first line is a corner cell (empty or any word) and the N site names;
// then one line per site, in the same order: its name and its N round trips
// in milliseconds. Spaces around cells are ignored; blank lines and lines
// starting with '#' are skipped.
//
// It refuses, with an error naming the line: a header without sites, an
// empty or repeated site name, a line with the wrong number of values (the
// matrix is not square), a row whose name is not the site of that position,
// a missing, non-numeric, non-finite or negative value, a non-zero value on
// the diagonal (a replica reaches itself locally; model client-to-replica
// delay elsewhere), fewer or more rows than sites. Asymmetric matrices are
// accepted: the one-way delay from i to j is then half of row i's value.
// Errors wrap ErrInvalid.
func ParseCSV(r io.Reader) (Matrix, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	line := func() int { l, _ := cr.FieldPos(0); return l }

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return Matrix{}, fmt.Errorf("rtt: %w: the file is empty; want a header line of site names", ErrInvalid)
	}
	if err != nil {
		return Matrix{}, fmt.Errorf("rtt: %w: %v", ErrInvalid, err)
	}
	hl := line()
	sites := make([]string, 0, len(header))
	seen := map[string]bool{}
	for _, s := range header[1:] {
		s = strings.TrimSpace(s)
		if s == "" {
			return Matrix{}, fmt.Errorf("rtt: %w: line %d: empty site name in the header", ErrInvalid, hl)
		}
		if seen[s] {
			return Matrix{}, fmt.Errorf("rtt: %w: line %d: site %q named twice", ErrInvalid, hl, s)
		}
		seen[s] = true
		sites = append(sites, s)
	}
	n := len(sites)
	if n == 0 {
		return Matrix{}, fmt.Errorf("rtt: %w: line %d: the header names no sites; want e.g. site,CA,VA,EU", ErrInvalid, hl)
	}
	m := Matrix{Sites: sites, MS: make([][]float64, 0, n)}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Matrix{}, fmt.Errorf("rtt: %w: %v", ErrInvalid, err)
		}
		l, i := line(), len(m.MS)
		if i == n {
			return Matrix{}, fmt.Errorf("rtt: %w: line %d: row %d for a matrix of %d sites (not square)", ErrInvalid, l, i+1, n)
		}
		name := strings.TrimSpace(rec[0])
		if name != sites[i] {
			return Matrix{}, fmt.Errorf("rtt: %w: line %d: row for %q where site %d of the header, %q, belongs (rows must follow the header's order)", ErrInvalid, l, name, i+1, sites[i])
		}
		if len(rec)-1 != n {
			return Matrix{}, fmt.Errorf("rtt: %w: line %d: site %s has %d values for %d sites (not square)", ErrInvalid, l, name, len(rec)-1, n)
		}
		row := make([]float64, n)
		for j, cell := range rec[1:] {
			cell = strings.TrimSpace(cell)
			if cell == "" {
				return Matrix{}, fmt.Errorf("rtt: %w: line %d: missing value from %s to %s", ErrInvalid, l, name, sites[j])
			}
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil {
				return Matrix{}, fmt.Errorf("rtt: %w: line %d: value %q from %s to %s is not a number of milliseconds", ErrInvalid, l, cell, name, sites[j])
			}
			if err := checkValue(v, i == j); err != nil {
				return Matrix{}, fmt.Errorf("rtt: %w: line %d: %s to %s: %v", ErrInvalid, l, name, sites[j], err)
			}
			row[j] = v
		}
		m.MS = append(m.MS, row)
	}
	if len(m.MS) < n {
		return Matrix{}, fmt.Errorf("rtt: %w: at end of input: %d rows for %d sites (not square); the row for %s is missing",
			ErrInvalid, len(m.MS), n, sites[len(m.MS)])
	}
	return m, nil
}

// WriteCSV writes m in the format ParseCSV reads, with "site" in the corner
// and Name(i) for each site. Values are written exactly (shortest form that
// parses back to the same float64).
func (m Matrix) WriteCSV(w io.Writer) error {
	if err := m.Validate(); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	rec := []string{"site"}
	for i := 0; i < m.N(); i++ {
		rec = append(rec, m.Name(i))
	}
	if err := cw.Write(rec); err != nil {
		return fmt.Errorf("rtt: write csv: %w", err)
	}
	for i, row := range m.MS {
		rec = append(rec[:0], m.Name(i))
		for _, v := range row {
			rec = append(rec, strconv.FormatFloat(v, 'g', -1, 64))
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("rtt: write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("rtt: write csv: %w", err)
	}
	return nil
}

// Load returns the preset of that name (see Preset) or, if there is none,
// the matrix in the CSV file at that path (see ParseCSV). A path that does
// not exist gives an error saying so and listing the presets.
func Load(pathOrPreset string) (Matrix, error) {
	if isPreset(pathOrPreset) {
		return Preset(pathOrPreset)
	}
	f, err := os.Open(pathOrPreset)
	if errors.Is(err, fs.ErrNotExist) {
		return Matrix{}, fmt.Errorf("rtt: %q is not a preset (%s, lan:N) and no such file exists: %w",
			pathOrPreset, strings.Join(PresetNames(), ", "), err)
	}
	if err != nil {
		return Matrix{}, fmt.Errorf("rtt: open RTT matrix file: %w", err)
	}
	defer f.Close()
	m, err := ParseCSV(f)
	if err != nil {
		return Matrix{}, fmt.Errorf("%s: %w", pathOrPreset, err)
	}
	return m, nil
}
