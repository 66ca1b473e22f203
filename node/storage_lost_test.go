package node_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/client"
	"github.com/paxos-lab/paxos/internal/longtest"
	"github.com/paxos-lab/paxos/node"
	"github.com/paxos-lab/paxos/storage"
	"github.com/paxos-lab/paxos/transport"
)

// copyDir copies the regular files of src into a new directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.MkdirAll(dst, 0o755))
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644))
	}
	return dst
}

func walFile(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	require.NoError(t, err)
	require.Len(t, m, 1)
	return m[0]
}

// frameEnds returns the offsets at which the log's records end.
func frameEnds(data []byte) []int {
	var ends []int
	for off := 0; off+12 <= len(data); {
		off += 12 + int(binary.LittleEndian.Uint32(data[off:]))
		ends = append(ends, off)
	}
	return ends
}

// TestServeRefusesLostStorage damages copies of a replica's data directory
// the ways an operator's disk goes backwards, and checks that Serve refuses
// each (pointing to --rebuild) without deleting anything, that a second
// process cannot open a directory in use, and that --rebuild starts the
// replica as a rebuilding member with the old state kept aside.
func TestServeRefusesLostStorage(t *testing.T) {
	protocols := paxos.Protocols()
	if !longtest.Enabled() {
		protocols = []string{"multi", "epaxos", "raft"}
	}
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			c := startTCPCluster(t, protocol, 3, node.Options{SnapshotEvery: 10}, true)
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			cl := newClient(t, c.cluster, client.Options{AttemptTimeout: 2 * time.Second})
			defer cl.Close()
			for i := 0; i < 23; i++ {
				require.NoError(t, cl.Put(ctx, fmt.Sprint("k", i), strings.Repeat("v", 50)))
			}

			// A second process (here a second Serve) on a directory in use.
			_, err := node.Serve(node.ServeConfig{Cluster: c.cluster, ID: 0, DataDir: c.dirs[0], PeerListener: listen(t), ClientListener: listen(t), Logger: quiet()})
			require.Error(t, err)
			assert.ErrorIs(t, err, storage.ErrLocked)
			assert.Contains(t, err.Error(), "is in use by another process")

			c.stop()
			serve := func(dir string, cfg node.ServeConfig) (*node.Server, error) {
				cfg.Cluster, cfg.ID, cfg.DataDir, cfg.NoSync = c.cluster, 0, dir, true
				cfg.PeerListener, cfg.ClientListener = listen(t), listen(t)
				if cfg.Logger == nil {
					cfg.Logger = quiet()
				}
				s, err := node.Serve(cfg)
				if err != nil {
					cfg.PeerListener.Close()
					cfg.ClientListener.Close()
				}
				return s, err
			}
			// The undamaged copy starts.
			s, err := serve(copyDir(t, c.dirs[0]), node.ServeConfig{})
			require.NoError(t, err)
			require.NoError(t, s.Stop(ctx))

			damage := map[string]func(dir string){
				"wiped": func(dir string) {
					require.NoError(t, os.RemoveAll(dir))
					require.NoError(t, os.Mkdir(dir, 0o755))
				},
				"directory removed": func(dir string) { require.NoError(t, os.RemoveAll(dir)) },
				"identity removed": func(dir string) {
					require.NoError(t, os.Remove(filepath.Join(dir, storage.IdentityName)))
				},
				"WAL files removed": func(dir string) {
					entries, err := os.ReadDir(dir)
					require.NoError(t, err)
					for _, e := range entries {
						if e.Name() != storage.IdentityName {
							require.NoError(t, os.Remove(filepath.Join(dir, e.Name())))
						}
					}
				},
				"WAL cut in half": func(dir string) {
					path := walFile(t, dir)
					data, err := os.ReadFile(path)
					require.NoError(t, err)
					require.NoError(t, os.WriteFile(path, data[:len(data)/2], 0o644))
				},
				"WAL cut at a record boundary": func(dir string) {
					path := walFile(t, dir)
					data, err := os.ReadFile(path)
					require.NoError(t, err)
					ends := frameEnds(data)
					require.GreaterOrEqual(t, len(ends), 2)
					require.NoError(t, os.WriteFile(path, data[:ends[len(ends)-2]], 0o644))
				},
				"final record damaged": func(dir string) {
					path := walFile(t, dir)
					data, err := os.ReadFile(path)
					require.NoError(t, err)
					data[len(data)-1] ^= 0x40
					require.NoError(t, os.WriteFile(path, data, 0o644))
				},
			}
			if _, err := os.Stat(filepath.Join(c.dirs[0], "snapshot")); err == nil {
				damage["snapshot removed"] = func(dir string) {
					require.NoError(t, os.Remove(filepath.Join(dir, "snapshot")))
				}
			}
			t.Logf("damage cases: %d", len(damage))
			for what, f := range damage {
				dir := copyDir(t, c.dirs[0])
				f(dir)
				before := listFiles(t, dir)
				_, err := serve(dir, node.ServeConfig{})
				require.Error(t, err, what)
				assert.ErrorIs(t, err, node.ErrStorageLost, what)
				assert.Contains(t, err.Error(), "--rebuild", what)
				assert.Equal(t, before, listFiles(t, dir), "%s: a refused start changes nothing", what)
			}

			// --new does not override a directory that holds records.
			dir := copyDir(t, c.dirs[0])
			require.NoError(t, os.Remove(filepath.Join(dir, storage.IdentityName)))
			_, err = serve(dir, node.ServeConfig{New: true})
			assert.ErrorIs(t, err, node.ErrStorageLost)

			// Another replica's directory.
			_, err = serve(copyDir(t, c.dirs[1]), node.ServeConfig{})
			assert.ErrorIs(t, err, paxos.ErrConfig)
			assert.Contains(t, err.Error(), "belongs to replica 1")

			if refusesRebuild(protocol) {
				// --rebuild is refused before anything is moved aside.
				dir = copyDir(t, c.dirs[0])
				before := listFiles(t, dir)
				_, err = serve(dir, node.ServeConfig{Rebuild: true})
				assert.ErrorIs(t, err, paxos.ErrConfig)
				assert.Equal(t, before, listFiles(t, dir), "a refused --rebuild leaves the directory alone")
				return
			}
			// --rebuild: the old state is moved aside, the replica starts
			// rebuilding, and a restart continues the rebuild.
			dir = copyDir(t, c.dirs[0])
			path := walFile(t, dir)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, data[:len(data)/2], 0o644))
			logs := &syncWriter{}
			if !rebuilds(protocol) {
				// The protocol refuses Config.Rebuild: so does --rebuild,
				// before it moves anything aside.
				_, err = serve(dir, node.ServeConfig{Rebuild: true, Logger: quiet()})
				require.ErrorIs(t, err, paxos.ErrConfig)
				aside, err := filepath.Glob(dir + ".damaged-*")
				require.NoError(t, err)
				assert.Empty(t, aside)
				return
			}
			s, err = serve(dir, node.ServeConfig{Rebuild: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			require.NoError(t, err)
			require.NoError(t, s.Stop(ctx))
			assert.Contains(t, logs.String(), "moved the replica's old state aside")
			id, err := storage.ReadIdentity(dir)
			require.NoError(t, err)
			require.NotNil(t, id)
			assert.True(t, id.Rebuilding)
			aside, err := filepath.Glob(dir + ".damaged-*")
			require.NoError(t, err)
			require.Len(t, aside, 1)
			kept, err := os.ReadFile(filepath.Join(aside[0], filepath.Base(path)))
			require.NoError(t, err)
			assert.Equal(t, data[:len(data)/2], kept, "the damaged WAL is kept, not deleted")
			logs.Reset()
			s, err = serve(dir, node.ServeConfig{Logger: slog.New(slog.NewTextHandler(logs, nil))})
			require.NoError(t, err)
			require.NoError(t, s.Stop(ctx))
			assert.Contains(t, logs.String(), "continues as a non-voting member")
			id, err = storage.ReadIdentity(dir)
			require.NoError(t, err)
			assert.True(t, id.Rebuilding, "a restart before the rebuild finished continues it")
		})
	}
}

