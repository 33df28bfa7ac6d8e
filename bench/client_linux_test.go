package bench

import "testing"

func TestSendTime(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{`{"type":"message","room":"r","data":{"t":1234,"s":1,"p":"x"}}`, 1234, true},
		{`{"type":"ack","id":1}`, 0, false},
		{`{"type":"message","data":{"t":"x"}}`, 0, false},
	}
	for _, tt := range tests {
		got, ok := sendTime([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("sendTime(%q) = %d, %v, want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
