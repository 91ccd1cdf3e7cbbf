package monitoring

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/hls"
)

type fakeHLS []hls.RoomStats

func (f fakeHLS) Stats() []hls.RoomStats { return f }

func (f fakeHLS) DiskUse() map[string]int64 { return map[string]int64{"hall": 7 << 30, "old": 1 << 20} }

func (f fakeHLS) Disk() (free, total, minFree int64, err error) {
	return 5 << 30, 100 << 30, 5 << 30, nil
}

// hlsRooms are three rooms as the packager sees them: one live and
// recorded, one live whose recording stopped, one with a session over
// and only recorded files served since.
var hlsRooms = fakeHLS{
	{Room: "hall", Requests: map[string]uint64{"multivariant": 3, "playlist": 900, "part": 4000, "segment": 12, "init": 6},
		Bytes: 123_456_789, BlockedRequests: 850, BlockedSeconds: 170.5, SegmentsWritten: 420, SegmentsRecorded: 400,
		RecordedBytes: 98_765_432, Live: true, Session: "20261201T090000Z", Recording: true, Renditions: 4},
	{Room: "side", Requests: map[string]uint64{"playlist": 10, "download": 1, "thumbnail": 2},
		Bytes: 2048, SegmentsWritten: 30, SegmentsRecorded: 12, RecordedBytes: 4096, RecordingStops: 1,
		Live: true, Session: "20261201T100000Z", RecordingStopped: "the disk is nearly full: 900 MiB free, recording needs 1024 MiB"},
	{Room: "old", Requests: map[string]uint64{"recorded": 7}, Bytes: 700, RecordingStops: 2,
		Session: "20261130T100000Z", RecordingStopped: "writing the recording: no space left on device"},
}

// The packager's figures are exposed per room: requests of every kind (0
// until asked for, and a kind the packager adds later too), bytes,
// blocking reloads and their wait, segments, live and recording state
// (stopped only while live), recorded bytes and segments, stops; promtool
// accepts the exposition.
func TestHLSMetrics(t *testing.T) {
	m := NewMetrics(nil)
	m.WatchHLS(hlsRooms)
	got := scrapeSeries(t, m, "relay_hls_")
	for k, v := range scrapeSeries(t, m, "relay_recording") {
		got[k] = v
	}
	want := map[string]float64{}
	for _, room := range []string{"hall", "side", "old"} {
		for _, kind := range []string{"multivariant", "playlist", "init", "segment", "part", "recorded", "download"} {
			want[`relay_hls_requests_total{kind="`+kind+`",room="`+room+`"}`] = 0
		}
	}
	for series, v := range map[string]float64{
		`relay_hls_requests_total{kind="multivariant",room="hall"}`: 3,
		`relay_hls_requests_total{kind="playlist",room="hall"}`:     900,
		`relay_hls_requests_total{kind="part",room="hall"}`:         4000,
		`relay_hls_requests_total{kind="segment",room="hall"}`:      12,
		`relay_hls_requests_total{kind="init",room="hall"}`:         6,
		`relay_hls_sent_bytes_total{room="hall"}`:                   123_456_789,
		`relay_hls_blocked_requests_total{room="hall"}`:             850,
		`relay_hls_blocked_seconds_total{room="hall"}`:              170.5,
		`relay_hls_segments_total{room="hall"}`:                     420,
		`relay_hls_live{room="hall"}`:                               1,
		`relay_recording_active{room="hall"}`:                       1,
		`relay_recording_stopped{room="hall"}`:                      0,
		`relay_recording_bytes_total{room="hall"}`:                  98_765_432,
		`relay_recording_segments_total{room="hall"}`:               400,
		`relay_recording_stops_total{room="hall"}`:                  0,

		`relay_hls_requests_total{kind="playlist",room="side"}`:  10,
		`relay_hls_requests_total{kind="download",room="side"}`:  1,
		`relay_hls_requests_total{kind="thumbnail",room="side"}`: 2,
		`relay_hls_sent_bytes_total{room="side"}`:                2048,
		`relay_hls_blocked_requests_total{room="side"}`:          0,
		`relay_hls_blocked_seconds_total{room="side"}`:           0,
		`relay_hls_segments_total{room="side"}`:                  30,
		`relay_hls_live{room="side"}`:                            1,
		`relay_recording_active{room="side"}`:                    0,
		`relay_recording_stopped{room="side"}`:                   1,
		`relay_recording_bytes_total{room="side"}`:               4096,
		`relay_recording_segments_total{room="side"}`:            12,
		`relay_recording_stops_total{room="side"}`:               1,

		`relay_hls_requests_total{kind="recorded",room="old"}`: 7,
		`relay_hls_sent_bytes_total{room="old"}`:               700,
		`relay_hls_blocked_requests_total{room="old"}`:         0,
		`relay_hls_blocked_seconds_total{room="old"}`:          0,
		`relay_hls_segments_total{room="old"}`:                 0,
		`relay_hls_live{room="old"}`:                           0,
		`relay_recording_active{room="old"}`:                   0,
		`relay_recording_stopped{room="old"}`:                  0, // its session is over: nothing to do now
		`relay_recording_bytes_total{room="old"}`:              0,
		`relay_recording_segments_total{room="old"}`:           0,
		`relay_recording_stops_total{room="old"}`:              2,

		`relay_recording_disk_free_bytes`:          5 << 30,
		`relay_recording_disk_size_bytes`:          100 << 30,
		`relay_recording_disk_min_free_bytes`:      5 << 30,
		`relay_recordings_disk_bytes{room="hall"}`: 7 << 30,
		`relay_recordings_disk_bytes{room="old"}`:  1 << 20,
	} {
		want[series] = v
	}
	checkSeries(t, got, want)

	promtoolCheckMetrics(t, m)
}

