// Package player serves the relay's web pages, embedded in the binary: the
// lobby, the watch page, the captioner console, the browser publisher, the
// interpreter console and the AV monitor. Plain HTML, CSS and ES modules; no
// bundler, no CDN, no inline script, so that a strict Content-Security-Policy
// holds.
//
// Every page is in the six UN languages (static/i18n/{ar,en,es,fr,ru,
// zh-Hans}.json, English the fallback) through i18n.js: ?ui=, the last
// choice, the page's caption or channel language, the browser's; a
// switcher in the top bar; Arabic right to left (CSS logical properties).
// The catalogue test (i18n_test.go) checks every key the pages use is in
// every catalogue, with every plural form the language needs.
//
// Pages and their modules (static/js):
//
//	lobby.html    lobby.js: rooms, live state, viewers, caption languages and
//	              language channels, live or off air (polls /api/rooms); the
//	              recordings (GET /recordings/), each to its watch page
//	watch.html    watch.js wires media.js (WebRTC or HLS: the delegate's
//	              setting in modechoice.js, ?mode=hls, or by itself when
//	              WebRTC cannot play a live room within 10 s) over
//	              playback.js (WHEP with reconnect and the selection of
//	              channels and video layer, /select, over whep.js; an empty
//	              /select every ~5 s reads what plays and the relay's
//	              bandwidth estimate) and hlsplay.js (LL-HLS through hls.js,
//	              vendored in static/vendor/hls by scripts/vendor-hlsjs, or
//	              the browser's own HLS where there is no MSE: the audio
//	              track and subtitle track of the page's language),
//	              captions.js (viewer socket with reconnect), cuestore.js,
//	              overlay.js, texttracks.js (native VTTCues), transcript.js,
//	              language.js (the one Language choice: sound, subtitles,
//	              transcript; off-air notice) over channels.js (the room's
//	              channels), floormix.js (the floor under the
//	              interpretation, WebAudio), signchoice.js and signpip.js
//	              (the sign-language toggle and its movable box), quality.js
//	              (the video quality menu: Auto or a simulcast layer, or an
//	              HLS level), sound.js (mute, volume, the autoplay rule),
//	              watchstatus.js (the state in words, the connection
//	              indicator), panels.js, menu.js, langs.js, stats.js
//	              (getStats indicator, the estimate's words), prefs.js,
//	              captionlive.js (final caption lines said to screen
//	              readers, politely). The same page plays a recording
//	              (/watch/{room}/recordings/{id}) over HLS with seeking:
//	              recording.js (its entry in /recordings/, its MP4
//	              downloads, its subtitles drawn in the overlay)
//	caption.html  console.js wires captioner.js (acks, resend of unacked
//	              lines with the same id), captions.js + overlay.js (preview)
//	publish.html  publish.js wires whip.js (one stream, or three simulcast
//	              layers), stats.js and the room's layers from /api/rooms
//	interpret.html
//	              interpret.js wires floor.js (the floor over WHEP with the
//	              interpreter token, and its delay), booth.js (the channel on
//	              air over WHIP, muting, handover), coughkey.js (hold to
//	              mute), levelmeter.js (the microphone's level, WebAudio),
//	              boothwords.js (the booth's and floor's states in words)
//	monitor.html  monitor.js wires roomfeed.js (the event stream, read with
//	              fetch: reconnects after any failure, sends the admin token),
//	              monitorfmt.js (figures and states in words), monitortables.js
//	              (the layer and channel tables)
//
// whep.js and whip.js ask the relay for its ICE servers (OPTIONS, RFC 9725
// Link headers: its TURN server) before every offer.
package player

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
	"unicode/utf8"
)

//go:embed static
var files embed.FS

// contentSecurityPolicy allows the pages' own files and connections only:
// no inline script or style, no third-party origin. 'self' in connect-src
// covers the caption WebSockets of the same host. media-src has blob: for
// HLS through Media Source Extensions and data: for the empty WebVTT
// ("data:,WEBVTT") hls.js gives the <track> elements of its subtitles.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data: blob:; media-src 'self' blob: data: mediastream:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'"

// Register adds the page routes to mux.
func Register(mux *http.ServeMux) {
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embed pattern above guarantees the directory
	}
	tags := etags(static)
	mux.Handle("GET /static/", secure(assets(static, tags), "", "no-cache"))
	page := func(name, frameAncestors string) http.Handler {
		return secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", tags[name])
			http.ServeFileFS(w, r, static, name)
		}), frameAncestors, "no-cache")
	}
	mux.Handle("GET /{$}", page("lobby.html", "'self'"))
	// The watch page may be embedded in a conference's own site.
	mux.Handle("GET /watch/{room}", page("watch.html", "*"))
	// A recording plays on the same page (watch.js reads the path).
	mux.Handle("GET /watch/{room}/recordings/{id}", page("watch.html", "*"))
	// Pages that hold tokens or send things may not be framed (clickjacking).
	mux.Handle("GET /caption/{room}", page("caption.html", "'none'"))
	mux.Handle("GET /publish/{room}", page("publish.html", "'none'"))
	mux.Handle("GET /interpret/{room}", page("interpret.html", "'none'"))
	mux.Handle("GET /monitor", page("monitor.html", "'none'"))
	mux.Handle("GET /favicon.ico", http.RedirectHandler("/static/favicon.svg", http.StatusMovedPermanently))
}

// assets serves the files under /static/. Unlike http.FileServerFS it
// lists no directory and answers a path it cannot open (a bad escape such
// as %ff, which fs.FS refuses as invalid and FileServerFS turned into a
// 500) with a plain 404: nothing a client sends says more than "not here".
func assets(static fs.FS, tags map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		if !utf8.ValidString(name) || !fs.ValidPath(name) {
			http.NotFound(w, r)
			return
		}
		if st, err := fs.Stat(static, name); err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", tags[name])
		http.ServeFileFS(w, r, static, name)
	})
}

// etags are the embedded files' entity tags, from their contents. Embedded
// files have no modification time, so without them "no-cache" made every
// page load fetch every module and catalogue again; with them a browser
// revalidates and gets 304 until the binary changes.
func etags(static fs.FS) map[string]string {
	tags := map[string]string{}
	err := fs.WalkDir(static, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		tags[path] = `"` + hex.EncodeToString(sum[:12]) + `"`
		return nil
	})
	if err != nil {
		panic(err) // the embedded tree is readable by construction
	}
	return tags
}

// secure adds the security headers every page and asset carries. Tokens
// travel in page URLs (?token=), so no Referer leaves a page.
func secure(h http.Handler, frameAncestors, cache string) http.Handler {
	csp := contentSecurityPolicy
	if frameAncestors != "" {
		csp += "; frame-ancestors " + frameAncestors
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Permissions-Policy", "camera=(self), microphone=(self), geolocation=()")
		hd.Set("Cache-Control", cache)
		h.ServeHTTP(w, r)
	})
}
