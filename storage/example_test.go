package storage_test

import (
	"fmt"
	"os"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/storage"
)

type exampleRecord struct{ Slot int }

func init() { paxos.Register("storage_test.exampleRecord", exampleRecord{}) }

func Example() {
	dir, _ := os.MkdirTemp("", "wal-example")
	defer os.RemoveAll(dir)

	w, err := storage.OpenWAL(dir, storage.WALOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	// One Append is one fsync, however many records it carries.
	_ = w.Append(nil, []any{exampleRecord{Slot: 1}, exampleRecord{Slot: 2}})
	_ = w.Close()

	// After a restart, Load returns what paxos.Config.Restore expects.
	w, _ = storage.OpenWAL(dir, storage.WALOptions{})
	p, _ := w.Load()
	fmt.Println(p.Snapshot, p.Records)
	_ = w.Close()
	// Output: <nil> [{1} {2}]
}
