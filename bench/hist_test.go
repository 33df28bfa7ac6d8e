package bench

import (
	"encoding/json"
	"testing"
	"time"
)

func TestHist_Quantiles(t *testing.T) {
	var h Hist
	for v := uint64(1); v <= 100000; v++ {
		h.Add(v)
	}
	tests := []struct {
		q    float64
		want uint64
	}{{0.5, 50000}, {0.9, 90000}, {0.99, 99000}, {1, 100000}}
	for _, tt := range tests {
		got := h.Quantile(tt.q)
		if d := float64(got) - float64(tt.want); d > 0.04*float64(tt.want) || d < -0.04*float64(tt.want) {
			t.Errorf("Quantile(%v) = %d, want %d ± 4%%", tt.q, got, tt.want)
		}
	}
}

func TestHist_MergeAfterJSON(t *testing.T) {
	var a, b Hist
	for v := range uint64(1000) {
		a.Add(v)
		b.Add(v + 1000)
	}
	raw, err := json.Marshal(b.pack())
	if err != nil {
		t.Fatal(err)
	}
	var back Hist
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	a.Merge(&back)
	if a.N != 2000 || a.Max != 1999 {
		t.Fatalf("merged N=%d max=%d, want 2000 and 1999", a.N, a.Max)
	}
	if q := a.Quantile(0.5); q < 960 || q > 1040 {
		t.Fatalf("merged median = %d, want about 1000", q)
	}
}

func TestPayload_Size(t *testing.T) {
	for _, size := range []int{43, 128, 1000} {
		p := payload(7, size, timeNow())
		if len(p) != size || !json.Valid(p) {
			t.Errorf("payload(size %d) = %d bytes %q, want %d bytes of JSON", size, len(p), p, size)
		}
	}
}

func timeNow() time.Time { return time.Now() }

func TestMedianReport(t *testing.T) {
	runs := []*Report{
		{Burst: []*FanoutResult{{Name: "burst-nats", CPUPerDelivUs: 0.5, DeliveriesPerSec: 100}}, Date: "d1"},
		{Burst: []*FanoutResult{{Name: "burst-nats", CPUPerDelivUs: 0.3, DeliveriesPerSec: 500}}, Date: "d2"},
		{Burst: []*FanoutResult{{Name: "burst-nats", CPUPerDelivUs: 0.35, DeliveriesPerSec: 900}}, Date: "d3"},
	}
	for _, r := range runs {
		r.finish()
	}
	m := medianReport(runs)
	if got := m.Burst[0]; got.CPUPerDelivUs != 0.35 || got.DeliveriesPerSec != 500 || got.Name != "burst-nats" {
		t.Fatalf("median burst = %+v, want CPU 0.35 and 500/s", got)
	}
	if m.Date != "d1" || len(m.Runs) != 3 {
		t.Fatalf("date %q, %d runs; want d1 and 3", m.Date, len(m.Runs))
	}
	for _, f := range m.Figures {
		if f.Name == "server CPU per delivery" && (f.Min == nil || *f.Min != 0.3 || *f.Max != 0.5 || f.Misses != 1) {
			t.Fatalf("CPU figure = %+v, want range 0.3–0.5 and one miss", f)
		}
	}
}