// refusesRebuild reports whether the protocol refuses Config.Rebuild
// (fastpaxos does): the rebuild steps of these tests do not apply to it.
func refusesRebuild(protocol string) bool {
	_, err := paxos.New(protocol, paxos.Config{ID: 0, N: 3, Rebuild: true})
	return errors.Is(err, paxos.ErrConfig)
}

func listFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == storage.LockName {
			return nil
		}
		info, err := d.Info()
		if err == nil {
			out[strings.TrimPrefix(p, dir)] = info.Size()
		}
		return nil
	})
	return out
}

// syncWriter is a bytes.Buffer safe for the concurrent writes of a logger.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *syncWriter) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Reset()
}

// replaceDir makes dir hold exactly the regular files of src.
func replaceDir(t *testing.T, dir, src string) {
	t.Helper()
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644))
	}
}

// TestPeersRefuseStorageThatWentBack restores a replica's data directory
// from an older copy (which is consistent in itself, so local checks pass),
// and wipes one and starts it with New: its peers, which saw its storage
// get further, refuse it, and it stops with ErrStorageLost; it is then
// refused at once on the next start, and Rebuild brings it back.
func TestPeersRefuseStorageThatWentBack(t *testing.T) {
	protocols := paxos.Protocols()
	if !longtest.Enabled() {
		protocols = []string{"multi", "raft"}
	}
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			c := startTCPCluster(t, protocol, 3, node.Options{}, true)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cl := newClient(t, c.cluster, client.Options{AttemptTimeout: 2 * time.Second})
			defer cl.Close()
			put := func(k, v string) { require.NoError(t, cl.Put(ctx, k, v)) }
			put("a", "1")

			// A backup of replica 2 taken while it is stopped, then more
			// life: a restart and writes.
			require.NoError(t, c.servers[2].Stop(ctx))
			backup := copyDir(t, c.dirs[2])
			c.restart(t, 2)
			for i := 0; i < 10; i++ {
				put(fmt.Sprint("b", i), "2")
			}
			time.Sleep(2 * transport.WitnessPeriod) // let progress announcements flow
			require.NoError(t, c.servers[2].Stop(ctx))

			expectRefusedByPeers := func(cfg node.ServeConfig) {
				t.Helper()
				cfg.Cluster, cfg.ID, cfg.DataDir, cfg.Logger = c.cluster, 2, c.dirs[2], quiet()
				s, err := node.Serve(cfg)
				require.NoError(t, err, "local checks cannot tell")
				c.servers[2] = s
				select {
				case <-s.Done():
				case <-time.After(30 * time.Second):
					t.Fatal("the peers did not refuse the replica within 30s")
				}
				assert.ErrorIs(t, s.Node().Err(), node.ErrStorageLost)
				assert.Contains(t, s.Node().Err().Error(), "--rebuild")
				require.NoError(t, s.Stop(ctx))
				// Refused at once from now on.
				_, err = node.Serve(cfg)
				assert.ErrorIs(t, err, node.ErrStorageLost)
			}

			// Restored from the backup.
			replaceDir(t, c.dirs[2], backup)
			expectRefusedByPeers(node.ServeConfig{})

			// Wiped and started as if new.
			replaceDir(t, c.dirs[2], t.TempDir())
			expectRefusedByPeers(node.ServeConfig{New: true})

			if refusesRebuild(protocol) {
				return
			}
			// Rebuilt: accepted and kept.
			if !rebuilds(protocol) {
				_, err := node.Serve(node.ServeConfig{Cluster: c.cluster, ID: 2, DataDir: c.dirs[2], Rebuild: true, Logger: quiet()})
				require.ErrorIs(t, err, paxos.ErrConfig, "the protocol refuses Config.Rebuild")
				return
			}
			s, err := node.Serve(node.ServeConfig{Cluster: c.cluster, ID: 2, DataDir: c.dirs[2], Rebuild: true, Logger: quiet()})
			require.NoError(t, err)
			c.servers[2] = s
			put("c", "3")
			time.Sleep(2 * transport.WitnessPeriod)
			select {
			case <-s.Done():
				t.Fatalf("the rebuilding replica was stopped: %v", s.Node().Err())
			default:
			}
			v, err := cl.Get(ctx, "b9")
			require.NoError(t, err)
			assert.Equal(t, "2", v)
			// The rebuild finishes while clients write, and is recorded.
			for i := 0; ; i++ {
				id, err := storage.ReadIdentity(c.dirs[2])
				require.NoError(t, err)
				if id != nil && !id.Rebuilding {
					break
				}
				require.Less(t, i, 300, "replica 2 still rebuilding after 30 s")
				put(fmt.Sprint("d", i%5), "4")
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// rebuilds reports whether the protocol supports paxos.Config.Rebuild.
func rebuilds(protocol string) bool {
	_, err := paxos.New(protocol, paxos.Config{N: 3, Rebuild: true})
	return err == nil
}
