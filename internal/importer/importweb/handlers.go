// Package importweb serves the import screens of the control panel: upload
// a people file, choose what each column feeds, see a dry run's preview,
// then run the import in the background (the jobs queue) with a progress
// page that can be left and revisited, the final summary and the rejects
// file. The rules live in internal/importer; this package is the pages.
//
// An import's path through the screens:
//
//	upload (POST …/people/import)  → mapping (…/import/{imp}/mapping)
//	mapping saved → dry run job    → status page shows progress, then the preview
//	"Import" (…/import/{imp}/run)  → run job → status page: progress, then the summary
package importweb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/importer"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/web"
)

// DefaultMaxUpload caps an uploaded file: a million-row NationBuilder
// export is about 150 MiB.
const DefaultMaxUpload = 200 << 20

// UploadPattern is the one route that takes a large body; the server's
// global body cap (a few forms' worth) does not apply to it, and the
// handler sets its own (MaxUpload).
const UploadPattern = "POST /admin/{nation}/people/import"

// Deps are what the import pages need.
type Deps struct {
	Imports  *importer.Imports
	People   *people.Store
	Jobs     *jobs.Queue
	Guard    *auth.Guard
	Renderer *web.Renderer
	Log      *slog.Logger
}

// Handlers serves the import pages.
type Handlers struct {
	Deps
	maxUpload atomic.Int64
}

// NewHandlers returns the import handlers.
func NewHandlers(d Deps) *Handlers {
	h := &Handlers{Deps: d}
	h.maxUpload.Store(DefaultMaxUpload)
	return h
}

// SetMaxUpload changes the upload cap (tests use a small one).
func (h *Handlers) SetMaxUpload(n int64) { h.maxUpload.Store(n) }

// RegisterJobs registers the import job on q; cmd/muster calls it for
// `serve` and `worker` (both must see the same data directory).
func RegisterJobs(q *jobs.Queue, imports *importer.Imports, st *people.Store) {
	q.Register(importer.JobKind, func(ctx context.Context, j *jobs.Job) error { return imports.RunJob(ctx, st, j) })
}

// Register adds the routes. Every route is also listed in
// servertest.NationRoutes, the cross-nation isolation probe. The pages of
// one import end in a literal segment (…/{imp}/status), so that no pattern
// overlaps the people pages' /people/{id}/….
func (h *Handlers) Register(mux *http.ServeMux) {
	org := func(fn func(http.ResponseWriter, *http.Request, *auth.Staff)) http.Handler {
		return h.Guard.Nation(auth.RoleOrganizer, fn)
	}
	mux.Handle("GET /admin/{nation}/people/import", org(h.index))
	mux.Handle(UploadPattern, org(h.upload))
	mux.Handle("GET /admin/{nation}/people/import/{imp}/mapping", org(h.mapping))
	mux.Handle("POST /admin/{nation}/people/import/{imp}/mapping", org(h.mappingSubmit))
	mux.Handle("GET /admin/{nation}/people/import/{imp}/status", org(h.status))
	mux.Handle("POST /admin/{nation}/people/import/{imp}/run", org(h.run))
	mux.Handle("GET /admin/{nation}/people/import/{imp}/rejects", org(h.rejects))
}

func base(s *auth.Staff) string { return "/admin/" + s.Nation.Slug + "/people/import" }

func (h *Handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	web.Error(w, r, h.Log, err)
}

// load finds the import named in the path, in the staff member's nation
// only (anything else is 404), with its job brought into agreement.
func (h *Handlers) load(w http.ResponseWriter, r *http.Request, s *auth.Staff) (*importer.Import, *jobs.Job, bool) {
	id, ok := web.PathID(w, r, "imp")
	if !ok {
		return nil, nil, false
	}
	imp, err := h.Imports.Get(r.Context(), s.Nation.ID, id)
	if errs.KindOf(err) == errs.KindNotFound {
		http.NotFound(w, r)
		return nil, nil, false
	}
	if err != nil {
		h.fail(w, r, err)
		return nil, nil, false
	}
	var job *jobs.Job
	if imp.JobID != 0 {
		if job, err = h.Jobs.Get(r.Context(), s.Nation.ID, imp.JobID); err != nil && errs.KindOf(err) != errs.KindNotFound {
			h.fail(w, r, err)
			return nil, nil, false
		}
		if err := h.Imports.Reconcile(r.Context(), imp, job); err != nil {
			h.fail(w, r, err)
			return nil, nil, false
		}
	}
	return imp, job, true
}

