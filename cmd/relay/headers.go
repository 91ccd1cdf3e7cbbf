package main

import "net/http"

// withSecurityHeaders sets the headers every answer of the relay carries,
// whichever package wrote it (API JSON, transcripts, metrics, errors, the
// mux's own 404 and 405): nosniff, so that no browser runs a transcript or
// an error text as script or HTML, and no-referrer, because page URLs carry
// tokens (?token=). Pages add their own Content-Security-Policy and frame
// policy (player.secure); the API gets none, it is not a document. Over
// HTTPS, HSTS keeps browsers on HTTPS for a year (not for subdomains: the
// relay speaks for its own host only).
func withSecurityHeaders(next http.Handler, hsts bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}
