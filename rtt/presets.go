package rtt

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// LANms is the round trip of the "lan" preset: 0.2 ms, a typical ping
// between two machines on one switched data-centre network.
const LANms = 0.2

// LANSites is the number of sites of the plain "lan" preset; "lan:N" gives N.
const LANSites = 5

// The presets, round trips in milliseconds. Each entry cites the paper
// its numbers come from and says which cells are inferred.
var presets = map[string]Matrix{
	// EC2, 2013: Moraru, Andersen, Kaminsky, "There Is More Consensus in
	// Egalitarian Parliaments", SOSP 2013, Fig. 4. Printed there: CA–VA 85,
	// VA–EU 90, CA–EU 156, CA–OR 21, OR–JP 127, CA–JP 118, JP–EU 278.
	// INFERRED, not printed (derived from the paper's published medians):
	// VA–OR 80, OR–EU 150, VA–JP 160.
	"epaxos2013": {
		Sites: []string{"VA", "CA", "OR", "JP", "EU"},
		MS: [][]float64{
			//  VA   CA   OR   JP   EU
			{0, 85, 80 /*inferred*/, 160 /*inferred*/, 90},
			{85, 0, 21, 118, 156},
			{80 /*inferred*/, 21, 0, 127, 150 /*inferred*/},
			{160 /*inferred*/, 118, 127, 0, 278},
			{90, 156, 150 /*inferred*/, 278, 0},
		},
	},
	// The 3-site setup of the same paper (SOSP 2013, Fig. 4): CA, VA, EU,
	// all three values printed.
	"epaxos2013-3": {
		Sites: []string{"CA", "VA", "EU"},
		MS: [][]float64{
			{0, 85, 156},
			{85, 0, 90},
			{156, 90, 0},
		},
	},
	// AWS pings of 2020-06-05, from the planet data of the fantoch project
	// (Vitor Enes et al., github.com/vitorenesduarte/fantoch, MIT/Apache-2.0):
	// us-east-1 (VA), us-west-1 (CA), us-west-2 (OR), eu-west-1 (EU),
	// ap-northeast-1 (JP).
	"aws2020": {
		Sites: []string{"VA", "CA", "OR", "EU", "JP"},
		MS: [][]float64{
			{0, 59.9, 72.5, 70.5, 152.4},
			{59.9, 0, 21.1, 141.2, 111.7},
			{72.5, 21.1, 0, 127.3, 100.9},
			{70.5, 141.2, 127.3, 0, 204.4},
			{152.4, 111.7, 100.9, 204.4, 0},
		},
	},
	// The five Google Cloud zones of "EPaxos Revisited" (Tollman, Park,
	// Ousterhout, NSDI 2021): us-west2 (CA), us-east4 (VA), europe-west2
	// (EU), us-west1 (OR), asia-northeast1 (JP).
	"gcp2020": {
		Sites: []string{"CA", "VA", "EU", "OR", "JP"},
		MS: [][]float64{
			{0, 60.2, 128.8, 25.0, 98.2},
			{60.2, 0, 75.5, 62.0, 146.4},
			{128.8, 75.5, 0, 126.0, 214.7},
			{25.0, 62.0, 126.0, 0, 88.3},
			{98.2, 146.4, 214.7, 88.3, 0},
		},
	},
	// AWS pings of 2021-02-13 between the five regions of Tempo (Enes,
	// Baquero, Gotsman, Sutra, "Efficient Replication via Timestamp
	// Stability", EuroSys 2021), from the fantoch planet data
	// (MIT/Apache-2.0): EU, US, AP, CA, SA.
	"tempo2021": {
		Sites: []string{"EU", "US", "AP", "CA", "SA"},
		MS: [][]float64{
			{0, 135.9, 175.7, 72.2, 180.6},
			{135.9, 0, 173.0, 78.6, 173.2},
			{175.7, 173.0, 0, 206.0, 321.1},
			{72.2, 78.6, 206.0, 0, 124.3},
			{180.6, 173.2, 321.1, 124.3, 0},
		},
	},
}

// PresetNames returns the names Preset accepts, sorted. "lan" also takes a
// size suffix, "lan:N".
func PresetNames() []string {
	names := []string{"lan"}
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Preset returns a fresh copy of a named matrix:
//
//	epaxos2013     EC2 2013, VA CA OR JP EU (EPaxos SOSP 2013 Fig. 4; three
//	               values inferred, see the source)
//	epaxos2013-3   EC2 2013, CA VA EU
//	aws2020        AWS 2020-06-05, VA CA OR EU JP (fantoch planet data)
//	gcp2020        Google Cloud, CA VA EU OR JP (EPaxos Revisited, NSDI 2021)
//	tempo2021      AWS 2021-02-13, EU US AP CA SA (Tempo, EuroSys 2021)
//	lan            5 unnamed sites, LANms (0.2 ms) between any two
//	lan:N          the same with N sites
//
// An unknown name gives an error listing the known ones.
func Preset(name string) (Matrix, error) {
	if m, ok := presets[name]; ok {
		return m.Clone(), nil
	}
	if name == "lan" {
		return Uniform(LANSites, LANms)
	}
	if rest, ok := strings.CutPrefix(name, "lan:"); ok {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 {
			return Matrix{}, fmt.Errorf("rtt: preset %q: %w: want lan:N with N a positive number of sites", name, ErrInvalid)
		}
		return Uniform(n, LANms)
	}
	return Matrix{}, fmt.Errorf("rtt: unknown preset %q: %w; known presets: %s (or lan:N)", name, ErrInvalid, strings.Join(PresetNames(), ", "))
}

func isPreset(name string) bool {
	_, ok := presets[name]
	return ok || name == "lan" || strings.HasPrefix(name, "lan:")
}
