package presence_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/hubrt/hub/internal/hubtest"
)

// BenchmarkTracker_MemberBytes measures what presence keeps per member:
// on the member's own node (its connection in the local slice and the
// user view) and on a node that watches the room (the remote slice and the
// user view), by the live heap after joining n members to a presence room
// less the heap after joining them to a room without presence.
//
//	go test -run '^$' -bench MemberBytes -benchtime 1x -count 3 ./presence
func BenchmarkTracker_MemberBytes(b *testing.B) {
	const n = 10000
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for b.Loop() {
		measure := func(nodes int, room string) float64 {
			c := newCluster(b)
			c.quiet = true
			var ns []*fakeNode
			for i := 0; i < nodes; i++ {
				ns = append(ns, c.start(fmt.Sprintf("m%d", i)))
			}
			before := heap()
			for i := 0; i < n; i++ {
				conn, _ := ns[0].open(fmt.Sprintf("u%d", i), "")
				join(conn, room)
			}
			if room == "bench" {
				for _, node := range ns {
					hubtest.Eventually(b, "every member listed", func() bool {
						_, s := snapshotUsers(b, node, room)
						return s.Count == n && s.Complete
					})
				}
			}
			return float64(heap()-before) / n
		}
		plain := measure(1, "plain")
		local := measure(1, "bench")
		two := measure(2, "bench")
		b.ReportMetric(local-plain, "B/member-local")
		b.ReportMetric(two-local, "B/member-watcher")
	}
}
