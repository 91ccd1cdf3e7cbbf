package monitoring

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relay-av/relay/relay/hls"
)

// HLSStats is what monitoring reads from the LL-HLS packager and recorder;
// *hls.Server satisfies it.
type HLSStats interface {
	Stats() []hls.RoomStats
}

// HLSDisk is the recordings disk, if the packager can tell (*hls.Server
// can): free and total bytes, and the floor under which recording stops.
type HLSDisk interface {
	Disk() (free, total, minFree int64, err error)
	// DiskUse is what each room's recordings take on disk.
	DiskUse() map[string]int64
}

// WatchHLS registers the HLS packager's and recorder's metrics, read from
// h at scrape time.
func (m *Metrics) WatchHLS(h HLSStats) {
	m.reg.MustRegister(&hlsCollector{hls: h})
}

// hlsKinds are the request kinds relay_hls_requests_total always has, so
// a series exists (at 0) before the first request of its kind: rate()
// then sees the first one.
var hlsKinds = []string{"multivariant", "playlist", "init", "segment", "part", "recorded", "download"}

var (
	descHLSRequests = prometheus.NewDesc("relay_hls_requests_total",
		"HLS requests served, by what they asked for (multivariant, playlist, init, segment, part, recorded, download).", []string{"room", "kind"}, nil)
	descHLSBytes = prometheus.NewDesc("relay_hls_sent_bytes_total",
		"Bytes of HLS playlists and media sent, live and recorded.", []string{"room"}, nil)
	descHLSBlocked = prometheus.NewDesc("relay_hls_blocked_requests_total",
		"Blocking playlist reloads (_HLS_msn) held until their segment or part existed.", []string{"room"}, nil)
	descHLSBlockedSecs = prometheus.NewDesc("relay_hls_blocked_seconds_total",
		"Time blocking playlist reloads were held.", []string{"room"}, nil)
	descHLSSegments = prometheus.NewDesc("relay_hls_segments_total",
		"Segments muxed by the room's current session, every rendition (from 0 again at each session: rate() reads it as a reset).", []string{"room"}, nil)
	descHLSLive = prometheus.NewDesc("relay_hls_live",
		"1 while the room has a live HLS session.", []string{"room"}, nil)
	descRecActive = prometheus.NewDesc("relay_recording_active",
		"1 while the room's live session is being recorded.", []string{"room"}, nil)
	descRecStopped = prometheus.NewDesc("relay_recording_stopped",
		"1 while the room's live session was meant to be recorded and its recording stopped (disk nearly full, a write error).", []string{"room"}, nil)
	descRecBytes = prometheus.NewDesc("relay_recording_bytes_total",
		"Bytes of segments recorded.", []string{"room"}, nil)
	descRecSegments = prometheus.NewDesc("relay_recording_segments_total",
		"Segments recorded, every rendition.", []string{"room"}, nil)
	descRecStops = prometheus.NewDesc("relay_recording_stops_total",
		"Recordings stopped before their session ended (disk nearly full, write errors).", []string{"room"}, nil)
	descDiskFree = prometheus.NewDesc("relay_recording_disk_free_bytes",
		"Free bytes on the disk that holds the recordings (--data/recordings).", nil, nil)
	descDiskSize = prometheus.NewDesc("relay_recording_disk_size_bytes",
		"Size of the disk that holds the recordings.", nil, nil)
	descDiskUse = prometheus.NewDesc("relay_recordings_disk_bytes",
		"Bytes the room's recordings take on disk (read at most once a minute).", []string{"room"}, nil)
	descDiskMinFree = prometheus.NewDesc("relay_recording_disk_min_free_bytes",
		"Free bytes under which recording stops (recordings.min_free_gb; the live path goes on).", nil, nil)
)

// hlsCollector turns the packager's counters into metrics when Prometheus
// scrapes.
type hlsCollector struct{ hls HLSStats }

func (c *hlsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHLSRequests, descHLSBytes, descHLSBlocked, descHLSBlockedSecs, descHLSSegments,
		descHLSLive, descRecActive, descRecStopped, descRecBytes, descRecSegments, descRecStops,
		descDiskFree, descDiskSize, descDiskMinFree, descDiskUse} {
		ch <- d
	}
}

func (c *hlsCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, rs := range c.hls.Stats() {
		room := rs.Room
		for _, k := range hlsKinds {
			counter(descHLSRequests, float64(rs.Requests[k]), room, k)
		}
		for k, n := range rs.Requests {
			if !slices.Contains(hlsKinds, k) { // a kind the packager added since: still counted
				counter(descHLSRequests, float64(n), room, k)
			}
		}
		counter(descHLSBytes, float64(rs.Bytes), room)
		counter(descHLSBlocked, float64(rs.BlockedRequests), room)
		counter(descHLSBlockedSecs, rs.BlockedSeconds, room)
		counter(descHLSSegments, float64(rs.SegmentsWritten), room)
		gauge(descHLSLive, boolf(rs.Live), room)
		gauge(descRecActive, boolf(rs.Recording), room)
		gauge(descRecStopped, boolf(rs.Live && rs.RecordingStopped != ""), room)
		counter(descRecBytes, float64(rs.RecordedBytes), room)
		counter(descRecSegments, float64(rs.SegmentsRecorded), room)
		counter(descRecStops, float64(rs.RecordingStops), room)
	}
	if d, ok := c.hls.(HLSDisk); ok {
		if free, total, minFree, err := d.Disk(); err == nil && total > 0 {
			gauge(descDiskFree, float64(free))
			gauge(descDiskSize, float64(total))
			gauge(descDiskMinFree, float64(minFree))
		}
		for room, n := range d.DiskUse() {
			gauge(descDiskUse, float64(n), room)
		}
	}
}
