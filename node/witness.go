package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
)

// peersName is the file in a data directory where a replica keeps what its
// peers announced about their storage (see transport.Witness).
const peersName = "PEERS"

// peerRecord is what a replica remembers of one peer's storage.
type peerRecord struct {
	Incarnation string `json:"incarnation"`
	Run         string `json:"run"`
	Progress    uint64 `json:"progress"`
	// Tainted, when set, says why this incarnation was refused: it stays
	// refused until the peer is rebuilt (a new incarnation).
	Tainted string `json:"tainted,omitempty"`
}

// witness is Serve's transport.Witness: it announces this replica's
// storage (incarnation, the WAL's durable progress) and checks its peers'
// announcements against what it saw before, remembering them in the data
// directory's PEERS file.
//
// The rules, for an announcement from peer p:
//   - a peer never seen before is recorded;
//   - another incarnation than the one recorded is refused unless p is
//     rebuilding (its data directory was replaced: wiped and started with
//     --new, or copied from elsewhere);
//   - within one process run, progress must not decrease;
//   - a new run (a restart) must announce more progress than was last
//     seen: every start advances it, so less means the storage went back
//     (restored from an older copy, or it lost writes);
//   - an incarnation once refused for going back stays refused;
//   - a periodic announcement from a run other than the last handshake's
//     is stale (read late from an old connection) and ignored.
type witness struct {
	self       paxos.NodeID
	dir        string
	inc        string
	wal        *storage.WAL
	log        *slog.Logger
	rebuilding atomic.Bool

	mu       sync.Mutex
	known    map[paxos.NodeID]peerRecord
	saved    time.Time
	dirty    bool
	refused  chan struct{}
	refusal  error
	refuseMu sync.Once
}

// saveEvery bounds how often mere progress updates are written to PEERS.
const saveEvery = 5 * time.Second

func newWitness(self paxos.NodeID, dir, inc string, wal *storage.WAL, rebuilding bool, lg *slog.Logger) (*witness, error) {
	w := &witness{self: self, dir: dir, inc: inc, wal: wal, log: lg, known: map[paxos.NodeID]peerRecord{}, refused: make(chan struct{})}
	w.rebuilding.Store(rebuilding)
	b, err := os.ReadFile(filepath.Join(dir, peersName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("serve: read %s: %w", filepath.Join(dir, peersName), err)
	default:
		if err := json.Unmarshal(b, &w.known); err != nil {
			// What peers announced is a safety net, not state: start
			// afresh rather than refuse to run.
			lg.Warn("the record of the peers' storage is damaged; starting it afresh", "file", filepath.Join(dir, peersName), "err", err)
			w.known = map[paxos.NodeID]peerRecord{}
		}
	}
	return w, nil
}

// Self implements transport.Witness.
func (w *witness) Self() transport.WitnessInfo {
	pos, err := w.wal.DurableProgress()
	if err != nil && !errors.Is(err, storage.ErrClosed) {
		w.log.Warn("cannot make the WAL's progress durable; announcing the last durable value", "err", err)
	}
	return transport.WitnessInfo{Incarnation: w.inc, Progress: pos, Rebuilding: w.rebuilding.Load()}
}

// Check implements transport.Witness.
func (w *witness) Check(from paxos.NodeID, info transport.WitnessInfo, reconnect bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	k, seen := w.known[from]
	taint := func(reason string) error {
		k.Tainted = reason
		w.known[from] = k
		w.saveLocked()
		w.log.Error("a peer's storage went backwards; refusing it until it is rebuilt", "peer", from, "reason", reason)
		return errors.New(reason)
	}
	if reconnect && seen && (info.Run != k.Run || info.Incarnation != k.Incarnation) {
		// A late announcement on a connection of an earlier run, read
		// after the new run's handshake: stale, not evidence.
		return nil
	}
	switch {
	case !seen:
		w.known[from] = peerRecord{Incarnation: info.Incarnation, Run: info.Run, Progress: info.Progress}
		w.saveLocked()
		return nil
	case info.Incarnation != k.Incarnation:
		if !info.Rebuilding {
			return fmt.Errorf("replica %d announces storage incarnation %s, but replica %d knew it as incarnation %s: its data directory was replaced (wiped and started with --new?) and it must not vote; start it with --rebuild",
				from, info.Incarnation, w.self, k.Incarnation)
		}
		w.log.Warn("a peer is rebuilding on new storage", "peer", from, "incarnation", info.Incarnation, "was", k.Incarnation)
		w.known[from] = peerRecord{Incarnation: info.Incarnation, Run: info.Run, Progress: info.Progress}
		w.saveLocked()
		return nil
	case k.Tainted != "":
		return fmt.Errorf("replica %d's storage (incarnation %s) went backwards earlier (%s); start it with --rebuild", from, k.Incarnation, k.Tainted)
	case info.Run == k.Run:
		if info.Progress < k.Progress {
			return taint(fmt.Sprintf("replica %d's durable progress went from %d back to %d within one run", from, k.Progress, info.Progress))
		}
		if info.Progress > k.Progress {
			k.Progress = info.Progress
			w.known[from] = k
			w.dirty = true
			if time.Since(w.saved) >= saveEvery {
				w.saveLocked()
			}
		}
		return nil
	default:
		if info.Progress <= k.Progress {
			return taint(fmt.Sprintf("replica %d restarted announcing durable progress %d, but it had already reached %d: its data directory was restored from an older copy or lost writes, and it must not vote; start it with --rebuild",
				from, info.Progress, k.Progress))
		}
		k.Run, k.Progress = info.Run, info.Progress
		w.known[from] = k
		w.saveLocked()
		return nil
	}
}

// Refused implements transport.Witness: a peer refused this replica's
// storage. The replica stops, and its identity file records why so that it
// is refused at once on the next start.
func (w *witness) Refused(peer paxos.NodeID, reason string) {
	w.refuseMu.Do(func() {
		w.refusal = fmt.Errorf("%w: replica %d refused this replica's storage: %s", ErrStorageLost, peer, reason)
		w.log.Error("a peer refused this replica's storage; stopping", "peer", peer, "reason", reason)
		if id, err := storage.ReadIdentity(w.dir); err == nil && id != nil {
			id.Refused = fmt.Sprintf("replica %d: %s", peer, reason)
			if err := storage.WriteIdentity(w.dir, *id); err != nil {
				w.log.Error("cannot record the refusal in the identity file", "err", err)
			}
		}
		close(w.refused)
	})
}

// save writes PEERS if anything changed since the last write.
func (w *witness) save() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dirty {
		w.saveLocked()
	}
}

func (w *witness) saveLocked() {
	b, err := json.MarshalIndent(w.known, "", "  ")
	if err == nil {
		tmp := filepath.Join(w.dir, peersName+".tmp")
		if err = os.WriteFile(tmp, b, 0o644); err == nil {
			var f *os.File
			if f, err = os.Open(tmp); err == nil {
				err = f.Sync()
				f.Close()
			}
			if err == nil {
				err = os.Rename(tmp, filepath.Join(w.dir, peersName))
			}
		}
	}
	if err != nil {
		w.log.Warn("cannot record the peers' storage announcements", "err", err)
		return
	}
	w.saved, w.dirty = time.Now(), false
}
