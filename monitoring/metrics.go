package monitoring

import (
	"cmp"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/relay-av/relay/captions"
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/turnserver"
)

// RelayStats is what the collector reads from the SFU at scrape time;
// *relay.Server satisfies it.
type RelayStats interface {
	Stats() []relay.RoomStats
}

// Limits are the configured capacity, exported so alerts can say "near".
type Limits struct {
	MaxViewers        int
	MaxViewersPerRoom int
}

// Metrics owns the Prometheus registry of one relay.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	delivery prometheus.Histogram
	ack      prometheus.Histogram
}

// NewMetrics builds the registry with the hook-fed metrics and Go runtime
// and process metrics; Watch adds the relay's and captions' state. reg may
// be nil for a fresh registry.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_http_requests_total",
			Help: "WHIP and WHEP requests by endpoint, method and status code.",
		}, []string{"endpoint", "method", "code"}),
		delivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "relay_caption_delivery_seconds",
			Help:    "Time from a final caption entering its hub (durable) to its write on a viewer's socket.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		ack: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "relay_caption_ack_seconds",
			Help:    "Time from a captioner's final arriving to its acknowledgement (journal fsync included).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
	}
	reg.MustRegister(m.requests, m.delivery, m.ack,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Watch registers the collector that reads r's and c's state at scrape time
// (either may be nil). The hooks exist before the relay and the caption
// service do; their state is watched once they exist.
func (m *Metrics) Watch(r RelayStats, c Captions, lim Limits) {
	m.reg.MustRegister(&stateCollector{relay: r, captions: c, limits: lim})
}

// WatchTURN registers the built-in TURN server's metrics.
func (m *Metrics) WatchTURN(t TURNStats) {
	m.reg.MustRegister(&turnCollector{turn: t})
}

type turnCollector struct{ turn TURNStats }

func (c *turnCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descTURNAllocs
	ch <- descTURNBytes
	ch <- descTURNRefused
}

func (c *turnCollector) Collect(ch chan<- prometheus.Metric) {
	for room, st := range c.turn.Stats() {
		ch <- prometheus.MustNewConstMetric(descTURNAllocs, prometheus.GaugeValue, float64(st.Allocations), room)
		ch <- prometheus.MustNewConstMetric(descTURNBytes, prometheus.CounterValue, float64(st.BytesRelayed), room)
		ch <- prometheus.MustNewConstMetric(descTURNRefused, prometheus.CounterValue, float64(st.RefusedPermissions), room, "permission")
		ch <- prometheus.MustNewConstMetric(descTURNRefused, prometheus.CounterValue, float64(st.RefusedDatagrams), room, "datagram")
	}
}

// Registry is the registry the metrics live in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveRequest is relay.Config.ObserveRequest.
func (m *Metrics) ObserveRequest(endpoint, method string, status int) {
	m.requests.WithLabelValues(endpoint, method, strconv.Itoa(status)).Inc()
}

// ObserveDelivery is captions.Config.ObserveDelivery.
func (m *Metrics) ObserveDelivery(d time.Duration) { m.delivery.Observe(d.Seconds()) }

// ObserveAck is captions.Config.ObserveAck.
func (m *Metrics) ObserveAck(d time.Duration) { m.ack.Observe(d.Seconds()) }

// stateCollector turns the relay's and the caption service's counters into
// metrics when Prometheus scrapes: the packet path only bumps per-track and
// per-viewer counters of its own, never a shared metric.
type stateCollector struct {
	relay    RelayStats
	captions Captions
	limits   Limits
}

var (
	descViewers    = prometheus.NewDesc("relay_viewers", "WHEP viewers connected, per room.", []string{"room"}, nil)
	descPublishers = prometheus.NewDesc("relay_publishers", "Publishers connected (0 or 1), per room.", []string{"room"}, nil)
	descLive       = prometheus.NewDesc("relay_room_live", "1 when the room's publisher is live, 0 when it is lost or absent.", []string{"room"}, nil)
	descLost       = prometheus.NewDesc("relay_room_lost", "1 when the room's publisher vanished without ending its session.", []string{"room"}, nil)
	descFwdPkts    = prometheus.NewDesc("relay_forwarded_packets_total", "RTP packets sent to viewers (resends not included).", []string{"room", "kind"}, nil)
	descFwdBytes   = prometheus.NewDesc("relay_forwarded_bytes_total", "RTP payload bytes sent to viewers.", []string{"room", "kind"}, nil)
	descInBytes    = prometheus.NewDesc("relay_ingest_bytes_total", "RTP bytes received from publishers.", []string{"room", "kind"}, nil)
	descInPkts     = prometheus.NewDesc("relay_ingest_packets_total", "RTP packets received from publishers.", []string{"room", "kind"}, nil)
	descKeyframes  = prometheus.NewDesc("relay_keyframes_total", "Keyframes received from publishers.", []string{"room"}, nil)
	descPubStart   = prometheus.NewDesc("relay_publisher_start_timestamp_seconds", "When the room's current publisher connected (changes() counts reconnects).", []string{"room"}, nil)
	descLastKey    = prometheus.NewDesc("relay_last_keyframe_timestamp_seconds", "When the room's video source last sent a keyframe.", []string{"room"}, nil)
	descNACKs      = prometheus.NewDesc("relay_nacks_total", "Packets resent to viewers from the shared history after a NACK.", []string{"room"}, nil)
	descPLIs       = prometheus.NewDesc("relay_plis_total", "Keyframe requests sent to publishers.", []string{"room"}, nil)
	descDropped    = prometheus.NewDesc("relay_dropped_packets_total", "Packets not delivered, by reason.", []string{"room", "reason"}, nil)
	descLoss       = prometheus.NewDesc("relay_viewer_loss_ratio", "Viewers' fraction of packets lost, from their last receiver report.", []string{"room"}, nil)
	descJitter     = prometheus.NewDesc("relay_viewer_jitter_seconds", "Viewers' interarrival jitter, from receiver reports.", []string{"room"}, nil)
	descRTT        = prometheus.NewDesc("relay_viewer_rtt_seconds", "Viewers' round-trip time, from sender and receiver reports.", []string{"room"}, nil)
	descMaxViewers = prometheus.NewDesc("relay_viewer_limit", "Configured viewer limit of the whole relay.", nil, nil)
	descMaxPerRoom = prometheus.NewDesc("relay_room_viewer_limit", "Configured viewer limit of each room.", nil, nil)

	descCapViewers = prometheus.NewDesc("relay_caption_viewers", "Caption WebSocket viewers, per room and language.", []string{"room", "lang"}, nil)
	descCapCapts   = prometheus.NewDesc("relay_caption_captioners", "Captioners connected (sockets and recent HTTP ingest), per room and language.", []string{"room", "lang"}, nil)
	descCapCues    = prometheus.NewDesc("relay_caption_cues_total", "Final cues stored, per room and language.", []string{"room", "lang"}, nil)
	descCapLast    = prometheus.NewDesc("relay_caption_last_cue_timestamp_seconds", "When the language's last final cue arrived.", []string{"room", "lang"}, nil)
	descCapDrop    = prometheus.NewDesc("relay_caption_dropped_total", "Caption messages dropped (partial) or viewers disconnected (slow).", []string{"room", "lang", "reason"}, nil)
	descJournalErr = prometheus.NewDesc("relay_caption_journal_errors_total", "Caption journal writes that failed, and finals refused after a failure.", nil, nil)
	descWSConns    = prometheus.NewDesc("relay_websocket_connections", "Open caption WebSocket connections, by role (viewer, captioner).", []string{"role"}, nil)
	descCapRefused = prometheus.NewDesc("relay_caption_viewers_refused_total",
		"Caption viewer sockets refused before the upgrade, by reason (unknown_language, per_address, total).", []string{"reason"}, nil)

	descChListeners = prometheus.NewDesc("relay_channel_listeners",
		"Viewers whose selection is the channel (lang floor: the floor audio), per room and language.", []string{"room", "lang"}, nil)
	descChLive = prometheus.NewDesc("relay_channel_live",
		"1 while a language channel's media flows, 0 while it is down, per room, language and kind (audio, sign).", []string{"room", "lang", "kind"}, nil)
	descChLevel = prometheus.NewDesc("relay_channel_audio_level_dbov",
		"Loudest RFC 6464 audio level of the last 2 s (0 loudest, -127 silence); only where the publisher sends levels.", []string{"room", "lang"}, nil)
	descChSilent = prometheus.NewDesc("relay_channel_silent_seconds",
		"Seconds since the channel's audio was last louder than -50 dBov; only where the publisher sends levels.", []string{"room", "lang"}, nil)
	descChSwitches = prometheus.NewDesc("relay_channel_switches_total",
		"Viewer tracks moved to another source (a selection, or a booth going live or down).", []string{"room"}, nil)

	descLayerViewers = prometheus.NewDesc("relay_layer_viewers",
		"Viewers receiving each video layer flowing now, per room and rid (single: a publisher without simulcast).", []string{"room", "rid"}, nil)
	descLayerBitrate = prometheus.NewDesc("relay_layer_bitrate_bps",
		"Each video layer's bitrate measured over the last second, per room and rid.", []string{"room", "rid"}, nil)
	descLayerSwitches = prometheus.NewDesc("relay_layer_switches_total",
		"Viewers moved to a better (up) or a worse (down) video layer.", []string{"room", "direction"}, nil)
	descEstimate = prometheus.NewDesc("relay_viewer_estimate_bps",
		"Viewers' bandwidth estimates in bits per second, of the room's current viewers that have one.", []string{"room"}, nil)
	descPaused = prometheus.NewDesc("relay_video_paused_viewers",
		"Viewers whose estimate is below the lowest layer: audio and captions, no video.", []string{"room"}, nil)

	descPaths = prometheus.NewDesc("relay_viewers_by_path",
		"Connected viewers by how their media reaches them: udp or tcp straight, turn-udp, turn-tcp or turn-tls through the built-in TURN server.", []string{"room", "path"}, nil)
	descTURNAllocs = prometheus.NewDesc("relay_turn_allocations",
		"Live allocations on the built-in TURN server, per room of the credential.", []string{"room"}, nil)
	descTURNBytes = prometheus.NewDesc("relay_turn_relayed_bytes_total",
		"Bytes the built-in TURN server relayed between clients and the relay, both directions.", []string{"room"}, nil)
	descTURNRefused = prometheus.NewDesc("relay_turn_refused_total",
		"What the TURN server refused: permissions toward other addresses (permission), datagrams toward other ports (datagram).", []string{"room", "what"}, nil)
)

// viewerPaths are the paths relay_viewers_by_path always has, so a
// series exists (at 0) before the first viewer takes it.
var viewerPaths = []string{relay.PathUDP, relay.PathTCP, relay.PathTURNUDP, relay.PathTURNTCP, relay.PathTURNTLS}

// TURNStats is what the collector reads from the built-in TURN server;
// *turnserver.Server satisfies it.
type TURNStats interface {
	Stats() map[string]turnserver.RoomStats
}

// singleLayer is the rid label of the one layer of a publisher without
// simulcast (rid ""): an empty label value would read as no label at all.
const singleLayer = "single"

// Quality histogram buckets.
var (
	lossBuckets   = []float64{0, .001, .005, .01, .02, .05, .1, .2}
	jitterBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1}
	rttBuckets    = []float64{.005, .01, .025, .05, .1, .2, .4, .8, 1.6}
	// Around the usual layers (150 kbit/s, 500 kbit/s, 1.5 Mbit/s) and
	// their headroom, up to what a fibre link shows.
	estimateBuckets = []float64{100e3, 200e3, 350e3, 500e3, 750e3, 1e6, 1.5e6, 2.5e6, 4e6, 8e6}
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descViewers, descPublishers, descLive, descLost, descFwdPkts, descFwdBytes, descInBytes,
		descInPkts, descKeyframes, descPubStart, descLastKey, descNACKs, descPLIs, descDropped, descLoss, descJitter, descRTT, descMaxViewers,
		descMaxPerRoom, descCapViewers, descCapCapts, descCapCues, descCapLast, descCapDrop, descJournalErr, descWSConns, descCapRefused,
		descChListeners, descChLive, descChLevel, descChSilent, descChSwitches,
		descLayerViewers, descLayerBitrate, descLayerSwitches, descEstimate, descPaused, descPaths} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descMaxViewers, float64(c.limits.MaxViewers))
	gauge(descMaxPerRoom, float64(c.limits.MaxViewersPerRoom))
	if c.relay != nil {
		for _, rs := range c.relay.Stats() {
			room := rs.Room
			gauge(descViewers, float64(rs.Viewers), room)
			gauge(descPublishers, float64(rs.Publishers), room)
			gauge(descLive, boolf(rs.State == relay.StateLive), room)
			gauge(descLost, boolf(rs.State == relay.StateLost), room)
			for kind, ks := range map[string]relay.KindStats{"video": rs.Video, "audio": rs.Audio} {
				counter(descFwdPkts, ks.ForwardedPackets, room, kind)
				counter(descFwdBytes, ks.ForwardedBytes, room, kind)
				counter(descInBytes, ks.IngestBytes, room, kind)
				counter(descInPkts, ks.IngestPackets, room, kind)
			}
			v, a := rs.Video, rs.Audio
			counter(descKeyframes, v.Keyframes, room)
			if !rs.PublisherSince.IsZero() {
				gauge(descPubStart, float64(rs.PublisherSince.UnixNano())/1e9, room)
			}
			if !rs.LastKeyframe.IsZero() {
				gauge(descLastKey, float64(rs.LastKeyframe.UnixNano())/1e9, room)
			}
			counter(descNACKs, v.NACKed+a.NACKed, room)
			counter(descPLIs, v.PLIs+a.PLIs, room)
			counter(descDropped, v.WaitKeyframeDrops+a.WaitKeyframeDrops, room, "wait_keyframe")
			counter(descDropped, v.WriteErrors+a.WriteErrors, room, "write_error")
			counter(descDropped, v.Malformed+a.Malformed, room, "malformed")
			counter(descDropped, v.NACKMisses+a.NACKMisses, room, "nack_miss")
			counter(descDropped, v.Duplicates+a.Duplicates, room, "duplicate")
			loss, jitter, rtt := newHist(lossBuckets), newHist(jitterBuckets), newHist(rttBuckets)
			for _, q := range rs.Quality {
				loss.observe(q.Loss)
				jitter.observe(q.Jitter.Seconds())
				if q.RTT > 0 {
					rtt.observe(q.RTT.Seconds())
				}
			}
			ch <- loss.metric(descLoss, room)
			ch <- jitter.metric(descJitter, room)
			ch <- rtt.metric(descRTT, room)
			channelMetrics(rs, gauge)
			counter(descChSwitches, rs.ChannelSwitches, room)
			layerMetrics(rs, ch)
			for _, p := range viewerPaths {
				gauge(descPaths, float64(rs.Paths[p]), room, p)
			}
		}
	}
	if c.captions != nil {
		counter(descJournalErr, c.captions.JournalErrors())
		for reason, n := range c.captions.RefusedViewers() {
			counter(descCapRefused, n, reason)
		}
		wsViewers, wsCaptioners := c.captions.Connections()
		gauge(descWSConns, float64(wsViewers), "viewer")
		gauge(descWSConns, float64(wsCaptioners), "captioner")
		for _, rs := range c.captions.Rooms() {
			for _, l := range rs.Languages {
				if !l.Announced {
					continue // not used yet; bounded labels
				}
				gauge(descCapViewers, float64(l.Viewers), rs.Room, l.Lang)
				gauge(descCapCapts, float64(len(l.Captioners)), rs.Room, l.Lang)
				counter(descCapCues, l.Cues, rs.Room, l.Lang)
				if !l.LastCue.IsZero() {
					gauge(descCapLast, float64(l.LastCue.UnixNano())/1e9, rs.Room, l.Lang)
				}
				counter(descCapDrop, l.Dropped["partial"], rs.Room, l.Lang, "partial")
				counter(descCapDrop, l.Dropped["slow"], rs.Room, l.Lang, "slow")
			}
		}
	}
}

