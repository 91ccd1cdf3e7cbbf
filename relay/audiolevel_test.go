package relay

import (
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/relay-av/relay/internal/httperr"
)

// levelPacket marshals an audio packet carrying an RFC 6464 level (in
// -dBov) under extension id.
func levelPacket(t testing.TB, seq uint16, id uint8, dbov uint8) []byte {
	t.Helper()
	h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: 7}
	if err := h.SetExtension(2, []byte{0x01}); err != nil { // another extension first
		t.Fatal(err)
	}
	if err := h.SetExtension(id, []byte{0x80 | dbov}); err != nil {
		t.Fatal(err)
	}
	b, err := (&rtp.Packet{Header: h, Payload: []byte{0xf8, 0xff, 0xfe}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAudioLevels(t *testing.T) {
	const id = 5
	a := audioLevels{extID: id}
	if _, _, ok := a.reading(time.Now()); ok {
		t.Fatal("a reading before any level")
	}
	start := time.Now()
	note := func(seq uint16, dbov uint8, at time.Time) {
		p := &packet{}
		raw := levelPacket(t, seq, id, dbov)
		p.n = copy(p.buf[:], raw)
		if !p.parse() {
			t.Fatal("packet does not parse")
		}
		a.note(p.buf[:p.n], p.hdrLen, at.UnixNano())
	}
	// Speech at -20 dBov, then silence (127) for 3 s.
	note(1, 20, start)
	note(2, 30, start.Add(20*time.Millisecond))
	if db, silent, ok := a.reading(start.Add(40 * time.Millisecond)); !ok || db != -20 || silent > 50*time.Millisecond {
		t.Fatalf("speech: %v dBov, silent %v, ok %v; want -20, ~0", db, silent, ok)
	}
	for i := range 150 {
		note(uint16(3+i), 127, start.Add(time.Duration(40+20*i)*time.Millisecond))
	}
	now := start.Add(3040 * time.Millisecond)
	db, silent, _ := a.reading(now)
	if db != -127 {
		t.Errorf("after 3 s of silence the 2 s peak is %v dBov, want -127", db)
	}
	if silent < 2900*time.Millisecond || silent > 3100*time.Millisecond {
		t.Errorf("silent for %v, want about 3 s", silent)
	}
}

func TestOneByteExtension(t *testing.T) {
	raw := levelPacket(t, 1, 3, 42)
	var p packet
	p.n = copy(p.buf[:], raw)
	if !p.parse() {
		t.Fatal("no parse")
	}
	v, ok := oneByteExtension(p.buf[:p.hdrLen], 3)
	if !ok || len(v) != 1 || v[0]&0x7f != 42 {
		t.Fatalf("got %v %v, want level 42", v, ok)
	}
	if _, ok := oneByteExtension(p.buf[:p.hdrLen], 9); ok {
		t.Fatal("found an extension that is not there")
	}
	// A two-byte header form (0x1000) is not read as one-byte.
	h := rtp.Header{Version: 2, Extension: true, ExtensionProfile: 0x1000, SSRC: 1}
	if err := h.SetExtension(3, []byte{42}); err != nil {
		t.Fatal(err)
	}
	b, _ := h.Marshal()
	if _, ok := oneByteExtension(b, 3); ok {
		t.Fatal("read a two-byte extension as one-byte")
	}
}

// FuzzOneByteExtension: any header a publisher sends is read without a
// panic, and a found value lies inside the header.
func FuzzOneByteExtension(f *testing.F) {
	f.Add(levelPacket(f, 1, 1, 10), uint8(1))
	f.Add([]byte{0x90, 0x6f, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0}, uint8(1))
	f.Add([]byte{0x90, 0x6f, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0xff, 0xff}, uint8(14))
	f.Fuzz(func(t *testing.T, hdr []byte, id uint8) {
		v, ok := oneByteExtension(hdr, id)
		if ok && len(v) > len(hdr) {
			t.Fatalf("value of %d bytes from a %d-byte header", len(v), len(hdr))
		}
		a := audioLevels{extID: id}
		a.note(hdr, len(hdr), 1)
		a.reading(time.Unix(0, 2))
	})
}

// FuzzSelectionChange: any /select body gets a selection or a 4xx error,
// never a panic, and what it selects is "floor", "auto", "" or a language
// the room has.
func FuzzSelectionChange(f *testing.F) {
	for _, s := range []string{`{"audio":"fr"}`, `{"sign":""}`, `{"video":"auto"}`, `{"audio":"FR","sign":"ase"}`, `{"audio":1}`, `{}`, `[]`, `{"audio":"fr"}{}`} {
		f.Add([]byte(s))
	}
	room := newRoom(RoomConfig{Name: "r", Languages: []string{"fr", "ase"}}, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := parseSelectionChange(room, body)
		if err != nil {
			if st := httperr.Status(err); st < 400 || st > 499 {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		var sel selection
		c.apply(&sel)
		for _, v := range []string{sel.audio, sel.sign} {
			if v != "" && v != "fr" && v != "ase" {
				t.Fatalf("selected %q, which the room does not have", v)
			}
		}
		if sel.video != "" && sel.video != "auto" {
			t.Fatalf("video %q", sel.video)
		}
	})
}
