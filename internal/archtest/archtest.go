// Package archtest states the module's dependency rule and checks a list of
// packages against it. Its test runs the check on the module itself, so the
// rule holds by construction rather than by review:
//
//   - A protocol package (one that github.com/paxos-lab/paxos/protocols
//     imports, so a new protocol is covered as soon as it registers) imports
//     only the contract (the module root), quorum, kv, internal/planted
//     (the building blocks of planted bugs), internal/readypool (reuse of
//     a Ready's lists), internal/msgpackappend (msgpack appended by
//     hand for snapshots), internal/nackcap (the cap on Nacks per peer
//     and tick), internal/idtable (a table keyed by command ids), another protocol
//     package (flexible runs on multi's engine), the standard-library
//     packages in PureStd, the wire-format library (WireFormat) and the
//     external packages ProtocolExtra lists for it. No clock, lock, file, socket or global random generator: a replica
//     is a pure state machine. Its source starts no goroutine and draws only
//     from a seeded *rand.Rand.
//   - quorum, kv, internal/planted, internal/readypool,
//     internal/msgpackappend, internal/nackcap and internal/idtable, which
//     protocols build on, obey the same rule.
//   - No other package of the module imports a protocol package; only
//     commands (under cmd/) import the protocols package that registers
//     them all. Drivers reach protocols through paxos.Replica and the
//     registry.
//
// Only the production imports count: tests may build replicas directly.
package archtest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Package is what the rule needs of one package: the fields of the same
// names in `go list -json`.
type Package struct {
	ImportPath string
	Dir        string
	Name       string
	GoFiles    []string
	Imports    []string
}

// PureStd is the standard library a protocol package may import. A package
// is left out when a replica must not use it (time, sync, os, net, io,
// math/rand, reflect, unsafe, ...) or simply has not been needed yet; add
// one here only with a reason a deterministic state machine needs it.
var PureStd = map[string]bool{
	"bytes": true, "cmp": true, "container/heap": true, "container/list": true,
	"encoding/binary": true, "errors": true, "fmt": true, "hash/fnv": true,
	// kv's tables: seeded once per process, as Go's maps seed their own
	// hash, so that clients cannot choose keys that collide; what a store
	// holds never depends on it, only the order Range visits keys, which
	// (as with a map's iteration order) no replica relies on.
	"hash/maphash": true,
	"iter":         true, "maps": true, "math": true, "math/bits": true,
	"math/rand/v2": true, // only a seeded *rand.Rand; see SeededRand
	"slices":       true, "sort": true, "strconv": true, "strings": true,
	"unicode": true, "unicode/utf8": true,
}

// ProtocolExtra lists, by the last element of a protocol's import path, the
// import-path prefixes outside the module it may use as well: etcd's raft
// and the protobuf runtime its messages are made of.
var ProtocolExtra = map[string][]string{
	"raft": {"go.etcd.io/raft/v3", "google.golang.org/protobuf"},
}

// WireFormat is the codec library every protocol (and kv) may import: the
// msgpack encoder and decoder its hand-written encoders (EncodeMsgpack,
// DecodeMsgpack on the hot message types and on kv's snapshots) write to. It is pure: it encodes
// into and decodes from the buffers it is given.
const WireFormat = "github.com/vmihailenco/msgpack/v5"

// SeededRand is what a protocol may name in math/rand/v2: the constructors
// and types of a generator it seeds itself. The top-level functions
// (rand.IntN, rand.Uint64, ...) draw from a global, unseeded source.
var SeededRand = map[string]bool{
	"New": true, "NewPCG": true, "NewChaCha8": true, "NewZipf": true,
	"Rand": true, "Source": true, "PCG": true, "ChaCha8": true, "Zipf": true,
}

// Violation is one broken rule.
type Violation struct {
	Package string
	Problem string
}

func (v Violation) String() string { return v.Package + ": " + v.Problem }

// Protocols returns the protocol packages: the module packages that the
// registration package module+"/protocols" imports.
func Protocols(module string, pkgs []Package) ([]string, error) {
	reg := module + "/protocols"
	for _, p := range pkgs {
		if p.ImportPath != reg {
			continue
		}
		var out []string
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") {
				out = append(out, imp)
			}
		}
		sort.Strings(out)
		return out, nil
	}
	return nil, fmt.Errorf("archtest: no package %s among the %d listed; the protocol packages are discovered from its imports", reg, len(pkgs))
}

