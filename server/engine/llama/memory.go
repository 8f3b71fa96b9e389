package llama

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// meminfoPath is read for the memory the machine has left (a variable for tests).
var meminfoPath = "/proc/meminfo"

// availableMemory returns MemAvailable plus SwapFree from /proc/meminfo in
// bytes; ok is false where that file does not exist or says nothing usable.
func availableMemory() (bytes uint64, ok bool) {
	f, err := os.Open(meminfoPath)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var avail, swap uint64
	var haveAvail bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "MemAvailable:":
			avail, haveAvail = kb*1024, true
		case "SwapFree:":
			swap = kb * 1024
		}
	}
	return avail + swap, haveAvail
}

// checkMemoryFor refuses a model whose weights cannot fit in the memory the
// machine has left: llama.cpp maps the file and pages all of it in on the
// first decode, so a too-large model would otherwise load "successfully" and
// then thrash or be killed in the middle of a request. The file size is the
// weights' size (GGUF stores them unpadded), a lower bound of the need.
func checkMemoryFor(path string, device string) error {
	if device == "cuda" || device == "vulkan" {
		return nil // the weights go to the GPU; llama.cpp reports what does not fit
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("model file: %w", err)
	}
	avail, ok := availableMemory()
	if !ok || uint64(st.Size()) <= avail {
		return nil
	}
	return fmt.Errorf("llama: model %s is %s, more than the %s of memory this machine has available: "+
		"it cannot run here (use a smaller or more quantized model, or --device cuda)",
		path, gib(uint64(st.Size())), gib(avail))
}

func gib(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }
