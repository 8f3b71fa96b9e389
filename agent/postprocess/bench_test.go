package postprocess

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// benchCase is a 5,000-line document with the cursor in a function in the
// middle and a completion of about 64 tokens that runs past the block.
type benchCase struct {
	name string
	in   Input
}

func benchCases() []benchCase {
	goFile := func() (string, string) {
		var b strings.Builder
		b.WriteString("package big\n\nimport \"fmt\"\n\n")
		for i := 0; b.Len() < 1 || strings.Count(b.String(), "\n") < 2500; i++ {
			fmt.Fprintf(&b, "// f%d sums the even numbers of xs.\nfunc f%d(xs []int) int {\n\ttotal := 0\n\tfor _, x := range xs {\n\t\tif x%%2 == 0 {\n\t\t\ttotal += x\n\t\t}\n\t}\n\treturn total\n}\n\n", i, i)
		}
		prefix := b.String() + "func target(xs []int) (int, error) {\n\tif len(xs) == 0 {\n\t\treturn 0, fmt.Errorf(\"empty\")\n\t}\n\t"
		b.Reset()
		b.WriteString("\n}\n\n")
		for i := 0; strings.Count(b.String(), "\n") < 2500; i++ {
			fmt.Fprintf(&b, "func g%d(s string) string {\n\treturn fmt.Sprintf(\"%%s-%d\", s)\n}\n\n", i, i)
		}
		return prefix, b.String()
	}
	pyFile := func() (string, string) {
		var b strings.Builder
		for i := 0; strings.Count(b.String(), "\n") < 2500; i++ {
			fmt.Fprintf(&b, "def f%d(xs):\n    total = 0\n    for x in xs:\n        if x %% 2 == 0:\n            total += x\n    return total\n\n\n", i)
		}
		prefix := b.String() + "def target(xs):\n    if not xs:\n        raise ValueError(\"empty\")\n    "
		b.Reset()
		b.WriteString("\n\n\n")
		for i := 0; strings.Count(b.String(), "\n") < 2500; i++ {
			fmt.Fprintf(&b, "def g%d(s):\n    return f\"{s}-%d\"\n\n\n", i, i)
		}
		return prefix, b.String()
	}
	goPrefix, goSuffix := goFile()
	pyPrefix, pySuffix := pyFile()
	return []benchCase{
		{"go", Input{
			Language: "go", Prefix: goPrefix, Suffix: goSuffix,
			Completion: "sum := 0\n\tfor i, x := range xs {\n\t\tif x < 0 {\n\t\t\treturn 0, fmt.Errorf(\"negative at %d\", i)\n\t\t}\n\t\tsum += x\n\t}\n\treturn sum, nil\n}\n\nfunc other(xs []int) int {\n\treturn len(xs)\n}\n",
		}},
		{"python", Input{
			Language: "python", Prefix: pyPrefix, Suffix: pySuffix,
			Completion: "total = 0\n    for i, x in enumerate(xs):\n        if x < 0:\n            raise ValueError(f\"negative at {i}\")\n        total += x\n    return total\n\n\ndef other(xs):\n    return len(xs)\n",
		}},
	}
}

// BenchmarkProcess runs the whole pipeline on a 5,000-line file and reports
// the median and 99th percentile of single calls (wall and thread CPU
// time) next to the mean.
func BenchmarkProcess(b *testing.B) {
	for _, c := range benchCases() {
		if lines := strings.Count(c.in.Prefix+c.in.Suffix, "\n"); lines < 5000 {
			b.Fatalf("%s document has %d lines", c.name, lines)
		}
		b.Run(c.name, func(b *testing.B) {
			if r := Process(c.in); r.Discarded || strings.Contains(r.Text, "other") {
				b.Fatalf("unexpected result %+v", r)
			}
			// Wall time per call, and the calling thread's CPU time per
			// call: on a shared machine the first includes waiting for a
			// core, the second is what the call itself costs.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			wall := make([]time.Duration, 0, b.N)
			cpu := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start, startCPU := time.Now(), threadCPU(b)
				Process(c.in)
				cpu = append(cpu, threadCPU(b)-startCPU)
				wall = append(wall, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(wall)
			slices.Sort(cpu)
			b.ReportMetric(float64(wall[len(wall)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(wall[len(wall)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(cpu[len(cpu)/2].Microseconds()), "cpu-p50-µs")
			b.ReportMetric(float64(cpu[len(cpu)*99/100].Microseconds()), "cpu-p99-µs")
		})
	}
}

// BenchmarkProcessWorstCase feeds the pipeline inputs shaped to hit every
// bound at once: a completion over the size cap made of long near-identical lines, a suffix
// made of the same lines, a cursor line full of closers, and a 100,000-byte
// single-line completion.
func BenchmarkProcessWorstCase(b *testing.B) {
	line := strings.Repeat("value = compute(alpha, beta, gamma) + ", 40)
	var lines strings.Builder
	for i := 0; lines.Len() < maxCompletionBytes; i++ {
		fmt.Fprintf(&lines, "%s%d\n", line, i%7)
	}
	cases := []benchCase{
		{"near-identical-lines", Input{Language: "python", Prefix: "def f():\n    ", Suffix: "\n" + lines.String(), Completion: lines.String()}},
		{"closers", Input{Language: "go", Prefix: "x := f(" + strings.Repeat("(", 5000), Suffix: strings.Repeat(")", 20000), Completion: strings.Repeat("a)", 5000)}},
		{"one-huge-line", Input{Language: "typescript", Prefix: "const s = \"", Suffix: "\";\n", Completion: strings.Repeat("abcdefghij", 10_000)}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Process(c.in)
			}
		})
	}
}