// indexPage is the data of the imports page: the upload form and the list.
type indexPage struct {
	Imports []*importer.Import
	Error   string
	MaxMiB  int64
}

func (h *Handlers) index(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	h.renderIndex(w, r, s, http.StatusOK, "")
}

func (h *Handlers) renderIndex(w http.ResponseWriter, r *http.Request, s *auth.Staff, status int, msg string) {
	list, err := h.Imports.List(r.Context(), s.Nation.ID, 50)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := s.View(h.Renderer, r)
	v.Data = &indexPage{Imports: list, Error: msg, MaxMiB: h.maxUpload.Load() >> 20}
	h.Renderer.RenderPrivate(w, r, status, "import_index", v)
}

// upload streams the posted file (multipart field "file") straight into
// the data directory, under its own body cap, without buffering it in
// memory or in a temporary file elsewhere. A refused file leaves nothing.
func (h *Handlers) upload(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	v := s.View(h.Renderer, r)
	r.Body = http.MaxBytesReader(w, r.Body, h.maxUpload.Load())
	refuse := func(status int, msg string) { h.renderIndex(w, r, s, status, msg) }
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "multipart/form-data" {
		refuse(http.StatusBadRequest, v.T("import.err.no_file"))
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		refuse(http.StatusBadRequest, v.T("import.err.no_file"))
		return
	}
	for {
		part, err := mr.NextPart()
		if err != nil {
			if web.IsTooLarge(err) {
				refuse(http.StatusRequestEntityTooLarge, v.T("import.err.too_large", h.maxUpload.Load()>>20))
				return
			}
			refuse(http.StatusBadRequest, v.T("import.err.no_file"))
			return
		}
		if part.FormName() != "file" || part.FileName() == "" {
			part.Close()
			continue
		}
		imp, err := h.Imports.Create(r.Context(), s.Nation.ID, s.User.ID, part.FileName(), part)
		part.Close()
		switch {
		case web.IsTooLarge(err):
			refuse(http.StatusRequestEntityTooLarge, v.T("import.err.too_large", h.maxUpload.Load()>>20))
			return
		case errs.KindOf(err) == errs.KindInvalid:
			refuse(http.StatusUnprocessableEntity, v.T("import.err.refused", errs.Message(err)))
			return
		case err != nil:
			h.fail(w, r, err)
			return
		}
		if err := h.People.Audit(r.Context(), s.Nation.ID, s.User.ID, "people.import.upload", "import", imp.ID); err != nil {
			h.fail(w, r, err)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("%s/%d/mapping", base(s), imp.ID), http.StatusSeeOther)
		return
	}
}

// mappingPage is the data of the mapping screen.
type mappingPage struct {
	Import    *importer.Import
	Inspect   *importer.Inspection
	Columns   []mappingColumn
	Formats   []option
	Tags      string
	Overwrite bool
	Error     string
}

type mappingColumn struct {
	Index   int
	Header  string
	Options []option
	Samples []string
}

type option struct {
	Value, Label string
	Selected     bool
}

func (h *Handlers) mapping(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	imp, _, ok := h.load(w, r, s)
	if !ok {
		return
	}
	h.renderMapping(w, r, s, imp, http.StatusOK, "")
}