// Check returns every violation of the rule among pkgs, the packages of the
// module named module. It reads the Go files of protocol packages from disk
// to find goroutines and global random draws.
func Check(module string, pkgs []Package) ([]Violation, error) {
	protos, err := Protocols(module, pkgs)
	if err != nil {
		return nil, err
	}
	isProto := map[string]bool{}
	for _, p := range protos {
		isProto[p] = true
	}
	pure := map[string]bool{module + "/quorum": true, module + "/kv": true, module + "/internal/planted": true, module + "/internal/readypool": true, module + "/internal/msgpackappend": true, module + "/internal/nackcap": true, module + "/internal/idtable": true}
	reg := module + "/protocols"

	var vs []Violation
	bad := func(pkg, format string, args ...any) {
		vs = append(vs, Violation{Package: pkg, Problem: fmt.Sprintf(format, args...)})
	}
	for _, p := range pkgs {
		switch {
		case isProto[p.ImportPath] || pure[p.ImportPath]:
			var extra []string
			if isProto[p.ImportPath] {
				extra = ProtocolExtra[lastElem(p.ImportPath)]
			}
			for _, imp := range p.Imports {
				if !allowedPure(module, imp, isProto, pure, extra) {
					bad(p.ImportPath, "imports %s; a protocol (and quorum, kv, internal/planted, internal/readypool, internal/msgpackappend, internal/nackcap, internal/idtable) may import only the contract, quorum, kv, internal/planted, internal/readypool, internal/msgpackappend, internal/nackcap, internal/idtable, other protocols, the standard packages in archtest.PureStd and archtest.WireFormat", imp)
				}
			}
			fv, err := checkSource(p)
			if err != nil {
				return nil, err
			}
			vs = append(vs, fv...)
		case p.ImportPath == reg:
			// The registration package imports every protocol.
		default:
			underCmd := strings.HasPrefix(p.ImportPath, module+"/cmd/")
			for _, imp := range p.Imports {
				if isProto[imp] {
					bad(p.ImportPath, "imports the protocol package %s; a driver reaches protocols through paxos.Replica and the registry (paxos.New)", imp)
				}
				if imp == reg && !underCmd {
					bad(p.ImportPath, "imports %s; only commands (cmd/...) register the protocols, a library leaves that to its user", imp)
				}
			}
		}
	}
	return vs, nil
}

func allowedPure(module, imp string, isProto, pure map[string]bool, extra []string) bool {
	if imp == module || pure[imp] || isProto[imp] || PureStd[imp] || imp == WireFormat {
		return true
	}
	for _, e := range extra {
		if imp == e || strings.HasPrefix(imp, e+"/") {
			return true
		}
	}
	return false
}

// checkSource finds go statements and draws from math/rand/v2's global
// generator in the package's Go files.
func checkSource(p Package) ([]Violation, error) {
	var vs []Violation
	fset := token.NewFileSet()
	for _, name := range p.GoFiles {
		path := filepath.Join(p.Dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("archtest: %w", err)
		}
		randName := ""
		for _, spec := range f.Imports {
			if path, _ := strconv.Unquote(spec.Path.Value); path == "math/rand/v2" {
				randName = "rand"
				if spec.Name != nil {
					randName = spec.Name.Name
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				vs = append(vs, Violation{p.ImportPath, fmt.Sprintf("%s: starts a goroutine; a replica is driven by Propose, Step and Tick", fset.Position(n.Pos()))})
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok && randName != "" && id.Name == randName && !SeededRand[n.Sel.Name] {
					vs = append(vs, Violation{p.ImportPath, fmt.Sprintf("%s: %s.%s draws from the global generator; use a *rand.Rand seeded from the configuration", fset.Position(n.Pos()), id.Name, n.Sel.Name)})
				}
			}
			return true
		})
	}
	return vs, nil
}

func lastElem(path string) string {
	if i := strings.LastIndex(path, "/"); i >= 0 {
		return path[i+1:]
	}
	return path
}
