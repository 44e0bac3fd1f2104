package server

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// previewFiles is the preview page: HTML, JavaScript and CSS, no build step.
//
//go:embed preview
var previewFiles embed.FS

// asset is one embedded file of the preview page.
type asset struct {
	data  []byte
	etag  string
	ctype string
}

// previewAssets reads the embedded preview files.
func previewAssets() map[string]*asset {
	out := map[string]*asset{}
	sub, err := fs.Sub(previewFiles, "preview")
	if err != nil {
		return out
	}
	_ = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, err := fs.ReadFile(sub, p)
		if err != nil {
			return nil
		}
		sum := sha256.Sum256(data)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = http.DetectContentType(data)
		}
		out[p] = &asset{data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ct}
		return nil
	})
	return out
}

// previewRoutes serves the preview page at /preview (and /preview/) and its
// files under /preview/. The page holds no data, so it needs no key; every
// request it makes to the API carries the admin key it is given.
func (s *Server) previewRoutes(mux *http.ServeMux) {
	assets := previewAssets()
	serve := func(w http.ResponseWriter, r *http.Request, name string) {
		a, ok := assets[name]
		if !ok {
			writeError(w, http.StatusNotFound, CodeNotFound, "no preview file "+name)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("ETag", a.etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		// The files are small and change only with the binary: no ranges and
		// no preconditions but the caching ones, so that ServeContent never
		// answers a plain-text 416 or an empty 412.
		for _, h := range []string{"Range", "If-Range", "If-Match", "If-Unmodified-Since"} {
			r.Header.Del(h)
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.data))
	}
	index := func(w http.ResponseWriter, r *http.Request) { serve(w, r, "index.html") }
	mux.HandleFunc("GET /preview", index)
	mux.HandleFunc("GET /preview/{$}", index)
	mux.HandleFunc("GET /preview/{file...}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		if strings.Contains(name, "..") {
			writeError(w, http.StatusNotFound, CodeNotFound, "no preview file "+truncate(name, 100))
			return
		}
		serve(w, r, name)
	})
	mux.HandleFunc("/preview", methodNotAllowed("GET"))
	mux.HandleFunc("/preview/", methodNotAllowed("GET"))
}