func (h *Handlers) renderMapping(w http.ResponseWriter, r *http.Request, s *auth.Staff, imp *importer.Import, status int, msg string) {
	v := s.View(h.Renderer, r)
	in, err := h.Imports.Inspect(imp, 3)
	if err != nil && errs.KindOf(err) == errs.KindInvalid && msg != "" {
		// The chosen mapping does not read: show the file as detected.
		bare := *imp
		bare.Options.Map = nil
		in, err = h.Imports.Inspect(&bare, 3)
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = errs.NotFound("the file of this import is no longer kept")
		}
		h.fail(w, r, err)
		return
	}
	p := &mappingPage{Import: imp, Inspect: in, Tags: strings.Join(imp.Options.Tags, ", "), Overwrite: imp.Options.Overwrite, Error: msg}
	fields := importer.FieldNames()
	for _, f := range []importer.Format{importer.FormatAuto, importer.FormatNationBuilder, importer.FormatCiviCRM, importer.FormatCSV} {
		cur := imp.Options.Format
		if cur == "" {
			cur = importer.FormatAuto
		}
		p.Formats = append(p.Formats, option{Value: string(f), Label: v.T("import.format." + string(f)), Selected: f == cur})
	}
	for i, c := range in.Columns {
		mc := mappingColumn{Index: i, Header: c.Header}
		mc.Options = append(mc.Options, option{Value: importer.Ignore, Label: v.T("import.mapping.ignore"), Selected: c.Field == ""})
		names := fields
		if c.Field != "" && !contains(fields, c.Field) {
			names = append([]string{c.Field}, fields...) // a custom.NAME field
		}
		for _, f := range names {
			mc.Options = append(mc.Options, option{Value: f, Label: f, Selected: f == c.Field})
		}
		for _, row := range in.Samples {
			if i < len(row) {
				mc.Samples = append(mc.Samples, row[i])
			}
		}
		p.Columns = append(p.Columns, mc)
	}
	v.Data = p
	h.Renderer.RenderPrivate(w, r, status, "import_mapping", v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// mappingSubmit records the mapping and options and queues the dry run.
func (h *Handlers) mappingSubmit(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	imp, job, ok := h.load(w, r, s)
	if !ok {
		return
	}
	v := s.View(h.Renderer, r)
	in, err := h.Imports.Inspect(&importer.Import{NationID: imp.NationID, ID: imp.ID}, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	opts := importer.ImportOptions{Map: map[string]string{}, Overwrite: r.PostForm.Get("overwrite") == "yes"}
	if f, ok := importer.ParseFormat(r.PostForm.Get("format")); ok && f != importer.FormatAuto {
		opts.Format = f
	}
	for i, c := range in.Columns {
		field := strings.TrimSpace(r.PostForm.Get("col_" + strconv.Itoa(i)))
		if field == "" || strings.TrimSpace(c.Header) == "" {
			continue
		}
		opts.Map[c.Header] = field
	}
	for _, t := range strings.Split(r.PostForm.Get("tags"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			opts.Tags = append(opts.Tags, t)
		}
	}
	sort.Strings(opts.Tags)
	// Check the mapping reads the file before queueing anything.
	trial := *imp
	trial.Options = opts
	if _, err := h.Imports.Inspect(&trial, 0); err != nil {
		if errs.KindOf(err) == errs.KindInvalid {
			h.renderMapping(w, r, s, &trial, http.StatusUnprocessableEntity, v.T("import.err.mapping", errs.Message(err)))
			return
		}
		h.fail(w, r, err)
		return
	}
	if _, err := h.Imports.Start(r.Context(), h.Jobs, imp, opts, true, s.User.ID, busy(imp, job)); err != nil {
		if errs.KindOf(err) == errs.KindConflict {
			h.renderMapping(w, r, s, imp, http.StatusConflict, errs.Message(err))
			return
		}
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s/%d/status", base(s), imp.ID), http.StatusSeeOther)
}

// busy reports whether the import's job is still queued or running.
func busy(imp *importer.Import, job *jobs.Job) bool {
	return imp.Status.Busy() && job != nil && !job.State.Finished()
}

// run queues the import itself, with the options of its preview.
func (h *Handlers) run(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	imp, job, ok := h.load(w, r, s)
	if !ok {
		return
	}
	if _, err := h.Imports.Start(r.Context(), h.Jobs, imp, imp.Options, false, s.User.ID, busy(imp, job)); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.People.Audit(r.Context(), s.Nation.ID, s.User.ID, "people.import.start", "import", imp.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s/%d/status", base(s), imp.ID), http.StatusSeeOther)
}

// statusPage is the data of an import's page: progress while a job runs,
// the preview after the dry run, the summary at the end.
type statusPage struct {
	Import   *importer.Import
	Job      *jobs.Job
	Busy     bool
	Dry      bool // the job running is the dry run
	Done     int64
	Total    int64
	Percent  int64
	Rate     int64 // rows a second
	Rejects  []importer.Reject
	Mapping  []importer.Column
	Rejected bool    // the finished run has a rejects file
	Counts   []count // of the summary, else of the preview
}

// count is one figure of a summary.
type count struct {
	Key string
	N   int
}

func counts(s *importer.Summary) []count {
	out := []count{{"rows", s.Rows}, {"created", s.Created}, {"updated", s.Updated}, {"unchanged", s.Unchanged},
		{"merged", s.Merged}, {"rejected", s.Rejected}}
	if s.FieldErrors > 0 {
		out = append(out, count{"field_errors", s.FieldErrors})
	}
	if s.Duplicates > 0 {
		out = append(out, count{"duplicates", s.Duplicates})
	}
	return out
}

// refreshSeconds is how often a progress page reloads itself (a Refresh
// header: no script needed, and the CSP allows it).
const refreshSeconds = 2

func (h *Handlers) status(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	imp, job, ok := h.load(w, r, s)
	if !ok {
		return
	}
	p := &statusPage{Import: imp, Job: job, Busy: busy(imp, job), Dry: imp.Status == importer.StatusPreviewing}
	if p.Busy {
		p.Done, p.Total = job.ProgressDone, job.ProgressTotal
		if !p.Dry {
			p.Total = max(p.Total, imp.TotalRows)
		}
		if p.Total > 0 {
			p.Percent = min(100, p.Done*100/p.Total)
		}
		if !imp.StartedAt.IsZero() && !p.Dry {
			if secs := time.Since(imp.StartedAt).Seconds(); secs >= 1 {
				p.Rate = int64(float64(p.Done) / secs)
			}
		}
		w.Header().Set("Refresh", strconv.Itoa(refreshSeconds))
	}
	if imp.Summary != nil {
		p.Counts = counts(imp.Summary)
	} else if imp.Preview != nil {
		p.Counts = counts(imp.Preview)
	}
	var err error
	switch {
	case imp.Status == importer.StatusPreviewed || (imp.Status == importer.StatusFailed && imp.Summary == nil):
		p.Rejects, err = h.Imports.FirstRejects(imp, true, 20)
		if in, ierr := h.Imports.Inspect(imp, 0); ierr == nil {
			for _, c := range in.Columns {
				if c.Field != "" {
					p.Mapping = append(p.Mapping, c)
				}
			}
		}
	case imp.Summary != nil:
		p.Rejects, err = h.Imports.FirstRejects(imp, false, 20)
		p.Rejected = imp.Summary.RejectsFile != ""
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := s.View(h.Renderer, r)
	v.Data = p
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "import_status", v)
}

// rejects downloads the rejects file of the run (or, with ?preview=1, of
// the dry run): the file's own columns plus line and reason.
func (h *Handlers) rejects(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	imp, _, ok := h.load(w, r, s)
	if !ok {
		return
	}
	dry := r.URL.Query().Get("preview") == "1"
	f, err := os.Open(h.Imports.RejectsPath(imp, dry))
	if errors.Is(err, os.ErrNotExist) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	if err := h.People.Audit(r.Context(), s.Nation.ID, s.User.ID, "people.import.rejects", "import", imp.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	name := fmt.Sprintf("import-%d-rejects.csv", imp.ID)
	if dry {
		name = fmt.Sprintf("import-%d-preview-rejects.csv", imp.ID)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, name, time.Time{}, f)
}
