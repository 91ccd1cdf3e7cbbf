// Package player serves the relay's web pages, embedded in the binary: the
// lobby, the watch page, the captioner console, the browser publisher and the
// AV monitor. Plain HTML, CSS and ES modules; no bundler, no CDN.
package player

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var files embed.FS

// Register adds the page routes to mux.
func Register(mux *http.ServeMux) {
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embed pattern above guarantees the directory
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, static, name)
		}
	}
	mux.HandleFunc("GET /{$}", page("lobby.html"))
	mux.HandleFunc("GET /watch/{room}", page("watch.html"))
	mux.HandleFunc("GET /caption/{room}", page("caption.html"))
	mux.HandleFunc("GET /publish/{room}", page("publish.html"))
	mux.HandleFunc("GET /monitor", page("monitor.html"))
}
