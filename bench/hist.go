package bench

import (
	"math/bits"
	"time"
)

// histBuckets is enough for values up to 2^40 µs (12 days).
const histBuckets = 64 + 40*32

// Hist is a latency histogram in microseconds with about 3% precision:
// values under 64 have their own bucket, larger ones keep their 6 top bits.
// Histograms from several children merge by adding counts. The zero value
// is empty and ready to use. It is not safe for concurrent use.
type Hist struct {
	Counts map[int]uint64 `json:"counts,omitempty"` // sparse bucket counts; only for transport
	N      uint64         `json:"n"`
	Max    uint64         `json:"max_us"`
	Sum    uint64         `json:"sum_us"`

	dense []uint64
}

func bucketOf(v uint64) int {
	if v < 64 {
		return int(v)
	}
	e := bits.Len64(v) - 6
	i := 64 + (e-1)*32 + int(v>>e) - 32
	if i >= histBuckets {
		i = histBuckets - 1
	}
	return i
}

// bucketMid is a representative value of bucket i.
func bucketMid(i int) uint64 {
	if i < 64 {
		return uint64(i)
	}
	e := (i-64)/32 + 1
	m := uint64((i-64)%32 + 32)
	lo, hi := m<<e, ((m+1)<<e)-1
	return (lo + hi) / 2
}

// Add records one value in microseconds.
func (h *Hist) Add(us uint64) {
	if h.dense == nil {
		h.dense = make([]uint64, histBuckets)
	}
	h.dense[bucketOf(us)]++
	h.N++
	h.Sum += us
	if us > h.Max {
		h.Max = us
	}
}

// AddDuration records d, negative durations as zero.
func (h *Hist) AddDuration(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.Add(uint64(d / time.Microsecond))
}

// Merge adds o's counts to h.
func (h *Hist) Merge(o *Hist) {
	if o == nil || o.N == 0 {
		return
	}
	if h.dense == nil {
		h.dense = make([]uint64, histBuckets)
	}
	o.expand()
	for i, c := range o.dense {
		h.dense[i] += c
	}
	h.N += o.N
	h.Sum += o.Sum
	h.Max = max(h.Max, o.Max)
}

// Reset empties h.
func (h *Hist) Reset() { *h = Hist{} }

// pack fills Counts from the dense buckets, for JSON.
func (h *Hist) pack() *Hist {
	out := &Hist{N: h.N, Max: h.Max, Sum: h.Sum, Counts: map[int]uint64{}}
	for i, c := range h.dense {
		if c != 0 {
			out.Counts[i] = c
		}
	}
	return out
}

// expand fills the dense buckets from Counts after JSON decoding.
func (h *Hist) expand() {
	if h.dense != nil || len(h.Counts) == 0 {
		return
	}
	h.dense = make([]uint64, histBuckets)
	for i, c := range h.Counts {
		if i >= 0 && i < histBuckets {
			h.dense[i] += c
		}
	}
}

// Quantile returns the q-quantile (0 < q ≤ 1) in microseconds, 0 when empty.
func (h *Hist) Quantile(q float64) uint64 {
	h.expand()
	if h.N == 0 {
		return 0
	}
	if q >= 1 {
		return h.Max
	}
	rank := uint64(q*float64(h.N) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.dense {
		seen += c
		if seen >= rank {
			return min(bucketMid(i), h.Max)
		}
	}
	return h.Max
}

// Mean is the mean in microseconds.
func (h *Hist) Mean() float64 {
	if h.N == 0 {
		return 0
	}
	return float64(h.Sum) / float64(h.N)
}
