package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/paxos-lab/paxos"
)

// Workload generates the commands a client submits. The simulator's client
// fills in Client and Seq; a workload chooses Op, Key and Value. It has the
// same method set as the simulator's workload interface, so any Workload can
// be handed to a simulated client.
type Workload interface {
	Next(rng *rand.Rand) paxos.Command
}

// HotKey is the key shared by every conflicting command of a Conflict
// workload.
const HotKey = "hot"

// Conflict is the EPaxos-style workload: with probability Pct/100 a command
// uses the shared key HotKey, otherwise a key unique to the request (so it
// interferes with nothing). Reads are Gets with probability ReadPct/100;
// the rest are Puts carrying a Value of Payload bytes.
//
// Unique keys are Prefix followed by a per-workload counter, so give every
// client its own Prefix (NewConflict does) or share one Conflict value
// between clients of one simulation.
type Conflict struct {
	Pct     float64 // conflict percentage, 0..100
	ReadPct float64 // read percentage, 0..100
	Payload int     // bytes in each Put's value
	Prefix  string  // prefix of the request-unique keys

	n     uint64
	value string
}

// NewConflict returns a Conflict workload whose unique keys start with
// prefix. It rejects percentages outside 0..100 and a negative payload.
func NewConflict(pct, readPct float64, payload int, prefix string) (*Conflict, error) {
	if err := checkCommon(readPct, payload); err != nil {
		return nil, err
	}
	if err := CheckPercent(pct); err != nil {
		return nil, fmt.Errorf("bench: conflict: %w", err)
	}
	return &Conflict{Pct: pct, ReadPct: readPct, Payload: payload, Prefix: prefix}, nil
}

// Next implements Workload.
func (w *Conflict) Next(rng *rand.Rand) paxos.Command {
	var key string
	if w.Pct > 0 && rng.Float64()*100 < w.Pct {
		key = HotKey
	} else {
		w.n++
		key = w.Prefix + "u" + strconv.FormatUint(w.n, 10)
	}
	return makeCommand(rng, key, w.ReadPct, w.Payload, &w.value)
}

// Zipf is a workload whose keys follow a bounded zipf(Theta) distribution
// over K keys "k0".."k{K-1}": key k is chosen with probability proportional
// to 1/(k+1)^Theta. Reads and payloads are as for Conflict.
type Zipf struct {
	ReadPct float64
	Payload int
	gen     *ZipfGen

	value string
}

// NewZipf returns a zipf workload over k keys with exponent theta (> 0).
func NewZipf(theta float64, k int, readPct float64, payload int) (*Zipf, error) {
	if err := checkCommon(readPct, payload); err != nil {
		return nil, err
	}
	g, err := NewZipfGen(theta, k)
	if err != nil {
		return nil, err
	}
	return &Zipf{ReadPct: readPct, Payload: payload, gen: g}, nil
}

// Next implements Workload.
func (w *Zipf) Next(rng *rand.Rand) paxos.Command {
	key := "k" + strconv.Itoa(w.gen.Next(rng))
	return makeCommand(rng, key, w.ReadPct, w.Payload, &w.value)
}

func checkCommon(readPct float64, payload int) error {
	if err := CheckPercent(readPct); err != nil {
		return fmt.Errorf("bench: reads: %w", err)
	}
	if payload < 0 {
		return fmt.Errorf("bench: payload %d bytes is negative", payload)
	}
	return nil
}

// makeCommand draws read-or-write and fills the payload. The payload bytes
// are the same for every Put of a workload (their content does not matter to
// any protocol; only their size does), so the value string is built once.
func makeCommand(rng *rand.Rand, key string, readPct float64, payload int, value *string) paxos.Command {
	if readPct > 0 && rng.Float64()*100 < readPct {
		return paxos.Command{Op: paxos.OpGet, Key: key}
	}
	if len(*value) != payload {
		*value = strings.Repeat("x", payload)
	}
	return paxos.Command{Op: paxos.OpPut, Key: key, Value: *value}
}

// ZipfGen draws ranks 0..K-1 from a bounded zipf distribution:
// P(rank = r) = (r+1)^-Theta / H(K, Theta), for any Theta > 0 (math/rand's
// Zipf needs an exponent above 1, which excludes the 0.7–0.99 of EPaxos
// Revisited).
//
// It samples exactly, in O(1) time and memory per draw, by the
// rejection-inversion method of Hörmann and Derflinger ("Rejection-inversion
// to generate variates from monotone discrete distributions", ACM TOMACS
// 1996): invert the integral of the hat x^-Theta over [1.5-1, K+0.5], round
// to the nearest integer and accept with a cheap squeeze test, so K can be
// a million keys without a table.
type ZipfGen struct {
	theta, k   float64
	hx1, hn, s float64
	n          int
}