// channelMetrics emits a room's floor and language channel gauges. A
// language with both a booth and a sign channel has one listeners series
// (their sum): the label set is fixed at room and lang, and two series with
// the same labels would fail the scrape.
func channelMetrics(rs relay.RoomStats, gauge func(*prometheus.Desc, float64, ...string)) {
	listeners := map[string]int{}
	var langs []string
	for _, c := range rs.Channels {
		if _, seen := listeners[c.Lang]; !seen {
			langs = append(langs, c.Lang)
		}
		listeners[c.Lang] += c.Listeners
		if c.Lang != relay.FloorLang {
			gauge(descChLive, boolf(c.Live), rs.Room, c.Lang, c.Kind)
		}
		// Only audio carries levels: at most one level series per language.
		if c.HasLevel && c.Kind == relay.KindAudio {
			gauge(descChLevel, c.Level, rs.Room, c.Lang)
			gauge(descChSilent, c.Silent.Seconds(), rs.Room, c.Lang)
		}
	}
	for _, l := range langs {
		gauge(descChListeners, float64(listeners[l]), rs.Room, l)
	}
}

// layerMetrics emits a room's video layer series: viewers and bitrate per
// layer flowing now (none without a publisher), switches up and down, the
// estimate histogram (with zero count until a viewer has an estimate, like
// the quality histograms) and the viewers whose video is paused.
func layerMetrics(rs relay.RoomStats, ch chan<- prometheus.Metric) {
	type layer struct {
		rid     string
		viewers int
		bitrate uint64
	}
	// A simulcast layer named "single" next to the last one of a publisher
	// without simulcast (a publisher change) shares its label: one series
	// of their sums, since a repeated series would fail the whole scrape.
	var layers []layer
	at := make(map[string]int, len(rs.Layers))
	for _, l := range rs.Layers {
		rid := cmp.Or(l.RID, singleLayer)
		if i, ok := at[rid]; ok {
			layers[i].viewers += l.Viewers
			layers[i].bitrate += l.Bitrate
			continue
		}
		at[rid] = len(layers)
		layers = append(layers, layer{rid, l.Viewers, l.Bitrate})
	}
	for _, l := range layers {
		ch <- prometheus.MustNewConstMetric(descLayerViewers, prometheus.GaugeValue, float64(l.viewers), rs.Room, l.rid)
		ch <- prometheus.MustNewConstMetric(descLayerBitrate, prometheus.GaugeValue, float64(l.bitrate), rs.Room, l.rid)
	}
	ch <- prometheus.MustNewConstMetric(descLayerSwitches, prometheus.CounterValue, float64(rs.LayerSwitchesUp), rs.Room, "up")
	ch <- prometheus.MustNewConstMetric(descLayerSwitches, prometheus.CounterValue, float64(rs.LayerSwitchesDown), rs.Room, "down")
	est := newHist(estimateBuckets)
	for _, e := range rs.Estimates {
		est.observe(e)
	}
	ch <- est.metric(descEstimate, rs.Room)
	ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, float64(rs.VideoPaused), rs.Room)
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// hist builds a constant histogram from the samples of one scrape.
type hist struct {
	bounds []float64
	counts map[float64]uint64
	n      uint64
	sum    float64
}

// newHist starts every bucket at zero: a const histogram exposes only the
// buckets in its map, and a bucket that comes and goes between scrapes
// upsets histogram_quantile.
func newHist(bounds []float64) *hist {
	h := &hist{bounds: bounds, counts: make(map[float64]uint64, len(bounds))}
	for _, b := range bounds {
		h.counts[b] = 0
	}
	return h
}

func (h *hist) observe(v float64) {
	h.n++
	h.sum += v
	for _, b := range h.bounds {
		if v <= b {
			h.counts[b]++
		}
	}
}

func (h *hist) metric(d *prometheus.Desc, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstHistogram(d, h.n, h.sum, h.counts, labels...)
}

var _ Captions = (*captions.Service)(nil)
