package captions

import "net/http"

// Register adds the caption routes of docs/ARCHITECTURE.md to mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /captions/{room}/ws", s.handleViewer)
	mux.HandleFunc("GET /captions/{room}/publish", s.handleCaptioner)
	mux.HandleFunc("POST /captions/{room}/post", s.handleZoom)
	mux.HandleFunc("GET /captions/{room}/post/seq", s.handleZoomSeq)
	mux.HandleFunc("POST /closedcaption", s.handleYouTube)
	mux.HandleFunc("GET /captions/{room}/{file}", s.handleTranscript) // transcript.{srt,vtt,ttml}
}
