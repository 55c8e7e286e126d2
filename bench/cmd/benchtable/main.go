// Command benchtable turns `go test -bench` output into the Markdown tables
// of bench/README.md: the median of every metric over the repeated runs, the
// ratio of each contender to raw coder/websocket ("C") in the same run, and
// the targets.
//
//	go test -run '^$' -bench . -count 6 > new.txt
//	go run ./cmd/benchtable -readme README.md < new.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// results maps a benchmark name (with its -cpu suffix) and a unit to the
// values of every run.
type results map[string]map[string][]float64

// benchLine matches one result line: name, iterations, then value/unit pairs.
var benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+\d+\s+(.*)$`)

func parse(r io.Reader) (results, []string) {
	res := results{}
	var order []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := m[1]
		if _, ok := res[name]; !ok {
			res[name] = map[string][]float64{}
			order = append(order, name)
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			res[name][f[i+1]] = append(res[name][f[i+1]], v)
		}
	}
	return res, order
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// split cuts "BenchmarkEcho/size=32/server=coder-2" into the group
// "BenchmarkEcho/size=32 (cpu 2)" and the contender "coder".
func split(name string) (group, server string) {
	cpu := "1"
	if i := strings.LastIndex(name, "-"); i > 0 && isDigits(name[i+1:]) {
		cpu, name = name[i+1:], name[:i]
	}
	i := strings.Index(name, "/server=")
	if i < 0 {
		return name + " (cpu " + cpu + ")", ""
	}
	return name[:i] + " (cpu " + cpu + ")", name[i+len("/server="):]
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// primary is the metric a group's ratio is taken on, and whether more is
// better.
func primary(group string) (string, bool) {
	switch {
	case strings.HasPrefix(group, "BenchmarkIdle"):
		return "B/conn", false
	case strings.HasPrefix(group, "BenchmarkHandshake"):
		return "handshakes/s", true
	case strings.HasPrefix(group, "BenchmarkLatency"):
		return "p99-µs", false
	case strings.HasPrefix(group, "BenchmarkPipelined/size=32 "):
		return "msgs/s", true
	case strings.HasPrefix(group, "BenchmarkPipelined"):
		return "MB/s", true
	case strings.HasPrefix(group, "BenchmarkBroadcast"):
		return "deliveries/s", true
	case strings.HasPrefix(group, "BenchmarkServerCPU"):
		return "server-cpu-µs/op", false
	default:
		return "ns/op", false
	}
}

func fmtValue(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func table(res results, order []string) string {
	var b strings.Builder
	groups := map[string][]string{}
	var gorder []string
	for _, name := range order {
		g, _ := split(name)
		if _, ok := groups[g]; !ok {
			gorder = append(gorder, g)
		}
		groups[g] = append(groups[g], name)
	}
	for _, g := range gorder {
		metric, higher := primary(g)
		var units []string
		for _, name := range groups[g] {
			for u := range res[name] {
				if !slices.Contains(units, u) {
					units = append(units, u)
				}
			}
		}
		sort.Strings(units)
		var ref float64
		for _, name := range groups[g] {
			if _, s := split(name); s == "coder" {
				ref = median(res[name][metric])
			}
		}
		fmt.Fprintf(&b, "\n**%s** (ratio: %s, %s better)\n\n| server | ratio to C | %s |\n|---|---|%s\n",
			g, metric, map[bool]string{true: "higher", false: "lower"}[higher],
			strings.Join(units, " | "), strings.Repeat("---|", len(units)))
		for _, name := range groups[g] {
			_, s := split(name)
			ratio := "-"
			if ref != 0 {
				ratio = fmtValue(median(res[name][metric])/ref) + "x"
			}
			cells := make([]string, len(units))
			for i, u := range units {
				if vs, ok := res[name][u]; ok {
					cells[i] = fmtValue(median(vs))
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", s, ratio, strings.Join(cells, " | "))
		}
	}
	return b.String()
}

// target is one line of the targets table.
type target struct {
	figure, bench, server, metric, goal string
	check                               func(ratio float64) bool
	absolute                            bool   // compare the value itself, not the ratio
	ref                                 string // the reference contender; empty: coder
}

func targets(res results) string {
	ts := []target{
		{"echo 32 B, ns/op (Messages)", "BenchmarkEcho/size=32-2", "ours-messages", "ns/op", "<= 1.9 x C", func(r float64) bool { return r <= 1.9 }, false, ""},
		{"echo 32 B, ns/op (ByteSliceMessages)", "BenchmarkEcho/size=32-2", "ours-bytes", "ns/op", "<= 1.9 x C", func(r float64) bool { return r <= 1.9 }, false, ""},
		{"echo 32 B at GOMAXPROCS=1, ns/op", "BenchmarkEcho/size=32", "ours-bytes", "ns/op", "<= 1.1 x C", func(r float64) bool { return r <= 1.1 }, false, ""},
		{"echo 16 KiB, ns/op", "BenchmarkEcho/size=16384-2", "ours-bytes", "ns/op", "<= 0.95 x C", func(r float64) bool { return r <= 0.95 }, false, ""},
		{"pipelined 32 B, msgs/s", "BenchmarkPipelined/size=32-2", "ours-bytes", "msgs/s", ">= 1.15 x C", func(r float64) bool { return r >= 1.15 }, false, ""},
		{"pipelined 16 KiB, MB/s", "BenchmarkPipelined/size=16384-2", "ours-bytes", "MB/s", ">= 2 x C", func(r float64) bool { return r >= 2 }, false, ""},
		{"JSON 16 KiB echo, ns/op (vs C plus encoding/json)", "BenchmarkJSON/doc=16KiB-2", "ours-json", "ns/op", "<= 1.3 x C", func(r float64) bool { return r <= 1.3 }, false, "coder-json"},
		{"JSON 16 KiB echo, ns/op (vs C's raw echo of the same bytes)", "BenchmarkJSON/doc=16KiB-2", "ours-json", "ns/op", "(for scale)", func(float64) bool { return false }, false, ""},
		{"JSON 16 KiB text echo, ns/op (vs C's raw echo of the same bytes)", "BenchmarkJSON/doc=16KiB-text-2", "ours-json", "ns/op", "<= 1.6 x C", func(r float64) bool { return r <= 1.6 }, false, ""},
		{"JSON 64 B echo, ns/op (vs C plus encoding/json)", "BenchmarkJSON/doc=small-2", "ours-json", "ns/op", "<= 1.3 x C", func(r float64) bool { return r <= 1.3 }, false, "coder-json"},
		{"server allocs per echoed 32 B message", "BenchmarkEcho/size=32-2", "ours-bytes", "allocs/op", "<= 2", func(v float64) bool { return v <= 2 }, true, ""},
		{"server bytes per echoed 16 KiB message", "BenchmarkEcho/size=16384-2", "ours-bytes", "B/op", "<= 0.5 x C", func(r float64) bool { return r <= 0.5 }, false, ""},
		{"idle server bytes per connection (Messages)", "BenchmarkIdle-2", "ours-messages", "B/conn", "<= 1.5 x C", func(r float64) bool { return r <= 1.5 }, false, ""},
		{"idle server bytes per connection (ByteSliceMessages)", "BenchmarkIdle-2", "ours-bytes", "B/conn", "<= 1.5 x C", func(r float64) bool { return r <= 1.5 }, false, ""},
		{"idle server bytes per connection (net/http front)", "BenchmarkIdle-2", "ours-nethttp", "B/conn", "<= 1.5 x C", func(r float64) bool { return r <= 1.5 }, false, ""},
		{"idle server bytes per connection (chat, a hub room member)", "BenchmarkIdle-2", "ours-chat", "B/conn", "<= 1.5 x C", func(r float64) bool { return r <= 1.5 }, false, ""},
		{"idle goroutines per connection", "BenchmarkIdle-2", "ours-bytes", "goroutines/conn", "<= 4", func(v float64) bool { return v <= 4 }, true, ""},
		{"idle goroutines per connection (chat)", "BenchmarkIdle-2", "ours-chat", "goroutines/conn", "<= 4", func(v float64) bool { return v <= 4 }, true, ""},
		{"handshakes per second", "BenchmarkHandshake-2", "ours-bytes", "handshakes/s", ">= 0.9 x C", func(r float64) bool { return r >= 0.9 }, false, ""},
		{"p99 latency at the fixed rate", "BenchmarkLatency-2", "ours-bytes", "p99-µs", "<= 1.1 x C", func(r float64) bool { return r <= 1.1 }, false, ""},
	}
	var b strings.Builder
	b.WriteString("\n| figure | ours | reference | ratio | target | met |\n|---|---|---|---|---|---|\n")
	for _, t := range ts {
		base, suffix := t.bench, ""
		if i := strings.LastIndex(t.bench, "-"); i >= 0 && isDigits(t.bench[i+1:]) {
			base, suffix = t.bench[:i], t.bench[i:]
		}
		ref := t.ref
		if ref == "" {
			ref = "coder"
		}
		ours := median(res[base+"/server="+t.server+suffix][t.metric])
		c := median(res[base+"/server="+ref+suffix][t.metric])
		if ours == 0 && c == 0 {
			fmt.Fprintf(&b, "| %s | - | - | - | %s | not run |\n", t.figure, t.goal)
			continue
		}
		v := ours
		ratio := "-"
		if c != 0 {
			ratio = fmtValue(ours/c) + "x"
			if !t.absolute {
				v = ours / c
			}
		}
		met := "no"
		switch {
		case t.goal == "(for scale)":
			met = "-"
		case t.check(v):
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", t.figure, fmtValue(ours), fmtValue(c), ratio, t.goal, met)
	}
	return b.String()
}

// broadcastTable is the hub's broadcast figures (BenchmarkBroadcast of
// hub/redis): one row per backplane and rooms per server.
func broadcastTable(res results, order []string) string {
	var b strings.Builder
	b.WriteString("\n| backplane | rooms per server | deliveries/s | allocs/delivery | B/delivery |\n|---|---|---|---|---|\n")
	for _, name := range order {
		rest, ok := strings.CutPrefix(name, "BenchmarkBroadcast/")
		if !ok {
			continue
		}
		if i := strings.LastIndex(rest, "-"); i > 0 && isDigits(rest[i+1:]) {
			rest = rest[:i]
		}
		bp, rooms, _ := strings.Cut(rest, "/rooms=")
		m := res[name]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", bp, rooms,
			fmtValue(median(m["deliveries/s"])), fmtValue(median(m["allocs/delivery"])), fmtValue(median(m["B/delivery"])))
	}
	return b.String()
}

// replaceSection puts body between the markers <!-- name --> and
// <!-- /name --> of file.
func replaceSection(file, name, body string) {
	doc, err := os.ReadFile(file)
	if err != nil {
		log.Fatal(err)
	}
	begin, end := "<!-- "+name+" -->", "<!-- /"+name+" -->"
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		log.Fatalf("benchtable: %s has no %s ... %s section", file, begin, end)
	}
	s = s[:i+len(begin)] + "\n" + body + "\n" + s[j:]
	if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
		log.Fatal(err)
	}
}

func main() {
	broadcast := flag.Bool("broadcast", false, "read hub/redis's BenchmarkBroadcast output and write its table into the broadcast section of each -readme")
	readme := flag.String("readme", "", "rewrite the results section of this file (comma-separated files with -broadcast) instead of printing")
	chartDir := flag.String("charts", "", "also write one SVG chart per benchmark family into this folder (next to the README)")
	flag.Parse()
	res, order := parse(os.Stdin)
	if len(order) == 0 {
		log.Fatal("benchtable: no benchmark lines on standard input")
	}
	if *broadcast {
		t := broadcastTable(res, order)
		if *readme == "" {
			fmt.Print(t)
			return
		}
		for _, f := range strings.Split(*readme, ",") {
			replaceSection(f, "broadcast", t)
		}
		return
	}
	out := "\n### Targets\n" + targets(res)
	if *chartDir != "" {
		files, err := charts(res, order, *chartDir)
		if err != nil {
			log.Fatal(err)
		}
		out += "\n### Charts\n\nEach bar is a contender's median as a ratio to C on the benchmark's main figure (the\nsame medians as the tables); the dashed line is C.\n\n"
		for _, f := range files {
			out += fmt.Sprintf("![%s](%s/%s)\n\n", strings.TrimSuffix(f, ".svg"), filepath.Base(*chartDir), f)
		}
	}
	out += "\n### All figures (medians)\n" + table(res, order)
	if *readme == "" {
		fmt.Print(out)
		return
	}
	doc, err := os.ReadFile(*readme)
	if err != nil {
		log.Fatal(err)
	}
	const begin, end = "<!-- results -->", "<!-- /results -->"
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		log.Fatalf("benchtable: %s has no %s ... %s section", *readme, begin, end)
	}
	s = s[:i+len(begin)] + "\n" + out + "\n" + s[j:]
	if err := os.WriteFile(*readme, []byte(s), 0o644); err != nil {
		log.Fatal(err)
	}
}