// NewZipfGen returns a generator over k ranks with exponent theta.
func NewZipfGen(theta float64, k int) (*ZipfGen, error) {
	if !(theta > 0) || math.IsInf(theta, 0) {
		return nil, fmt.Errorf("bench: zipf exponent %v must be positive", theta)
	}
	if k < 1 {
		return nil, fmt.Errorf("bench: zipf needs at least 1 key, got %d", k)
	}
	g := &ZipfGen{theta: theta, k: float64(k), n: k}
	g.hx1 = g.bigH(1.5) - 1
	g.hn = g.bigH(g.k + 0.5)
	g.s = 2 - g.bigHInv(g.bigH(2.5)-g.h(2))
	return g, nil
}

// h is the unnormalised probability of rank x (1-based): x^-theta.
func (g *ZipfGen) h(x float64) float64 { return math.Exp(-g.theta * math.Log(x)) }

// bigH is an antiderivative of h: (x^(1-theta) - 1)/(1-theta), written
// with expm1 so it stays accurate (and tends to log x) as theta → 1.
func (g *ZipfGen) bigH(x float64) float64 {
	lx := math.Log(x)
	return expm1Over((1-g.theta)*lx) * lx
}

// bigHInv inverts bigH.
func (g *ZipfGen) bigHInv(y float64) float64 {
	t := (1 - g.theta) * y
	if t < -1 {
		t = -1 // numerical guard: bigH's range ends at -1/(1-theta)
	}
	return math.Exp(log1pOver(t) * y)
}

// expm1Over returns (e^x - 1)/x, and 1 at x = 0.
func expm1Over(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Expm1(x) / x
	}
	return 1 + x/2 + x*x/6
}

// log1pOver returns log(1+x)/x, and 1 at x = 0.
func log1pOver(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Log1p(x) / x
	}
	return 1 - x/2 + x*x/3
}

// Next returns a rank in 0..K-1; rank 0 is the most popular.
func (g *ZipfGen) Next(rng *rand.Rand) int {
	for {
		u := g.hn + rng.Float64()*(g.hx1-g.hn)
		x := g.bigHInv(u)
		k := math.Floor(x + 0.5)
		if k < 1 {
			k = 1
		} else if k > g.k {
			k = g.k
		}
		if k-x <= g.s || u >= g.bigH(k+0.5)-g.h(k) {
			return int(k) - 1
		}
	}
}

// Prob returns the exact probability of rank r (0-based), for tests and
// reports. It costs O(K).
func (g *ZipfGen) Prob(r int) float64 {
	if r < 0 || r >= g.n {
		return 0
	}
	var z float64
	for i := g.n; i >= 1; i-- { // smallest terms first for accuracy
		z += g.h(float64(i))
	}
	return g.h(float64(r+1)) / z
}

// KeySpec chooses how a run picks keys: the EPaxos conflict model or zipf.
type KeySpec struct {
	// Kind is "conflict" or "zipf".
	Kind string `json:"kind"`
	// Theta is the zipf exponent (zipf only).
	Theta float64 `json:"theta,omitempty"`
	// Keys is the zipf key count (zipf only; default 1,000,000 as in EPaxos
	// Revisited).
	Keys int `json:"keys,omitempty"`
}

// DefaultZipfKeys is the key-space size of zipf workloads unless given.
const DefaultZipfKeys = 1_000_000

// ParseKeySpec parses "conflict", "zipf:THETA" or "zipf:THETA:KEYS".
func ParseKeySpec(s string) (KeySpec, error) {
	parts := strings.Split(s, ":")
	switch parts[0] {
	case "conflict":
		if len(parts) != 1 {
			return KeySpec{}, fmt.Errorf("key mode %q: conflict takes no parameters (use --conflict for the percentage)", s)
		}
		return KeySpec{Kind: "conflict"}, nil
	case "zipf":
		if len(parts) < 2 || len(parts) > 3 {
			return KeySpec{}, fmt.Errorf("key mode %q: want zipf:THETA or zipf:THETA:KEYS, e.g. zipf:0.9", s)
		}
		th, err := strconv.ParseFloat(parts[1], 64)
		if err != nil || !(th > 0) || math.IsInf(th, 0) {
			return KeySpec{}, fmt.Errorf("key mode %q: zipf exponent must be a positive number", s)
		}
		ks := KeySpec{Kind: "zipf", Theta: th, Keys: DefaultZipfKeys}
		if len(parts) == 3 {
			k, err := strconv.Atoi(parts[2])
			if err != nil || k < 1 {
				return KeySpec{}, fmt.Errorf("key mode %q: key count must be a positive integer", s)
			}
			ks.Keys = k
		}
		return ks, nil
	}
	return KeySpec{}, fmt.Errorf("key mode %q: want conflict or zipf:THETA", s)
}

// String formats the spec as ParseKeySpec accepts it.
func (k KeySpec) String() string {
	if k.Kind == "zipf" {
		return fmt.Sprintf("zipf:%g:%d", k.Theta, k.Keys)
	}
	return "conflict"
}
