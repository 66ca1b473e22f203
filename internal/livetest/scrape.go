package livetest

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metrics are the samples of one scrape of a Prometheus /metrics page in
// text format, keyed by series as exposed (name{label="value",...}).
type Metrics map[string]float64

// Scrape fetches url and parses its samples.
func Scrape(url string) (Metrics, error) {
	cl := http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	out := Metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("scrape %s: malformed line %q", url, line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("scrape %s: line %q: %w", url, line, err)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// Sum adds the samples of the series named name whose labels include
// every one of labels (each written `key="value"`), and says whether any
// matched.
func (m Metrics) Sum(name string, labels ...string) (float64, bool) {
	sum, found := 0.0, false
	for series, v := range m {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains("{"+rest, "{"+l) && !strings.Contains(rest, ","+l) {
				ok = false
				break
			}
		}
		if ok {
			sum, found = sum+v, true
		}
	}
	return sum, found
}
