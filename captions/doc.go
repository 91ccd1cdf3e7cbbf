// Package captions carries live multi-language subtitles for the relay.
//
// A Service owns, per room and language, a hub: the current partial line,
// a backlog of recent final cues, the whole transcript of the session, the
// captioners publishing and the viewers subscribed. Captioners publish over a
// WebSocket (or over the YouTube- and Zoom-style HTTP ingest); every final
// cue and correction is appended to a per-room journal and fsynced (group
// commit) before it is acknowledged and fanned out. Viewers get one encoded
// message per cue through a bounded per-connection queue; a viewer too slow
// to take finals is disconnected with close reason "slow" and catches up
// from the backlog when it reconnects. Transcripts export to SRT, WebVTT and
// TTML through go-astisub.
//
// See README.md in this directory for the wire details and the decisions.
package captions
