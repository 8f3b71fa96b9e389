package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/servalhq/serval/server/store"
)

// page is what every template gets.
type page struct {
	Title   string
	User    *store.User // nil when signed out
	Nav     string      // the active navigation entry
	Message string      // a notice (message page, success)
	Error   string      // what was wrong with the form
	Notice  string      // what the last action did (after a redirect)
	Form    map[string]string
	Data    any
	// Root is the way back to the app's root from this page, relative ("./",
	// "../"): the pages an editor's sign-in link opens (login, device) and the
	// static files work under a proxy's path prefix too (code-server's
	// /proxy/PORT/, which forwards editors' links to localhost).
	Root string
}

// relativeRoot is page.Root for a request path: "./" for /login, "../" for /admin/users.
func relativeRoot(path string) string {
	if depth := strings.Count(path, "/") - 1; depth > 0 {
		return strings.Repeat("../", depth)
	}
	return "./"
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"whenp": func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"pct": func(part, whole int) string {
		if whole == 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f%%", 100*float64(part)/float64(whole))
	},
}

// parsePages parses each page template together with the layout.
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse layout: %w", err)
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFiles, n)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// render writes the page named name with status. It renders into a buffer
// first, so a template error still gets a clean 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, req *request, p page) {
	if req != nil {
		p.User = &req.user
	}
	p.Root = relativeRoot(r.URL.Path)
	if name == "login" {
		// Every rendering of the login page offers every way to sign in.
		p.Data = s.loginData()
	}
	t, ok := s.pages[name]
	if !ok {
		s.log.Error("web: no template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		s.log.Error("web: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// message renders the message page.
func (s *Server) message(w http.ResponseWriter, r *http.Request, status int, req *request, title, msg string) {
	s.render(w, r, status, "message", req, page{Title: title, Message: msg})
}
