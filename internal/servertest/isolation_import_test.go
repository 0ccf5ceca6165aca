package servertest_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/importer"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/servertest"
)

// importFixtures makes in n what the import routes name: an uploaded
// import ({import}) whose file is named after secret, with a rejects file
// (as a finished run leaves). It queues no job and writes no audit entry,
// so that the probe's other checks of nation B still hold.
func importFixtures(t *testing.T, s *servertest.Server, n *nation.Nation, secret string) map[string]string {
	t.Helper()
	imp, err := s.App.Imports.Create(context.Background(), n.ID, 0, secret+".csv",
		strings.NewReader("first_name,email\n"+secret+","+secret+"@example.org\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.App.Imports.RejectsPath(imp, false), []byte("first_name,email,line,reason\nx,y,2,probe\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"import": strconv.FormatInt(imp.ID, 10)}
}

// importUnchanged checks that the probe changed nothing of nation b's import.
func importUnchanged(t *testing.T, s *servertest.Server, b *nation.Nation, values map[string]string) {
	t.Helper()
	id, _ := strconv.ParseInt(values["import"], 10, 64)
	imp, err := s.App.Imports.Get(context.Background(), b.ID, id)
	if err != nil || imp.Status != importer.StatusUploaded || imp.JobID != 0 || len(imp.Options.Map) != 0 {
		t.Errorf("B's import changed: %+v %v", imp, err)
	}
	if list, _ := s.App.Imports.List(context.Background(), b.ID, 10); len(list) != 1 {
		t.Errorf("B has %d imports, want 1", len(list))
	}
}
