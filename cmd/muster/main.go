// Command muster is the one Muster binary: the web server, the background
// worker and the operator's tools. It only parses arguments and wires the
// domains together; the work happens in internal/….
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand; name may be two words ("nation create").
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what every command writes to; tests swap the streams.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func commands() []command {
	return []command{
		{"serve", "run the web server and background work", runServe},
		{"migrate", "apply database migrations and exit", runMigrate},
		{"worker", "run background jobs without the web server", runWorker},
		{"nation clone", "make a child nation of a template per row of a CSV file", runNationClone},
		{"nation create", "create a nation", runNationCreate},
		{"nation list", "list nations", runNationList},
		{"user create", "create a staff account in a nation (password on stdin)", runUserCreate},
		{"page create", "create a public page (petition, signup, volunteer, topics, basic)", runPageCreate},
		{"import people", "import people from a NationBuilder, CiviCRM or other CSV file", runImportPeople},
		{"export people", "export a nation's people as CSV (NationBuilder columns) or JSON", runExportPeople},
		{"person export", "print everything a nation holds on a person, as JSON (subject access)", runPersonExport},
		{"person erase", "erase a person and suppress their identifiers", runPersonErase},
		{"person replay-erasures", "re-apply the erasure journal after restoring a database backup", runPersonReplay},
		{"keys rotate", "give a nation a new data key and re-encrypt its opinion fields", runKeysRotate},
		{"keys rotate-master", "re-wrap every nation's data key under a new master key file", runKeysRotateMaster},
		{"segment count", "count the people of a nation matching a filter", runSegmentCount},
		{"bench petition", "serve a petition on loopback, drive page views and signatures, print req/s and latency", runBenchPetition},
		{"bench segment", "generate people, build the segment index and time typical counts", runBenchSegment},
		{"broadcast send", "send an e-mail to a filter or topic (queued; a worker sends it)", runBroadcastSend},
		{"broadcast status", "show a broadcast's progress", runBroadcastStatus},
		{"bounces import", "apply the bounce and complaint reports of an mbox file", runBouncesImport},
		{"bounces secret", "print the bounce webhook URL and signing secret of a nation", runBouncesSecret},
		{"bench send", "send a broadcast to N generated people through a local sink and print msg/s", runBenchSend},
		{"bench import", "generate a NationBuilder file, import it twice and print the figures", runBenchImport},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and turns its error into an exit code:
// 0 success, 2 bad usage or invalid input, 1 any other failure.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		words := splitWords(c.name)
		if len(args) >= len(words) && equalWords(args[:len(words)], words) {
			err := c.run(ctx, e, args[len(words):])
			return report(e.stderr, c.name, err)
		}
	}
	fmt.Fprintf(e.stderr, "muster: unknown command %q (see 'muster help')\n", joinWords(args, 2))
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Muster: an organising platform whose data stays on your servers.")
	fmt.Fprintln(w, "\nUsage: muster COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-24s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --data DIR or --database URL, and --json where it prints a result.")
	fmt.Fprintln(w, "Run 'muster COMMAND -h' for a command's flags.")
}