// /api/rooms carries each room's HLS session (live, id, recording, why
// the recording stopped) once it had one; a room without a session has no
// hls field, and the packager's rooms the relay does not list are left out.
func TestAPIRoomsHLS(t *testing.T) {
	rooms := &fakeRooms{rooms: []relay.RoomInfo{{Name: "hall", State: relay.StateLive}, {Name: "side", State: relay.StateLive}, {Name: "quiet"}}}
	hlsStats := append(fakeHLS{{Room: "quiet", Requests: map[string]uint64{"recorded": 1}}}, hlsRooms...)
	mux := http.NewServeMux()
	New(Params{Relay: rooms, HLS: hlsStats}).Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/rooms", nil))
	var body struct {
		Rooms []struct {
			Name string
			HLS  *struct {
				Live      *bool
				Session   *string
				Recording *bool
				Stopped   *string
			}
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%v\n%s", err, rec.Body)
	}
	type view struct {
		live, recording  bool
		session, stopped string
	}
	got := map[string]*view{}
	for _, r := range body.Rooms {
		got[r.Name] = nil
		if h := r.HLS; h != nil {
			if h.Live == nil || h.Session == nil || h.Recording == nil || h.Stopped == nil {
				t.Fatalf("room %s: hls lacks a field: %s", r.Name, rec.Body)
			}
			got[r.Name] = &view{*h.Live, *h.Recording, *h.Session, *h.Stopped}
		}
	}
	want := map[string]*view{
		"hall":  {live: true, recording: true, session: "20261201T090000Z"},
		"side":  {live: true, session: "20261201T100000Z", stopped: hlsRooms[1].RecordingStopped},
		"quiet": nil,
	}
	if len(got) != len(want) {
		t.Errorf("rooms %v, want hall, quiet and side", got)
	}
	for room, w := range want {
		g, ok := got[room]
		switch {
		case !ok:
			t.Errorf("room %s missing", room)
		case (g == nil) != (w == nil):
			t.Errorf("room %s: hls %+v, want %+v", room, g, w)
		case g != nil && *g != *w:
			t.Errorf("room %s: hls %+v, want %+v", room, *g, *w)
		}
	}
}
