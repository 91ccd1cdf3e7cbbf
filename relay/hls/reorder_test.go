package hls

import (
	"slices"
	"testing"
	"time"
)

// TestReorder: packets come out in sequence order; a gap is waited for
// reorderWait, then skipped; duplicates and packets behind the gap go.
func TestReorder(t *testing.T) {
	var r reorder
	var out []uint16
	var lost []uint16
	emit := func(p rtpIn, l bool) {
		out = append(out, p.seq)
		if l {
			lost = append(lost, p.seq)
		}
	}
	t0 := time.Unix(0, 0)
	for i, seq := range []uint16{65534, 65535, 1, 0, 0, 2, 4, 5} { // wraps; 3 is lost
		r.push(rtpIn{seq: seq}, t0.Add(time.Duration(i)*time.Millisecond), emit)
	}
	if want := []uint16{65534, 65535, 0, 1, 2}; !slices.Equal(out, want) {
		t.Fatalf("out %v, want %v", out, want)
	}
	r.expire(t0.Add(100*time.Millisecond), emit)
	if len(out) != 5 {
		t.Fatalf("the gap was skipped before reorderWait: %v", out)
	}
	r.expire(t0.Add(time.Second), emit)
	if want := []uint16{65534, 65535, 0, 1, 2, 4, 5}; !slices.Equal(out, want) || !slices.Equal(lost, []uint16{4}) {
		t.Fatalf("out %v lost %v", out, lost)
	}
	r.push(rtpIn{seq: 3}, t0.Add(time.Second), emit)    // the lost one, too late
	r.push(rtpIn{seq: 6000}, t0.Add(time.Second), emit) // a jump
	r.push(rtpIn{seq: 6001}, t0.Add(time.Second), emit)
	if want := []uint16{65534, 65535, 0, 1, 2, 4, 5, 6000, 6001}; !slices.Equal(out, want) {
		t.Fatalf("out %v, want %v", out, want)
	}
}
